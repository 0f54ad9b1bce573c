export * from './compression';
export * from './config';
export * from './ensure-topics';
export * from './idle-timers';
export * from './group-generation';
