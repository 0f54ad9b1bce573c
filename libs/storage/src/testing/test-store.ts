// A private embedded ClickHouse for one test file or benchmark: its own temporary data directory and database,
// migrated; close() removes both.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyMigrations } from '../migrations';
import { createStorage, type Storage } from '../storage';

export interface TestStore {
  storage: Storage;
  dir: string;
  database: string;
  close(): Promise<void>;
}

/** A store of its own for `prefix`'s tests; `migrate: false` leaves the database to be created (by migrations). */
export async function openTestStore(prefix: string, options: { migrate?: boolean } = {}): Promise<TestStore> {
  const dir = mkdtempSync(join(tmpdir(), `tma-${prefix}-`));
  const database = `tma_${prefix.replace(/\W/g, '_')}_${randomBytes(4).toString('hex')}`;
  const storage = await createStorage({ kind: 'chdb', path: dir, database });
  if (options.migrate ?? true) await applyMigrations(storage);
  return {
    storage,
    dir,
    database,
    close: async () => {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
