export * from './compression';
export * from './config';
export * from './topics';
