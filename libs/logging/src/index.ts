// @tma/logging: the structured JSON logger every process writes with (README.md, Configuration).
export * from './logger';
