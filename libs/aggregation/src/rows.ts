// The aggregator's rows: window content and row shapes live in @tma/rollup (shared with the query API); this file
// only gives an accumulator its row identity.
import { partialRow, type PartialRow } from '@tma/rollup';
import type { WindowAccumulator } from './window-accumulator';

export * from '@tma/rollup';

export function partialRowFromAccumulator(
  acc: WindowAccumulator,
  writer: string,
  ttlSeconds: number,
  now = new Date(),
): PartialRow {
  return partialRow(
    acc,
    acc.candidates.values(),
    {
      tier: '1m',
      windowStartMs: acc.windowStart,
      windowSeconds: Math.floor(acc.windowMs / 1000),
      topic: acc.topic,
      partition: acc.partition,
      firstOffset: acc.firstOffset,
      epoch: acc.epoch,
      lastOffset: acc.lastOffset,
      // Rows with the same id hold the same offsets, so the same content: any version would do; the range end keeps it monotonic.
      version: acc.lastOffset + 1,
      writer,
      late: acc.late,
    },
    ttlSeconds,
    now,
  );
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
  return partialRow(
    acc.contentSoFar(),
    acc.candidates.values(),
    {
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
      late: false,
    },
    ttlSeconds,
    now,
  );
}
