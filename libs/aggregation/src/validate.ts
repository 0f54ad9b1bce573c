// First gate of every message: Avro decode (libs/schema), then the fleet specification (libs/sketch). A snapshot
// built with other sketch parameters or another seed would merge into nonsense, so it is refused, never merged.
import { decode, isSchemaError, type SketchSnapshot } from '@tma/schema';
import {
  CMS_DEPTH,
  CMS_WIDTH,
  CountMinSketch,
  HASH_NAME,
  HLL_P,
  HLL_SKETCHES,
  HyperLogLog,
  INTERVAL_MAX_MS,
  INTERVAL_MIN_MS,
  IncompatibleParametersError,
  SEED_HASH,
  SPEC_VERSION,
  SketchDecodeError,
  decodeCountMinSketch,
  isFlowKey,
  mergeEncodedCountMinSketch,
  mergeEncodedHyperLogLog,
  type Candidate,
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
  | 'invalid-sampling';

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
  /** Present only for sampled snapshots: CMS cells and candidate counts multiplied by the sampling rate. */
  scaled?: { cmsPackets: CountMinSketch; cmsBytes: CountMinSketch };
  candidates: Candidate[];
  packets: number;
  bytes: number;
}

export interface ValidateOptions {
  /** Wall clock, for the future-interval check. */
  nowMs: number;
  maxFutureMs: number;
}

function checkSpec(s: SketchSnapshot): void {
  const spec = s.sketchSpec;
  if (spec.seedHash !== SEED_HASH || spec.hashName !== HASH_NAME) {
    throw new RejectedSnapshot(
      'wrong-seed',
      `hash ${spec.hashName} seed hash 0x${spec.seedHash.toString(16)}; the fleet uses ${HASH_NAME} 0x${SEED_HASH.toString(16)}`,
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

// Scratch sketches for the check pass: every blob is merged into one and cleared again (a memset), so a snapshot
// is known to merge cleanly before any window is touched, with no allocation per snapshot.
const scratchCms = new CountMinSketch();
const scratchHll = new HyperLogLog();

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

function checkCms(field: string, bytes: Uint8Array): void {
  check(field, () => mergeEncodedCountMinSketch(scratchCms, bytes));
  scratchCms.clear();
}

function checkHll(field: string, bytes: Uint8Array): void {
  check(field, () => mergeEncodedHyperLogLog(scratchHll, bytes));
  scratchHll.registers.fill(0);
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
  const rate = snapshot.samplingRate;
  if (!Number.isInteger(rate) || rate < 1) throw new RejectedSnapshot('invalid-sampling', `sampling rate ${rate}`);
  checkCms('cmsPackets', snapshot.cmsPackets);
  checkCms('cmsBytes', snapshot.cmsBytes);
  for (const h of HLL_SKETCHES) checkHll(h.wireField, snapshot[h.wireField]);
  for (const c of snapshot.candidates) {
    if (!isFlowKey(c.key)) throw new RejectedSnapshot('bad-sketch', 'candidates: a key is not a canonical flow key');
  }
  const v: ValidSnapshot = {
    snapshot,
    candidates: snapshot.candidates,
    packets: snapshot.totals.packets,
    bytes: snapshot.totals.bytes,
  };
  // Sampled hosts count 1 in `rate` packets: scale linear sketches and totals so every row of a window is in packets.
  if (rate > 1) {
    const scaled = {
      cmsPackets: decodeCountMinSketch(snapshot.cmsPackets),
      cmsBytes: decodeCountMinSketch(snapshot.cmsBytes),
    };
    for (const c of [scaled.cmsPackets, scaled.cmsBytes]) {
      const cells = c.cells;
      for (let i = 0; i < cells.length; i++) cells[i] *= rate;
      CountMinSketch.withTotal(c, c.total * rate);
    }
    v.scaled = scaled;
    v.candidates = snapshot.candidates.map((c) => ({ key: c.key, packets: c.packets * rate, bytes: c.bytes * rate }));
    v.packets *= rate;
    v.bytes *= rate;
  }
  return v;
}
