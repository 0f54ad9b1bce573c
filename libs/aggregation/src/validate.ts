// First gate of every message: Avro decode (libs/schema), then the fleet specification (libs/sketch). A snapshot
// built with other sketch parameters or another seed would merge into nonsense, so it is refused, never merged.
import { decode, isSchemaError, type SketchSnapshot } from '@tma/schema';
import {
  CMS_DEPTH,
  CMS_WIDTH,
  CountMinSketch,
  currentHashSeed,
  HASH_NAME,
  HLL_P,
  HLL_SKETCHES,
  HyperLogLog,
  INTERVAL_MAX_MS,
  INTERVAL_MIN_MS,
  IncompatibleParametersError,
  SPEC_VERSION,
  SketchDecodeError,
  SYN_DEPTH,
  SYN_WIDTH_BITS,
  SynCounts,
  decodeCountMinSketch,
  checkEncodedCountMinSketch,
  checkEncodedHyperLogLog,
  isFlowKey,
  checkEncodedSpread,
  type Candidate,
  type CandidateFloor,
  prefixCountsFromWire,
  type PrefixCounts,
} from '@tma/sketch';

/** Why a message went to the dead-letter topic (header `tma-dlq-reason`). Schema reasons come from libs/schema. */
export type RejectReason =
  | 'bad-magic'
  | 'truncated'
  | 'unknown-schema'
  | 'trailing-bytes'
  | 'invalid-body'
  | 'too-large'
  | 'invalid-snapshot'
  | 'empty-message'
  | 'wrong-spec'
  | 'wrong-seed'
  | 'bad-sketch'
  | 'invalid-interval'
  | 'future-interval'
  | 'past-interval'
  | 'invalid-sampling'
  | 'invalid-count'
  | 'invalid-protocol'
  | 'invalid-prefix'
  | 'invalid-text'
  | 'count-overflow'
  | 'window-failed';

/**
 * Sampling, defined here once. The kernel (bpf/tma.bpf.c, tma_count) counts every parsed packet into the totals
 * (`totals.packets`, `totals.bytes`, `totals.protocols`) BEFORE the 1-in-`samplingRate` draw; only drawn packets
 * reach the sketches and the candidate table. So:
 * - exact, never scaled: totals, protocol totals, and the host totals built from them;
 * - scaled by the rate (estimates of all packets): CMS cells and totals, candidate packet and byte counts (upper and
 *   since-entry) and the candidate floor. These are estimates, not bounds: a sampled since-entry count times the
 *   rate may exceed the truth, and an upper count may fall below it, so the window marks its candidates sampled and
 *   answers say their bounds are not certain (docs/query-api.md);
 * - left as they are: HyperLogLogs (distinct counts of the drawn packets' keys; a lower bound, not linear, so no
 *   factor applies).
 */
function scaleSampled(v: ValidSnapshot, rate: number): void {
  const s = v.snapshot;
  const scaled = { cmsPackets: decodeCountMinSketch(s.cmsPackets), cmsBytes: decodeCountMinSketch(s.cmsBytes) };
  for (const c of [scaled.cmsPackets, scaled.cmsBytes]) {
    const cells = c.cells;
    for (let i = 0; i < cells.length; i++) cells[i] *= rate;
    CountMinSketch.withTotal(c, c.total * rate);
  }
  v.scaled = scaled;
  v.candidates = s.candidates.map((c) => ({
    key: c.key,
    packets: c.packets * rate,
    bytes: c.bytes * rate,
    sincePackets: c.sincePackets * rate,
    sinceBytes: c.sinceBytes * rate,
  }));
  if (v.candidateFloor)
    v.candidateFloor = { packets: v.candidateFloor.packets * rate, bytes: v.candidateFloor.bytes * rate };
}

/**
 * Highest sampling rate accepted. Sampled CMS cells and candidate counts are multiplied by the rate; 1 in 65,536
 * packets already leaves a 10 s interval of a 10 Gbit/s link (~1.5 M packets/s) with ~230 kept packets, below which
 * the sketches say nothing useful, while 2^31 would let one snapshot multiply its counts two billion times.
 */
