// One fetched batch into the window merger: outcomes counted in the metrics, rejected messages turned into dead
// letters for the caller to send before it commits.
import type { Batch } from 'kafkajs';
import { deadLetter, rejectionHeaders, type DeadLetter } from './dead-letters';
import type { AggregatorMetrics } from './metrics';
import type { WindowMerger } from './window-merger';

export interface IngestedBatch {
  /** Dead letters of the rejected messages, to send before any commit. */
  letters: DeadLetter[];
  /** Index of the message held back for want of window room: flush, then ingest the batch again from it. */
  heldAt?: number;
}

/**
 * Merges the messages of `batch` from index `from` (in offset order) until one is held back for want of window room
 * (`overLimit`: the message at `from` merges regardless, as it was held once already).
 */
export function ingestBatch(
  merger: WindowMerger,
  metrics: AggregatorMetrics,
  batch: Batch,
  now = Date.now(),
  from = 0,
  overLimit = false,
): IngestedBatch {
  const { topic, partition } = batch;
  const letters: DeadLetter[] = [];
  let heldAt: number | undefined;
  const m = metrics;
  const d0 = merger.stats.decodeMs;
  const g0 = merger.stats.mergeMs;
  // Outcomes counted per batch and added to the metrics once (a labelled counter's inc hashes its labels).
  const outcomes = new Map<string, number>();
  const count = (outcome: string) => outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  let gaps = 0;
  let jumps = 0;
  let duplicates = 0;
  for (let i = from; i < batch.messages.length; i++) {
    const msg = batch.messages[i];
    const out = merger.ingest(
      { topic, partition, offset: Number(msg.offset), value: msg.value },
      now,
      overLimit && i === from,
    );
    if (out.kind === 'held') {
      heldAt = i;
      break;
    }
    switch (out.kind) {
      case 'accepted':
        count(out.late ? 'late' : 'accepted');
        gaps += out.gap;
        if (out.jump) jumps++;
        break;
      case 'duplicate':
        count('duplicate');
        duplicates++;
        break;
      case 'rejected':
        count('rejected');
        m.dlq.inc({ reason: out.reason });
        letters.push(
          deadLetter(msg.key, msg.value, rejectionHeaders(out.rejection, `${topic}/${partition}/${msg.offset}`)),
        );
        break;
      default:
        count(out.kind);
    }
  }
  for (const [outcome, n] of outcomes) m.snapshots.inc({ outcome }, n);
  if (gaps > 0) m.gaps.inc(gaps);
  if (jumps > 0) m.sequenceJumps.inc(jumps);
  if (duplicates > 0) m.dropped.inc({ reason: 'duplicate-sequence' }, duplicates);
  m.decodeSeconds.inc((merger.stats.decodeMs - d0) / 1000);
  m.mergeSeconds.inc((merger.stats.mergeMs - g0) / 1000);
  m.lag.set(
    { topic, partition: String(partition) },
    Math.max(0, Number(batch.highWatermark) - Number(batch.lastOffset()) - 1),
  );
  m.watermark.set(merger.watermark / 1000);
  m.openWindows.set(merger.openAccumulators());
  return { letters, heldAt };
}
