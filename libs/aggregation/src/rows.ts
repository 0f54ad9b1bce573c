// The aggregator's rows: window content and row shapes live in @tma/rollup (shared with the query API); this file
// only gives an accumulator its row identity.
import { partialRow, type PartialRow, type RowIdentity } from '@tma/rollup';
import type { WindowAccumulator } from './window-accumulator';

export * from '@tma/rollup';

/** Where an accumulator's row sits: its window and partition key, offsets and epoch, with a version and writer. */
function accumulatorIdentity(acc: WindowAccumulator, writer: string, version: number, late: boolean): RowIdentity {
  return {
    tier: '1m',
    windowStartMs: acc.windowStart,
    windowSeconds: Math.floor(acc.windowMs / 1000),
    topic: acc.topic,
    partition: acc.partition,
    firstOffset: acc.firstOffset,
    epoch: acc.epoch,
    lastOffset: acc.lastOffset,
    version,
    writer,
    late,
  };
}

export function partialRowFromAccumulator(
  acc: WindowAccumulator,
  writer: string,
  ttlSeconds: number,
  now = new Date(),
): PartialRow {
  // Rows with the same id hold the same offsets, so the same content: any version would do; the range end keeps it monotonic.
  const id = accumulatorIdentity(acc, writer, acc.lastOffset + 1, acc.late);
  return partialRow(acc, acc.candidates.soFar(), id, ttlSeconds, now);
}

/**
 * The agg_provisional row of a window still open: its content so far under the window's (topic, partition) key,
 * with the offsets merged so far and `version` = the writer's wall clock (the newest write wins). Never an
 * agg_partials row: it takes no part in offsets or commits.
 */
export function provisionalRowFromAccumulator(
  acc: WindowAccumulator,
  writer: string,
  ttlSeconds: number,
  version: number,
  now = new Date(),
): PartialRow {
  const id = accumulatorIdentity(acc, writer, version, false);
  return partialRow(acc.contentSoFar(), acc.candidates.soFar(), id, ttlSeconds, now);
}
