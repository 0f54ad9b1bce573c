// Bounded on-disk spool: one file per encoded snapshot, written durably before it is published and removed once the
// broker acknowledged it, replayed oldest first. When adding a file would pass maxBytes, the oldest files are
// dropped and counted. A write the disk refuses (full, I/O error) drops the oldest files until it fits, or the new
// message when nothing is left to free, counted the same way: the agent never exits over its spool. Drops for space
// are logged once while they go on; the line saying they stopped carries their count.
// A file that cannot be read back (I/O error, or corrupt so that `validate` rejects it) is dropped and counted the
// same way, so one bad file cannot hold up the files behind it. A lock file keeps two agents from sharing one directory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AgentState, fsyncDir, isStorageError, StorageCondition, writeFileDurable } from './agent-state';
import type { Logger } from './log';

const NAME = /^(\d{16})\.snap$/;
/** Errors of a full file system (or quota): freeing space helps. */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);

export interface SpoolEntry {
  index: number;
  file: string;
  size: number;
}

export class SpoolLockedError extends Error {
  override name = 'SpoolLockedError';
}

export class Spool {
  private entries: SpoolEntry[] = [];
  private total = 0;
  /**
   * The entry being published (read, not yet acknowledged or given up). Never dropped for space: the broker may
   * already hold it, and a delivered snapshot counted as dropped would make the published drop count a lie.
   */
  private inFlight: SpoolEntry | undefined;
  private readonly lockFile: string;
  private locked = false;
  private readonly writes: StorageCondition;
  /** drops for space, logged once while they go on */
  private readonly full: StorageCondition;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
    private readonly state: AgentState,
    private readonly log: Logger = () => undefined,
    /** throws when a spooled message cannot be decoded (the agent passes the snapshot decoder) */
    private readonly validate: (message: Buffer) => void = () => undefined,
  ) {
    this.lockFile = path.join(dir, 'agent.lock');
    this.writes = new StorageCondition('spool_write', log);
    this.full = new StorageCondition('spool_full', log, undefined, { failed: 'spool_full_dropped_oldest' });
  }

  /** Takes the directory's lock and indexes the files a previous run left. */
  open(): this {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.lock();
    for (const name of fs.readdirSync(this.dir)) {
      const m = NAME.exec(name);
      if (m) {
        const file = path.join(this.dir, name);
        this.entries.push({ index: Number(m[1]), file, size: fs.statSync(file).size });
      } else if (name.endsWith('.tmp')) fs.rmSync(path.join(this.dir, name), { force: true }); // torn write
    }
    this.entries.sort((a, b) => a.index - b.index);
    this.total = this.entries.reduce((s, e) => s + e.size, 0);
    const last = this.entries.at(-1);
    if (last && last.index >= this.state.data.nextSpoolIndex) {
      this.state.data.nextSpoolIndex = last.index + 1;
      this.state.save();
    }
    return this;
  }

  private lock(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = fs.openSync(this.lockFile, 'wx', 0o600);
        this.locked = true;
        try {
          fs.writeSync(fd, String(process.pid));
        } catch (e) {
          // A full disk creates the file but not its content: the lock holds, without naming its owner.
          if (!isStorageError(e)) throw e;
          this.log('warn', 'spool_lock_unnamed', { code: e.code, file: this.lockFile });
        } finally {
          fs.closeSync(fd);
        }
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const text = fs.readFileSync(this.lockFile, 'utf8');
        const pid = text === '' ? NaN : Number(text);
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
          throw new SpoolLockedError(
            `spool directory ${this.dir} is in use by process ${pid}: give each agent its own --spool-dir`,
          );
        }
        fs.rmSync(this.lockFile, { force: true }); // left by a process that died
      }
    }
    throw new SpoolLockedError(`could not lock ${this.lockFile}`);
  }

  close(): void {
    if (this.locked) fs.rmSync(this.lockFile, { force: true });
    this.locked = false;
  }

  get depth(): number {
    return this.entries.length;
  }

  get bytes(): number {
    return this.total;
  }

  get dropped(): number {
    return this.state.data.spoolDrops;
  }

  /**
   * Stores one message durably; drops the oldest while the spool would exceed maxBytes, and while the disk refuses
   * the write; drops the message itself when the disk refuses it with nothing left to drop (the entry being
   * published is never dropped). Returns how many were dropped (the message included), all counted in `spoolDrops`.
   */
  put(message: Uint8Array): number {
    let dropped = 0;
    for (let v = this.victim(); v && this.total + message.length > this.maxBytes; v = this.victim()) {
      this.remove(v);
      dropped++;
    }
    // The index is taken even when the write fails, so a file name is never reused (open() also skips past files).
    const index = this.state.data.nextSpoolIndex++;
    const file = path.join(this.dir, `${String(index).padStart(16, '0')}.snap`);
    let stored = false;
    // Beside the entry in flight alone there is no room for it: the message itself is dropped (the bound holds).
    const fits = this.entries.length === 0 || this.total + message.length <= this.maxBytes;
    for (; fits;) {
      try {
        writeFileDurable(file, message);
        stored = true;
        this.writes.succeeded();
        break;
      } catch (e) {
        if (!isStorageError(e)) throw e;
        this.writes.failed(e, { dir: this.dir, spooled: this.entries.length, bytes: this.total });
        const v = this.victim();
        if (!v) break;
        this.remove(v);
        dropped++;
      }
    }
    if (stored) {
      this.entries.push({ index, file, size: message.length });
      this.total += message.length;
    } else dropped++;
    this.state.data.spoolDrops += dropped;
    this.state.save();
    if (dropped) {
      const fields = { dropped, totalDropped: this.dropped, maxBytes: this.maxBytes };
      this.full.failed({ code: 'SPOOL_FULL' }, fields, dropped);
    } else this.full.succeeded();
    return dropped;
  }

  /** The oldest entry that may be dropped for space (any but the one in flight). */
  private victim(): SpoolEntry | undefined {
    return this.entries.find((e) => e !== this.inFlight);
  }

  /**
   * Whether spooled messages may be published: only once the sequences they carry are durably handed out. When the
   * state cannot be saved for want of space, the oldest spooled snapshots are dropped (counted, as for any drop for
   * space) until it can: a disk kept full by snapshots that cannot be published would otherwise hold them all back
   * for good, the broker up or not.
   */
  publishable(): boolean {
    if (this.state.durable || this.state.save()) return true;
    let dropped = 0;
    for (let v = this.victim(); v && NO_SPACE.has(this.state.saveFailure ?? ''); v = this.victim()) {
      this.remove(v);
      dropped++;
      this.state.data.spoolDrops++;
      if (this.state.save()) break;
    }
    if (dropped) {
      const fields = { dropped, totalDropped: this.dropped, forState: true };
      this.full.failed({ code: 'SPOOL_FULL' }, fields, dropped);
    }
    return this.state.durable;
  }

  /** Oldest entry, or undefined when empty. */
  peek(): SpoolEntry | undefined {
    return this.entries[0];
  }

  /**
   * The entry's message, to publish: the entry is in flight (kept from drops for space) until `remove` or
   * `release`. Throws when it cannot be read or does not pass `validate` (see `discard`).
   */
  read(entry: SpoolEntry): Buffer {
    const message = fs.readFileSync(entry.file);
    this.validate(message);
    this.inFlight = entry;
    return message;
  }

  /** The publish of the entry in flight failed: it stays spooled, and may be dropped for space again. */
  release(): void {
    this.inFlight = undefined;
  }

  /**
   * Drops an entry that `read` refused, counted in `spoolDrops`: removed, or renamed aside (`.bad`, never indexed
   * again) when the disk refuses the removal.
   */
  discard(entry: SpoolEntry, error: unknown): void {
    const i = this.entries.indexOf(entry);
    if (i < 0) return;
    this.entries.splice(i, 1);
    this.total -= entry.size;
    let aside: string | undefined;
    try {
      fs.rmSync(entry.file, { force: true });
    } catch {
      aside = `${entry.file}.bad`;
      try {
        fs.renameSync(entry.file, aside);
      } catch (e) {
        if (!isStorageError(e)) throw e;
        aside = undefined; // still indexed by the next start, and dropped again then
      }
    }
    this.log('warn', 'spool_file_unreadable', { file: entry.file, error, ...(aside ? { movedTo: aside } : {}) });
    this.state.data.spoolDrops++;
    this.state.save();
  }

  /** Removes an entry (after the broker acknowledged it). */
  remove(entry: SpoolEntry): void {
    if (entry === this.inFlight) this.inFlight = undefined;
    const i = this.entries.indexOf(entry);
    if (i < 0) return;
    this.entries.splice(i, 1);
    this.total -= entry.size;
    try {
      fs.rmSync(entry.file, { force: true });
    } catch (e) {
      if (!isStorageError(e)) throw e;
      this.log('warn', 'spool_remove_failed', { code: e.code, file: entry.file });
    }
  }

  /** Makes removals durable (one directory fsync for a whole drain). */
  sync(): void {
    try {
      fsyncDir(this.dir);
    } catch (e) {
      if (!isStorageError(e)) throw e;
      this.log('warn', 'spool_sync_failed', { code: e.code, dir: this.dir });
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
