export * from './config';
export * from './topics';
