// Cumulative timings and counts of one snapshot consumer, for the benchmark breakdown (bench/aggregator/run.js).
export interface ConsumerStats {
  /** Encoding accumulators into partial rows, ms. */
  encodeMs: number;
  /** Partial-row writes that succeeded, ms. */
  writeMs: number;
  /** Readable rollups and the 1 h tier, ms. */
  finalizeMs: number;
  commits: number;
  rowsWritten: number;
  /** Whole batches (ingest, dead letters, flushes due), ms. */
  batchMs: number;
  /** Loading partitions on assignment (committed offsets, stored ranges, sequences), ms. */
  assignMs: number;
  commitMs: number;
  batches: number;
  /** Messages held back until a flush made window room (memory bound at ingest). */
  heldBack: number;
  /** performance.now() when the first batch started (0 until then). */
  firstBatchAt: number;
}

export function newConsumerStats(): ConsumerStats {
  return {
    encodeMs: 0,
    writeMs: 0,
    finalizeMs: 0,
    commits: 0,
    rowsWritten: 0,
    batchMs: 0,
    assignMs: 0,
    commitMs: 0,
    batches: 0,
    heldBack: 0,
    firstBatchAt: 0,
  };
}

/** Where the consumer's parts report (a Nest Logger fits). */
export interface ConsumerLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}
