// Bounded on-disk spool: one file per encoded snapshot, written durably before it is published and removed once the
// broker acknowledged it, replayed oldest first. When adding a file would pass maxBytes, the oldest files are
// dropped and counted. A lock file keeps two agents from sharing one directory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AgentState, fsyncDir, writeFileDurable } from './agent-state';

const NAME = /^(\d{16})\.snap$/;

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
  private readonly lockFile: string;
  private locked = false;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
    private readonly state: AgentState,
  ) {
    this.lockFile = path.join(dir, 'agent.lock');
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
        fs.writeFileSync(this.lockFile, String(process.pid), { flag: 'wx', mode: 0o600 });
        this.locked = true;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const pid = Number(fs.readFileSync(this.lockFile, 'utf8'));
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

  /** Stores one message durably; drops the oldest while the spool would exceed maxBytes. Returns how many were dropped. */
  put(message: Uint8Array): number {
    let dropped = 0;
    while (this.entries.length > 0 && this.total + message.length > this.maxBytes) {
      this.remove(this.entries[0]);
      dropped++;
    }
    const index = this.state.data.nextSpoolIndex++;
    if (dropped) this.state.data.spoolDrops += dropped;
    this.state.save();
    const file = path.join(this.dir, `${String(index).padStart(16, '0')}.snap`);
    writeFileDurable(file, message);
    this.entries.push({ index, file, size: message.length });
    this.total += message.length;
    return dropped;
  }

  /** Oldest entry, or undefined when empty. */
  peek(): SpoolEntry | undefined {
    return this.entries[0];
  }

  read(entry: SpoolEntry): Buffer {
    return fs.readFileSync(entry.file);
  }

  /** Removes an entry (after the broker acknowledged it). */
  remove(entry: SpoolEntry): void {
    const i = this.entries.indexOf(entry);
    if (i < 0) return;
    this.entries.splice(i, 1);
    this.total -= entry.size;
    fs.rmSync(entry.file, { force: true });
  }

  /** Makes removals durable (one directory fsync for a whole drain). */
  sync(): void {
    fsyncDir(this.dir);
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