export const MAX_SAMPLING_RATE = 65_536;
/** Longest id or text field (hostId, agentId, bootId, agentVersion, interface names, parse-error reasons). */
export const MAX_TEXT_LENGTH = 256;
/** Default of TMA_AGG_MAX_PAST: the default retention of partial rows (older rows would be dropped on insert). */
export const DEFAULT_MAX_PAST_MS = 7 * 86_400_000;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export class RejectedSnapshot extends Error {
  override name = 'RejectedSnapshot';
  constructor(
    readonly reason: RejectReason,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A snapshot whose sketch blobs were checked in full (they merge without error). Blobs stay serialized: a quiet
 * host's sparse sketch merges in the cost of its non-zero cells. Sampled hosts (rate > 1) come decoded and scaled.
 */
export interface ValidSnapshot {
  snapshot: SketchSnapshot;
  /** CMS totals as merged (scaled when sampled) and the largest candidate and protocol counts: overflow checks. */
  bounds: { cmsPackets: number; cmsBytes: number; candidate: number; protocol: number };
  /** Present only for sampled snapshots: CMS cells multiplied by the sampling rate (see scaleSampled). */
  scaled?: { cmsPackets: CountMinSketch; cmsBytes: CountMinSketch };
  /** Candidate counts, scaled for sampled snapshots. */
  candidates: Candidate[];
  /** Bound of every flow the candidates leave out (scaled when sampled); undefined when the snapshot gives none (v1). */
  candidateFloor?: CandidateFloor;
  /** samplingRate > 1: candidate counts and floor are scaled estimates, not certain bounds. */
  sampled: boolean;
  /**
   * Per-source spreads as sent, checked (encodeSpread; undefined when the snapshot carries none): merged from this
   * form (SpreadSketch.mergeEncoded), which visits only its filled buckets. Distinct counts: never scaled.
   */
  spreadBytes?: Uint8Array;
  /** TCP flag counts per server address (SYN floods), decoded and checked; absent when the agent sent none. */
  syn?: SynCounts;
  /** Exact totals as sent (never scaled). */
  packets: number;
  bytes: number;
  /** Heavy-prefix counts with bounds; without prefix data (older agents, sampled snapshots) every floor is the totals. */
  prefixCounts: PrefixCounts;
}

export interface ValidateOptions {
  /** Wall clock at receipt, for the future- and past-interval checks. */
  nowMs: number;
  maxFutureMs: number;
  /** Snapshots whose interval ended longer ago than this are refused (`past-interval`; default 7 days). */
  maxPastMs?: number;
}

function checkCount(field: string, n: number): void {
  if (!(n >= 0 && Number.isSafeInteger(n))) throw new RejectedSnapshot('invalid-count', `${field} is ${n}`);
}

function checkText(field: string, text: string, allowEmpty: boolean): void {
  if (text.length > MAX_TEXT_LENGTH || (!allowEmpty && text.length === 0))
    throw new RejectedSnapshot(
      'invalid-text',
      `${field} has ${text.length} characters (${allowEmpty ? 0 : 1}..${MAX_TEXT_LENGTH} allowed)`,
    );
}

/** Every scalar and text field: counts non-negative, protocols in 0..255, ids and texts bounded. */
function checkFields(s: SketchSnapshot): void {
  checkText('hostId', s.hostId, false);
  checkText('agentId', s.agentId, false);
  checkText('bootId', s.bootId, false);
  checkText('agentVersion', s.agentVersion, true);
  checkCount('sequence', s.sequence);
  checkCount('totals.packets', s.totals.packets);
  checkCount('totals.bytes', s.totals.bytes);
  for (const p of s.totals.protocols) {
    if (!(Number.isInteger(p.protocol) && p.protocol >= 0 && p.protocol <= 255))
      throw new RejectedSnapshot('invalid-protocol', `protocol ${p.protocol} is outside 0..255`);
    checkCount(`totals.protocols[${p.protocol}].packets`, p.packets);
    checkCount(`totals.protocols[${p.protocol}].bytes`, p.bytes);
  }
  for (const c of s.candidates) {
    checkCount('candidates.packets', c.packets);
    checkCount('candidates.bytes', c.bytes);
    checkCount('candidates.sincePackets', c.sincePackets);
    checkCount('candidates.sinceBytes', c.sinceBytes);
    // what a way counted since entry is part of its upper count
    if (c.sincePackets > c.packets || c.sinceBytes > c.bytes)
      throw new RejectedSnapshot('invalid-count', 'candidates: a since-entry count above its upper count');
  }
  checkCount('candidateEvictions', s.candidateEvictions);
  checkCount('candidateFloorPackets', s.candidateFloorPackets);
  checkCount('candidateFloorBytes', s.candidateFloorBytes);
  checkCount('candidateThreshold', s.candidateThreshold);
  checkCount('evictedPackets', s.evictedPackets);
  checkCount('evictedBytes', s.evictedBytes);
  checkCount('spoolDrops', s.spoolDrops);
  for (const i of s.interfaces) checkText('interfaces.ifname', i.ifname, true);
  for (const e of s.parseErrors) {
    checkText('parseErrors.reason', e.reason, true);
    checkCount('parseErrors.count', e.count);
  }
}

/** Heavy prefixes: counts safe, lower ≤ upper, known levels; a sampled snapshot's counts are of sampled packets, so
 * they are not bounds: its traffic counts as unknown prefixes. */
function checkPrefixes(s: SketchSnapshot, rate: number): PrefixCounts {
  const heavy = s.heavyPrefixes ?? [];
  for (const p of heavy) {
    for (const [f, n] of [
      ['packets', p.packets],
      ['bytes', p.bytes],
      ['sincePackets', p.sincePackets],
      ['sinceBytes', p.sinceBytes],
    ] as const)
      checkCount(`heavyPrefixes.${f}`, n);
    if (p.sincePackets > p.packets || p.sinceBytes > p.bytes)
      throw new RejectedSnapshot('invalid-count', 'heavyPrefixes: a lower bound above its upper bound');
    if (p.prefix.length !== (p.family === 4 ? 4 : 8))
      throw new RejectedSnapshot('invalid-prefix', `heavyPrefixes: ${p.prefix.length} prefix bytes for IPv${p.family}`);
  }
  for (const f of s.prefixFloors ?? []) {
    checkCount('prefixFloors.packets', f.packets);
    checkCount('prefixFloors.bytes', f.bytes);
  }
  try {
    return prefixCountsFromWire({
      prefixCounts: s.prefixCounts && rate === 1,
      heavyPrefixes: s.heavyPrefixes,
      prefixFloors: s.prefixFloors,
      totals: s.totals,
    });
  } catch (err) {
    throw new RejectedSnapshot('invalid-prefix', (err as Error).message);
  }
}

function checkSpec(s: SketchSnapshot): void {
  const spec = s.sketchSpec;
  const fleetSeedHash = currentHashSeed().seedHash;
  if (spec.seedHash !== fleetSeedHash || spec.hashName !== HASH_NAME) {
    throw new RejectedSnapshot(
      'wrong-seed',
      `hash ${spec.hashName} seed hash 0x${spec.seedHash.toString(16)}; the fleet uses ${HASH_NAME} 0x${fleetSeedHash.toString(16)}`,
    );
  }
  if (
    spec.specVersion !== SPEC_VERSION ||
    spec.cmsDepth !== CMS_DEPTH ||
    spec.cmsWidth !== CMS_WIDTH ||
    spec.hllPrecision !== HLL_P
  ) {
    throw new RejectedSnapshot(
      'wrong-spec',
      `spec v${spec.specVersion} CMS ${spec.cmsDepth}×${spec.cmsWidth} HLL p${spec.hllPrecision}; the fleet uses v${SPEC_VERSION} CMS ${CMS_DEPTH}×${CMS_WIDTH} HLL p${HLL_P}`,
    );
  }
}

// The check pass reads every blob in full with the checks a merge makes (checkEncoded*: the same errors, nothing
// kept), so a snapshot is known to merge cleanly before any window is touched, with no allocation per snapshot.
// These sketches only give the fleet's parameters to expect.
const fleetCms = new CountMinSketch();
const fleetHll = new HyperLogLog();

function check(field: string, fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof IncompatibleParametersError) {
      const seed = /seed/.test(err.message);
      throw new RejectedSnapshot(seed ? 'wrong-seed' : 'wrong-spec', `${field}: ${err.message}`);
    }
    if (err instanceof SketchDecodeError || err instanceof RangeError)
      throw new RejectedSnapshot('bad-sketch', `${field}: ${err.message}`);
    throw err;
  }
}

