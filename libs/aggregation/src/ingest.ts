// One fetched batch into the window merger: outcomes counted in the metrics, rejected messages turned into dead
// letters for the caller to send before it commits.
import type { Batch } from 'kafkajs';
import { deadLetter, rejectionHeaders, type DeadLetter } from './dead-letters';
import type { AggregatorMetrics } from './metrics';
import type { WindowMerger } from './window-merger';

/** Merges every message of `batch` (in offset order) and returns the dead letters of the rejected ones. */
export function ingestBatch(
  merger: WindowMerger,
  metrics: AggregatorMetrics,
  batch: Batch,
  now = Date.now(),
): DeadLetter[] {
  const { topic, partition } = batch;
  const letters: DeadLetter[] = [];
  const m = metrics;
  const d0 = merger.stats.decodeMs;
  const g0 = merger.stats.mergeMs;
  for (const msg of batch.messages) {
    const out = merger.ingest({ topic, partition, offset: Number(msg.offset), value: msg.value }, now);
    switch (out.kind) {
      case 'accepted':
        m.snapshots.inc({ outcome: out.late ? 'late' : 'accepted' });
        if (out.gap > 0) m.gaps.inc(out.gap);
        if (out.jump) m.sequenceJumps.inc();
        break;
      case 'duplicate':
        m.snapshots.inc({ outcome: 'duplicate' });
        m.dropped.inc({ reason: 'duplicate-sequence' });
        break;
      case 'rejected':
        m.snapshots.inc({ outcome: 'rejected' });
        m.dlq.inc({ reason: out.reason });
        letters.push(
          deadLetter(msg.key, msg.value, rejectionHeaders(out.rejection, `${topic}/${partition}/${msg.offset}`)),
        );
        break;
      default:
        m.snapshots.inc({ outcome: out.kind });
    }
  }
  m.decodeSeconds.inc((merger.stats.decodeMs - d0) / 1000);
  m.mergeSeconds.inc((merger.stats.mergeMs - g0) / 1000);
  m.lag.set(
    { topic, partition: String(partition) },
    Math.max(0, Number(batch.highWatermark) - Number(batch.lastOffset()) - 1),
  );
  m.watermark.set(merger.watermark / 1000);
  m.openWindows.set(merger.openAccumulators());
  return letters;
}
