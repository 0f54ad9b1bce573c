// Merges snapshots into per-partition windows, free of Kafka and ClickHouse: messages in (with their partition and
// offset), partial window rows and safe commit positions out. The consumer feeds it in offset order per partition;
// the store writes what takeFlush() returns and calls confirmFlush(); only then do commitPositions() move past
// those offsets.
//
// Exactly once in effect: every row records the contiguous offset range it merged. After a restart or a
// rebalance the new owner of a partition loads the rows written at or after the committed offset ("covered"
// ranges) and skips exactly the messages they hold, so rows written before a crash but not committed are never
// merged twice; rows are also idempotent by id (retries replace themselves).
import { windowOf } from '@tma/rollup';
import { SequenceTracker } from './dedup';
import { RejectedSnapshot, validateMessage, type RejectReason, type ValidSnapshot } from './validate';
import { WindowAccumulator } from './window-accumulator';

export interface WindowMergerOptions {
  windowMs: number;
  allowedLatenessMs: number;
  idleCloseMs: number;
  maxFutureMs: number;
  /** Snapshots whose interval ended longer ago go to the DLQ (`past-interval`; default 7 days). */
  maxPastMs?: number;
  maxOpenWindows: number;
  /** A sequence further than this from a stream's runs starts a new run (default 1000; dedup.ts). */
  maxSequenceJump?: number;
}

export interface InboundMessage {
  topic: string;
  partition: number;
  offset: number;
  value: Buffer | null;
}

export type IngestOutcome =
  | { kind: 'accepted'; late: boolean; gap: number; jump: boolean; windowStart: number; snapshot: ValidSnapshot }
  | { kind: 'duplicate' }
  | { kind: 'skipped' }
  /** Needs a window beyond the partition's limit: not consumed; flush (takeFlush makes room), then ingest it again. */
  | { kind: 'held' }
  | { kind: 'rejected'; reason: RejectReason; message: string; rejection: RejectedSnapshot };

/** A row already in storage for this partition: messages of `windowStart` within [first, last] are merged there. */
export interface CoveredRange {
  windowStart: number;
  first: number;
  last: number;
}

export interface PartitionAssignment {
  topic: string;
  partition: number;
  /** Next offset to read (the group's committed offset). */
  committed: number;
  covered: CoveredRange[];
  /** Ownership epoch this instance holds the partition under (0: unfenced, tests of the merger alone). */
  epoch?: number;
}

interface PartitionState {
  topic: string;
  partition: number;
  epoch: number;
  /** Next offset not yet seen. */
  nextOffset: number;
  /**
   * Event time this partition has reached: the lower median of its hosts' newest interval ends (see watermarkOf).
   * It may step back (a first host ahead of the others, hosts leaving): a window written meanwhile simply gets a
   * further row. Per partition: a host's snapshots all land in one partition (key = host id), so one
   * partition read ahead of another must not make the other's data late.
   */
  watermark: number;
  /** Per host: newest interval end and when (wall clock) it last sent. */
  hostEnds: Map<string, { end: number; seenMs: number }>;
  /** hostEnds changed since the watermark was computed. */
  dirty: boolean;
  lastCommitted: number;
  open: Map<number, WindowAccumulator>;
  late: Map<number, WindowAccumulator>;
  /** Taken for writing, not yet confirmed. */
  pending: WindowAccumulator[];
  covered: CoveredRange[];
  /** A message was held back for want of an open window: the next takeFlush writes the oldest one early. */
  needsRoom: boolean;
}

export interface CommitPosition {
  topic: string;
  partition: number;
  /** The next offset to read: everything below is in storage (or needs nothing stored). */
  offset: number;
}

const pkey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** Returns the memory of every window a partition holds (its unwritten data is read again from Kafka). */
function disposeWindows(st: PartitionState): void {
  for (const group of [st.open.values(), st.late.values(), st.pending.values()]) for (const acc of group) acc.dispose();
}

export class WindowMerger {
  sequences: SequenceTracker;
  private readonly partitions = new Map<string, PartitionState>();
  private lastIngestWallMs = 0;
  /** Cumulative time in decode + validation and in merging, ms (for metrics and the benchmark breakdown). */
  readonly stats = { decodeMs: 0, mergeMs: 0 };

  constructor(private readonly options: WindowMergerOptions) {
    this.sequences = this.newSequences();
  }

  private newSequences(): SequenceTracker {
    return new SequenceTracker(4, this.options.maxSequenceJump);
  }

  /** Starts (or restarts) tracking a partition from its committed offset and the rows already stored. */
  assign(a: PartitionAssignment): void {
    const before = this.partitions.get(pkey(a.topic, a.partition));
    if (before) disposeWindows(before); // restarted from the commit: what it held is read again
    this.partitions.set(pkey(a.topic, a.partition), {
      topic: a.topic,
      partition: a.partition,
      epoch: a.epoch ?? 0,
      nextOffset: a.committed,
      watermark: 0,
      hostEnds: new Map(),
      dirty: false,
      lastCommitted: a.committed,
      open: new Map(),
      late: new Map(),
      pending: [],
      covered: a.covered.filter((c) => c.last >= a.committed),
      needsRoom: false,
    });
  }

