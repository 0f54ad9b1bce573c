/** A storage failure whose message says what happened and what to do about it. */
export class StorageError extends Error {
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The configured ClickHouse server is older than the oldest version the SQL here is written for. */
export class StorageVersionError extends StorageError {}

/** A migration file cannot be applied, or an applied one was changed. */
export class MigrationError extends StorageError {}
