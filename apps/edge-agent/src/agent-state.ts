// Durable agent identity and counters in the spool directory, so (agentId, bootId, sequence) never repeats across
// restarts: the sequence is written (fsync + rename) before a snapshot with it leaves the process.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface StateData {
  agentId: string;
  bootId: string;
  /** next snapshot sequence within (agentId, bootId) */
  nextSequence: number;
  /** next spool file number: never reset, so files sort in the order they were made */
  nextSpoolIndex: number;
  /** snapshots dropped from a full spool, over the agent's life */
  spoolDrops: number;
}

export function readBootId(file = '/proc/sys/kernel/random/boot_id'): string {
  return fs.readFileSync(file, 'utf8').trim();
}

/** Writes a file so that a crash leaves either the old or the new content: temp file, fsync, rename, fsync dir. */
export function writeFileDurable(file: string, data: Uint8Array | string): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDir(path.dirname(file));
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export class AgentState {
  private constructor(
    private readonly file: string,
    readonly data: StateData,
  ) {}

  /** Loads (or creates) the state; a new boot id restarts the sequence at 0, as the snapshot schema says. */
  static open(dir: string, bootId: string): AgentState {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, 'state.json');
    let data: StateData | null = null;
    if (fs.existsSync(file)) {
      try {
        const j = JSON.parse(fs.readFileSync(file, 'utf8')) as StateData;
        if (
          typeof j.agentId === 'string' &&
          Number.isSafeInteger(j.nextSequence) &&
          Number.isSafeInteger(j.nextSpoolIndex)
        )
          data = j;
      } catch {
        data = null;
      }
      if (!data) throw new Error(`${file} is unreadable: remove it to start a new agent identity`);
    }
    data ??= { agentId: randomUUID(), bootId, nextSequence: 0, nextSpoolIndex: 0, spoolDrops: 0 };
    data.spoolDrops ??= 0;
    if (data.bootId !== bootId) {
      data.bootId = bootId;
      data.nextSequence = 0;
    }
    const s = new AgentState(file, data);
    s.save();
    return s;
  }

  /** Takes the next sequence number and persists the counter before returning it. */
  takeSequence(): number {
    const seq = this.data.nextSequence++;
    this.save();
    return seq;
  }

  save(): void {
    writeFileDurable(this.file, JSON.stringify(this.data));
  }
}
