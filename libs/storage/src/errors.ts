/** A storage failure whose message says what happened and what to do about it. */
export class StorageError extends Error {
  override name = 'StorageError';
}

/** The configured ClickHouse server is older than the oldest version the SQL here is written for. */
export class StorageVersionError extends StorageError {
  override name = 'StorageVersionError';
}

/** A migration file cannot be applied, or an applied one was changed. */
export class MigrationError extends StorageError {
  override name = 'MigrationError';
}