  /** Forgets a partition this instance lost: its unwritten data is read again by the new owner from the commit. */
  revoke(topic: string, partition: number): void {
    const k = pkey(topic, partition);
    const st = this.partitions.get(k);
    if (st) disposeWindows(st);
    this.partitions.delete(k);
  }

  /** Newest event time reached by any partition (metrics). */
  get watermark(): number {
    let w = 0;
    for (const p of this.partitions.values()) w = Math.max(w, this.watermarkOf(p));
    return w;
  }

  /**
   * The partition's watermark: the lower median over its hosts of each host's newest interval end, so one host
   * whose clock runs ahead (or one hostile timestamp) cannot make every other host of the partition late; fewer
   * than half the hosts can move it. Hosts silent (wall clock) for two windows plus the lateness are left out, so
   * hosts that stopped do not hold it back. Not kept monotonic: the first host of a partition alone must not fix
   * it 9 minutes ahead. Computed when asked after a change.
   */
  private watermarkOf(st: PartitionState): number {
    if (!st.dirty) return st.watermark;
    st.dirty = false;
    let newest = 0;
    for (const h of st.hostEnds.values()) newest = Math.max(newest, h.seenMs);
    const horizon = newest - (2 * this.options.windowMs + this.options.allowedLatenessMs);
    const ends: number[] = [];
    for (const [host, h] of st.hostEnds) {
      if (h.seenMs < horizon) st.hostEnds.delete(host);
      else ends.push(h.end);
    }
    if (ends.length === 0) return st.watermark;
    ends.sort((a, b) => a - b);
    st.watermark = ends[(ends.length - 1) >> 1];
    return st.watermark;
  }

  /** Event time every partition with data has reached: coarser tiers are built once it passes their end. */
  get lowWatermark(): number {
    let w = Infinity;
    for (const p of this.partitions.values()) {
      const pw = this.watermarkOf(p);
      if (pw > 0 && pw < w) w = pw;
    }
    return w === Infinity ? 0 : w;
  }

  /**
   * Forgets every partition and the sequence state: after a rebalance everything not yet written is read again
   * from the committed offsets, so sequences seen in it must not count as seen (assign() restores stored ones).
   */
  revokeAll(): void {
    for (const st of this.partitions.values()) disposeWindows(st);
    this.partitions.clear();
    this.sequences = this.newSequences();
  }

  isAssigned(topic: string, partition: number): boolean {
    return this.partitions.has(pkey(topic, partition));
  }

  assigned(): { topic: string; partition: number }[] {
    return [...this.partitions.values()].map((p) => ({ topic: p.topic, partition: p.partition }));
  }

  /** Snapshots held in memory, not yet written (for the bounded-memory check and metrics). */
  openAccumulators(): number {
    let n = 0;
    for (const p of this.partitions.values()) n += p.open.size + p.late.size + p.pending.length;
    return n;
  }

  /**
   * Open windows that are not late corrections, still merging: what provisional rows show (a late window is written
   * at the next flush anyway, and its window already has a final row that would hide it).
   */
  *openWindows(): Generator<WindowAccumulator> {
    for (const st of this.partitions.values())
      for (const acc of st.open.values()) if (!acc.late && acc.isOpen && acc.snapshots > 0) yield acc;
  }

