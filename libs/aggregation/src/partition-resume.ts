// Where a newly assigned partition resumes: at the group's committed offset, skipping the messages that stored rows
// past it already hold, with the hosts' sequence state reloaded from those rows (duplicates stay recognised).
import type { Admin } from 'kafkajs';
import type { ConsumerLogger } from './consumer-stats';
import type { PartialRowStore } from './partial-row-store';
import type { WindowMerger } from './window-merger';

export interface ResumeContext {
  admin: Admin;
  groupId: string;
  store: PartialRowStore;
  merger: WindowMerger;
  logger: ConsumerLogger;
}

function logCovered(ctx: ResumeContext, topic: string, partition: number, from: number, covered: number): void {
  if (covered > 0)
    ctx.logger.log(
      `${topic}/${partition}: resuming at ${from}; ${covered} stored row(s) past it will not be merged again`,
    );
}

/**
 * Loads every partition of `topic` in `assigned` not tracked yet, in three round trips (offsets, covered rows,
 * sequences) instead of three per partition. A partition never committed starts at 0: kafkajs reads it from the
 * log start (fromBeginning), and every stored row of it counts as covered.
 */
export async function resumeAssigned(ctx: ResumeContext, topic: string, assigned: readonly number[]): Promise<void> {
  const mine = assigned.filter((p) => !ctx.merger.isAssigned(topic, p));
  if (mine.length === 0) return;
  const offsets = await ctx.admin.fetchOffsets({ groupId: ctx.groupId, topics: [topic] });
  const start = new Map<number, number>(mine.map((p) => [p, 0]));
  for (const p of offsets[0]?.partitions ?? [])
    if (start.has(p.partition) && Number(p.offset) >= 0) start.set(p.partition, Number(p.offset));
  const covered = await ctx.store.coveredRangesMany(topic, start);
  for (const [partition, from] of start) {
    const c = covered.get(partition) ?? [];
    ctx.merger.assign({ topic, partition, committed: from, covered: c });
    logCovered(ctx, topic, partition, from, c.length);
  }
  for (const s of await ctx.store.recentSequencesMany(topic, mine))
    ctx.merger.sequences.restore(s.host, s.boot, s.last);
}

/** One partition a batch arrived for outside the known assignment; uncommitted, it starts at the batch. */
export async function resumePartition(
  ctx: ResumeContext,
  topic: string,
  partition: number,
  firstFetched: number,
): Promise<void> {
  const offsets = await ctx.admin.fetchOffsets({ groupId: ctx.groupId, topics: [topic] });
  const found = offsets[0]?.partitions.find((p) => p.partition === partition);
  const committed = found && Number(found.offset) >= 0 ? Number(found.offset) : -1;
  const start = committed >= 0 ? committed : firstFetched;
  const covered = await ctx.store.coveredRanges(topic, partition, committed >= 0 ? committed : 0);
  ctx.merger.assign({ topic, partition, committed: start, covered });
  for (const s of await ctx.store.recentSequences(topic, partition))
    ctx.merger.sequences.restore(s.host, s.boot, s.last);
  logCovered(ctx, topic, partition, start, covered.length);
}