/** Checks a CMS blob in full; returns its total. */
function checkCms(field: string, bytes: Uint8Array): number {
  let total = 0;
  check(field, () => {
    total = checkEncodedCountMinSketch(bytes, {
      depth: fleetCms.depth,
      widthBits: fleetCms.widthBits,
      seedHash: fleetCms.seedHash,
    });
  });
  return total;
}

function checkHll(field: string, bytes: Uint8Array): void {
  check(field, () => checkEncodedHyperLogLog(bytes, { precision: fleetHll.p, seedHash: fleetHll.seedHash }));
}

/** The SYN-flood block: the kernel's dimensions, counts below 2^53, 16-byte candidates. Never sampled. */
function checkSyn(d: SketchSnapshot['synFlags']): SynCounts {
  if (d.depth !== SYN_DEPTH || d.widthBits !== SYN_WIDTH_BITS)
    throw new RejectedSnapshot(
      'wrong-spec',
      `synFlags ${d.depth}×2^${d.widthBits}; the fleet uses ${SYN_DEPTH}×2^${SYN_WIDTH_BITS}`,
    );
  let out: SynCounts | undefined;
  check('synFlags', () => (out = SynCounts.fromData(d)));
  return out!;
}

/** Decodes and checks one Kafka message value; throws RejectedSnapshot with a reason code. */
export function validateMessage(value: Buffer | null, options: ValidateOptions): ValidSnapshot {
  if (value === null || value.length === 0) throw new RejectedSnapshot('empty-message', 'message has no value');
  let snapshot: SketchSnapshot;
  try {
    snapshot = decode(value).snapshot;
  } catch (err) {
    if (isSchemaError(err)) throw new RejectedSnapshot(err.reason, err.message);
    throw err;
  }
  checkSpec(snapshot);
  const len = snapshot.intervalEndMs - snapshot.intervalStartMs;
  if (!(len >= INTERVAL_MIN_MS && len <= INTERVAL_MAX_MS)) {
    throw new RejectedSnapshot(
      'invalid-interval',
      `interval of ${len} ms is outside ${INTERVAL_MIN_MS}..${INTERVAL_MAX_MS} ms`,
    );
  }
  if (snapshot.intervalEndMs > options.nowMs + options.maxFutureMs) {
    throw new RejectedSnapshot(
      'future-interval',
      `interval ends ${snapshot.intervalEndMs - options.nowMs} ms in the future`,
    );
  }
  const maxPastMs = options.maxPastMs ?? DEFAULT_MAX_PAST_MS;
  if (snapshot.intervalEndMs < options.nowMs - maxPastMs) {
    throw new RejectedSnapshot(
      'past-interval',
      `interval ended ${options.nowMs - snapshot.intervalEndMs} ms ago (at most ${maxPastMs} ms accepted)`,
    );
  }
  const rate = snapshot.samplingRate;
  if (!Number.isInteger(rate) || rate < 1 || rate > MAX_SAMPLING_RATE)
    throw new RejectedSnapshot('invalid-sampling', `sampling rate ${rate} is outside 1..${MAX_SAMPLING_RATE}`);
  checkFields(snapshot);
  const cmsPacketsTotal = checkCms('cmsPackets', snapshot.cmsPackets);
  const cmsBytesTotal = checkCms('cmsBytes', snapshot.cmsBytes);
  for (const h of HLL_SKETCHES) checkHll(h.wireField, snapshot[h.wireField]);
  check('spreadSketch', () => checkEncodedSpread(snapshot.spreadSketch));
  const spreadBytes = snapshot.spreadSketch?.length ? snapshot.spreadSketch : undefined;
  let candidate = 0;
  for (const c of snapshot.candidates) {
    if (!isFlowKey(c.key)) throw new RejectedSnapshot('bad-sketch', 'candidates: a key is not a canonical flow key');
    if (c.packets > candidate) candidate = c.packets;
    if (c.bytes > candidate) candidate = c.bytes;
  }
  let protocol = 0;
  for (const p of snapshot.totals.protocols) protocol = Math.max(protocol, p.packets, p.bytes);
  // Scaled counts must stay exact integers too.
  for (const [field, n] of [
    ['cmsPackets total', cmsPacketsTotal],
    ['cmsBytes total', cmsBytesTotal],
    ['a candidate count', candidate],
    ['candidateFloorPackets', snapshot.candidateFloorPackets],
    ['candidateFloorBytes', snapshot.candidateFloorBytes],
  ] as const) {
    if (n * rate > MAX_SAFE)
      throw new RejectedSnapshot('count-overflow', `${field} ${n} × sampling rate ${rate} passes 2^53 − 1`);
  }
  const v: ValidSnapshot = {
    snapshot,
    bounds: {
      cmsPackets: cmsPacketsTotal * rate,
      cmsBytes: cmsBytesTotal * rate,
      candidate: candidate * rate,
      protocol,
    },
    candidates: snapshot.candidates,
    candidateFloor: snapshot.candidateBounds
      ? { packets: snapshot.candidateFloorPackets, bytes: snapshot.candidateFloorBytes }
      : undefined,
    sampled: rate > 1,
    spreadBytes,
    packets: snapshot.totals.packets,
    bytes: snapshot.totals.bytes,
    prefixCounts: checkPrefixes(snapshot, rate),
  };
  if (snapshot.synFlags.depth > 0) v.syn = checkSyn(snapshot.synFlags);
  if (rate > 1) scaleSampled(v, rate);
  return v;
}
