export * from './compression';
export * from './config';
export * from './topics';
export * from './idle-timers';
