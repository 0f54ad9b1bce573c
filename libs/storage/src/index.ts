export {
  DEFAULT_DATABASE,
  describeStorageConfig,
  loadStorageConfig,
  redact,
  type ChdbStorageConfig,
  type ServerStorageConfig,
  type StorageConfig,
} from './config';
export { MigrationError, StorageError, StorageVersionError } from './errors';
export { PINNED_SETTINGS } from './settings';
export { HEX_SUFFIX, bytesToHex, hexParam, hexToBytes } from './binary';
export {
  DATABASE_PLACEHOLDER,
  MIN_SERVER_VERSION,
  createStorage,
  type InsertOptions,
  type ParamValue,
  type QueryOptions,
  type QueryParams,
  type Storage,
} from './storage';
export {
  DEFAULT_MIGRATIONS_DIR,
  MIGRATIONS_TABLE,
  MIGRATIONS_TABLE_SQL,
  applyMigrations,
  loadMigrations,
  type AppliedMigration,
  type Migration,
  type MigrationReport,
} from './migrations';
export {
  ClusterDdlError,
  LOCAL_SUFFIX,
  SHARDING_KEYS,
  clusterBootstrap,
  clusterMigrations,
  remoteServersXml,
  type ClusterDdlOptions,
  type ClusterTopology,
  type ClusterMigration,
  type ClusterStatement,
} from './cluster-ddl';
export {
  DEFAULT_SQL_LIMITS,
  SqlRefusedError,
  type SqlLimits,
  type SqlParams,
  type SqlReader,
  type SqlResult,
} from './sql-reader';
export { lockHolder } from './chdb';