  /**
   * Merges one message. Memory is bounded here, not only at flush: a message that needs a new window while its
   * partition already holds `maxOpenWindows` open windows (or as many late ones) is `held` (not consumed); the
   * caller flushes and offers it again. `overLimit` (the second offer) merges it regardless, so progress is sure.
   */
  ingest(msg: InboundMessage, nowMs: number, overLimit = false): IngestOutcome {
    const st = this.partitions.get(pkey(msg.topic, msg.partition));
    if (!st) throw new Error(`partition ${msg.topic}/${msg.partition} is not assigned`);
    if (msg.offset < st.nextOffset) return { kind: 'skipped' }; // re-delivered below our position
    st.nextOffset = msg.offset + 1;
    this.lastIngestWallMs = nowMs;
    let v: ValidSnapshot;
    const t0 = performance.now();
    try {
      v = validateMessage(msg.value, {
        nowMs,
        maxFutureMs: this.options.maxFutureMs,
        maxPastMs: this.options.maxPastMs,
      });
    } catch (err) {
      if (err instanceof RejectedSnapshot)
        return { kind: 'rejected', reason: err.reason, message: err.message, rejection: err };
      throw err;
    } finally {
      this.stats.decodeMs += performance.now() - t0;
    }
    const s = v.snapshot;
    const w = windowOf(s.intervalEndMs, this.options.windowMs);
    const host = st.hostEnds.get(s.hostId);
    if (!host) st.hostEnds.set(s.hostId, { end: s.intervalEndMs, seenMs: nowMs });
    else {
      if (s.intervalEndMs > host.end) host.end = s.intervalEndMs;
      host.seenMs = nowMs;
    }
    st.dirty = true;
    if (st.covered.length > 0) {
      st.covered = st.covered.filter((c) => c.last >= msg.offset);
      if (st.covered.some((c) => c.windowStart === w && c.first <= msg.offset && msg.offset <= c.last)) {
        this.sequences.observe(s.hostId, s.agentId, s.bootId, s.sequence); // stored: its resends are duplicates
        return { kind: 'skipped' };
      }
    }
    if (!overLimit && !st.open.has(w) && !st.late.has(w)) {
      const lateNow = w + this.options.windowMs + this.options.allowedLatenessMs <= this.watermarkOf(st);
      if ((lateNow ? st.late.size : st.open.size) >= this.options.maxOpenWindows) {
        st.nextOffset = msg.offset; // not consumed: offered again after a flush
        if (!lateNow) st.needsRoom = true;
        return { kind: 'held' };
      }
    }
    const verdict = this.sequences.observe(s.hostId, s.agentId, s.bootId, s.sequence);
    if (verdict.kind === 'duplicate') return { kind: 'duplicate' };
    const gap = verdict.kind === 'new' ? verdict.gap : 0;
    const jump = verdict.kind === 'new' && verdict.jump === true;

    let acc = st.open.get(w) ?? st.late.get(w);
    let late = false;
    if (!acc) {
      late = w + this.options.windowMs + this.options.allowedLatenessMs <= this.watermarkOf(st);
      acc = new WindowAccumulator(st.topic, st.partition, w, this.options.windowMs, late, st.epoch);
      (late ? st.late : st.open).set(w, acc);
    } else {
      late = acc.late;
    }
    const overflow = acc.overflow(v);
    if (overflow) {
      if (acc.snapshots === 0) {
        (late ? st.late : st.open).delete(w);
        acc.dispose();
      }
      const err = new RejectedSnapshot(
        'count-overflow',
        `merging it would carry the window's ${overflow} past 2^53 − 1`,
      );
      return { kind: 'rejected', reason: err.reason, message: err.message, rejection: err };
    }
    const t1 = performance.now();
    acc.add(v, msg.offset, gap);
    this.stats.mergeMs += performance.now() - t1;
    return { kind: 'accepted', late, gap, jump, windowStart: w, snapshot: v };
  }

  /** Records that offsets up to `offset` were seen though no message needed merging (e.g. an empty fetch tail). */
  advance(topic: string, partition: number, nextOffset: number): void {
    const st = this.partitions.get(pkey(topic, partition));
    if (st && nextOffset > st.nextOffset) st.nextOffset = nextOffset;
  }

  /**
   * Windows ready to write: every late row, windows the watermark passed by the allowed lateness, the oldest
   * windows beyond the open-window limit, everything when idle or `force` (shutdown). Rows from an earlier failed
   * write come first and unchanged, so a retry writes identical rows.
   */
  /** No snapshot arrived for the idle-close time (wall clock). */
  isIdle(nowMs: number): boolean {
    return this.lastIngestWallMs > 0 && nowMs - this.lastIngestWallMs >= this.options.idleCloseMs;
  }

  takeFlush(nowMs: number, force = false): WindowAccumulator[] {
    const out: WindowAccumulator[] = [];
    const idle = this.isIdle(nowMs);
    for (const st of this.partitions.values()) {
      const watermark = this.watermarkOf(st);
      const taken: WindowAccumulator[] = [];
      for (const acc of st.late.values()) taken.push(acc);
      st.late.clear();
      const starts = [...st.open.keys()].sort((a, b) => a - b);
      const excess = starts.length - this.options.maxOpenWindows + (st.needsRoom ? 1 : 0);
      st.needsRoom = false;
      starts.forEach((w, i) => {
        const acc = st.open.get(w)!;
        if (force || idle || i < excess || acc.windowEnd + this.options.allowedLatenessMs <= watermark) {
          taken.push(acc);
          st.open.delete(w);
        }
      });
      // Sealed once: a retried write encodes the same plain sketches, and the windows' memory is free already.
      for (const acc of taken) acc.seal();
      st.pending.push(...taken);
      out.push(...st.pending);
    }
    return out;
  }

  /** The rows from takeFlush() are in storage. */
  confirmFlush(written: readonly WindowAccumulator[]): void {
    const done = new Set(written);
    for (const st of this.partitions.values()) st.pending = st.pending.filter((a) => !done.has(a));
  }

  /** Positions that may be committed now (only those that moved since the last call to markCommitted()). */
  commitPositions(): CommitPosition[] {
    const out: CommitPosition[] = [];
    for (const st of this.partitions.values()) {
      let safe = st.nextOffset;
      for (const group of [st.open.values(), st.late.values(), st.pending.values()]) {
        for (const a of group) if (a.firstOffset >= 0 && a.firstOffset < safe) safe = a.firstOffset;
      }
      if (safe > st.lastCommitted) out.push({ topic: st.topic, partition: st.partition, offset: safe });
    }
    return out;
  }

  markCommitted(positions: readonly CommitPosition[]): void {
    for (const p of positions) {
      const st = this.partitions.get(pkey(p.topic, p.partition));
      if (st && p.offset > st.lastCommitted) st.lastCommitted = p.offset;
    }
  }
}
