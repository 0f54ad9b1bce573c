// Durable agent identity and counters in the spool directory, so (agentId, bootId, sequence) never repeats across
// restarts: the sequence is written (fsync + rename) before a snapshot with it leaves the process.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from './log';

export interface StateData {
  agentId: string;
  bootId: string;
  /** next snapshot sequence within (agentId, bootId) */
  nextSequence: number;
  /** next spool file number: never reset, so files sort in the order they were made */
  nextSpoolIndex: number;
  /** snapshots dropped from a full spool, over the agent's life */
  spoolDrops: number;
  /**
   * A process is counting into an interval no snapshot holds yet: set once the programs are attached, cleared after
   * the final snapshot of a clean stop. Found set at the next start (kill -9, crash, power loss on the same boot),
   * the interval in progress was lost unless the next process adopted the pinned maps holding it: then it is
   * published as usual; otherwise its sequence is skipped, so the loss shows downstream as a sequence gap.
   */
  counting?: boolean;
  /**
   * The sequence taken for the copy of epoch generation `generation` (saved with the sequence, before the snapshot is
   * spooled). A next process that adopts the pinned maps and finds that copy not marked handed out publishes it again
   * under the same sequence, so a snapshot cut short after taking it leaves no gap, and one that was spooled after
   * all is the same (agent, boot, sequence) twice, which the aggregator stores once.
   */
  pending?: { generation: number; sequence: number } | null;
}

export function readBootId(file = '/proc/sys/kernel/random/boot_id'): string {
  return fs.readFileSync(file, 'utf8').trim();
}

/** Writes a file so that a crash leaves either the old or the new content: temp file, fsync, rename, fsync dir. */
export function writeFileDurable(file: string, data: Uint8Array | string): void {
  const tmp = `${file}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      // A nearly full disk takes part of a write without an error (the next write gets ENOSPC): write it all, or
      // throw, never leave a torn file that passes for stored.
      for (let off = 0; off < buf.length;) off += fs.writeSync(fd, buf, off, buf.length - off);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true }); // a torn temp file would hold the space a full disk needs back
    throw e;
  }
  fsyncDir(path.dirname(file));
}

/**
 * An error of the file system under the spool (ENOSPC, EDQUOT, EIO, EROFS, ...): the agent keeps counting through
 * it instead of exiting, since a restart would meet the same disk.
 */
export function isStorageError(e: unknown): e is NodeJS.ErrnoException {
  return typeof e === 'object' && e !== null && typeof (e as NodeJS.ErrnoException).code === 'string';
}

/**
 * A storage condition (state saves, spool writes) logged once per outage: `<what>_failed` on its first failure (or a
 * new error code), `<what>_recovered` on the first success after a minute without failures. A disk that stays full
 * fails and succeeds in turn every interval (the spool frees space by dropping), which would otherwise log each time.
 */
export class StorageCondition {
  private failing: string | null = null;
  private announced: string | null = null;
  private lastFailure = 0;
  private failures = 0;

  constructor(
    private readonly what: string,
    private readonly log: Logger,
    private readonly now: () => number = () => performance.now(),
    /** event names other than `<what>_failed` / `<what>_recovered` */
    private readonly events: { failed?: string; recovered?: string } = {},
  ) {}

  /** The last attempt succeeded. */
  get ok(): boolean {
    return this.failing === null;
  }

  /** The error code of the failure going on (ENOSPC, EIO, ...), or null. */
  get failure(): string | null {
    return this.failing;
  }

  /** `count`: how many failures this one stands for (the recovered line reports their sum). */
  failed(e: { code?: string }, fields: Record<string, unknown> = {}, count = 1): void {
    const code = e.code ?? 'unknown';
    this.failures += count;
    if (this.announced !== code) {
      const error = e instanceof Error ? { error: e } : {};
      this.log('warn', this.events.failed ?? `${this.what}_failed`, { code, ...error, ...fields });
    }
    this.announced = this.failing = code;
    this.lastFailure = this.now();
  }

  succeeded(): void {
    this.failing = null;
    if (this.announced === null || this.now() - this.lastFailure < 60_000) return;
    this.log('info', this.events.recovered ?? `${this.what}_recovered`, {
      after: this.announced,
      failures: this.failures,
    });
    this.announced = null;
    this.failures = 0;
  }
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
  private readonly condition: StorageCondition;
  /** The sequence skipped at this start for the interval the previous process lost (see `counting`), or null. */
  lostSequence: number | null = null;
  /** The previous process on this boot was counting when it went (see `counting`): settle() decides what was lost. */
  wasCounting = false;

  private constructor(
    private readonly file: string,
    readonly data: StateData,
    private readonly log: Logger,
  ) {
    this.condition = new StorageCondition('state_save', log);
  }

  /**
   * Loads (or creates) the state; a new boot id restarts the sequence at 0, as the snapshot schema says. A state that
   * cannot be written (disk full) does not stop the start: saves are retried, and nothing is published until one
   * succeeded (see `durable`).
   */
  static open(dir: string, bootId: string, log: Logger = () => undefined): AgentState {
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
    let wasCounting = false;
    if (data.bootId !== bootId) {
      data.bootId = bootId;
      data.nextSequence = 0;
      data.counting = false;
      data.pending = null;
    } else wasCounting = data.counting === true;
    const s = new AgentState(file, data, log);
    s.wasCounting = wasCounting;
    s.save();
    return s;
  }

  /**
   * Once the kernel object is loaded: when the previous process on this boot was counting and its maps were not
   * adopted (not pinned, or another layout), its interval in progress is lost and its sequence skipped, logged as
   * interval_lost. With the maps adopted nothing was lost: the counting goes on in them.
   */
  settle(adopted: boolean): void {
    if (this.wasCounting && !adopted) {
      this.lostSequence = this.data.nextSequence++;
      this.log('warn', 'interval_lost', {
        sequence: this.lostSequence,
        reason: 'the previous process stopped without a snapshot of its interval in progress',
      });
    }
    if (!adopted) this.data.pending = null;
    this.data.counting = adopted && this.wasCounting;
    this.save();
  }

  /** The last save reached the disk: sequences handed out so far cannot be handed out again after a crash. */
  get durable(): boolean {
    return this.condition.ok;
  }

  /** The error code of the failing save (ENOSPC when the disk is full), or null once a save succeeded. */
  get saveFailure(): string | null {
    return this.condition.failure;
  }

  /**
   * Takes the next sequence number and persists the counter before returning it; `generation`: the epoch generation
   * of the copy it is for (see `pending`).
   */
  takeSequence(generation?: number): number {
    const seq = this.data.nextSequence++;
    this.data.pending = generation === undefined ? null : { generation, sequence: seq };
    this.save();
    return seq;
  }

  /** The sequence a killed process took for generation `generation`, when it is the last one it took. */
  pendingSequence(generation: number): number | null {
    const p = this.data.pending;
    return p && p.generation === generation && p.sequence === this.data.nextSequence - 1 ? p.sequence : null;
  }

  /** Records whether an interval in progress holds counts no snapshot has (see StateData.counting). */
  setCounting(counting: boolean): void {
    if (this.data.counting === counting) return;
    this.data.counting = counting;
    this.save();
  }

  /** Writes the state durably; on a storage error keeps it in memory (logged once), to be retried by the next save. */
  save(): boolean {
    try {
      writeFileDurable(this.file, JSON.stringify(this.data));
    } catch (e) {
      if (!isStorageError(e)) throw e;
      this.condition.failed(e, { file: this.file });
      return false;
    }
    this.condition.succeeded();
    return true;
  }
}
