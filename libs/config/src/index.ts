// @tma/config: the one settings loader (flags > environment > JSON file > defaults), the one ConfigError and the
// shared value parsers (docs: README.md, Configuration).
export * from './errors';
export * from './parsers';
export * from './loader';
