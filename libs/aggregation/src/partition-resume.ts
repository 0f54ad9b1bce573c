// Where a newly assigned partition resumes: at the group's committed offset, skipping the messages that stored rows
// past it already hold, with the hosts' sequence state reloaded from those rows (duplicates stay recognised). The
// new owner first records its ownership epoch (libs/rollup fence.ts): a row the previous owner lands after this
// load is fenced, and its messages are merged here again.
import type { Admin } from 'kafkajs';
import type { OwnerEpoch } from '@tma/rollup';
import type { ConsumerLogger } from './consumer-stats';
import type { PartialRowStore } from './partial-row-store';
import type { WindowMerger } from './window-merger';

export interface ResumeContext {
  admin: Admin;
  groupId: string;
  store: PartialRowStore;
  merger: WindowMerger;
  logger: ConsumerLogger;
  /** The consumer group generation this instance joined (strictly increasing per group). */
  generation: number;
  /** Written in the owners rows (the writer id). */
  owner: string;
}

/**
 * Loads every partition of `topic` in `assigned` not tracked yet, in a few round trips for them all. A partition
 * never committed starts at 0: kafkajs reads it from the log start (fromBeginning), and every stored row of it
 * counts as covered.
 */
export async function resumeAssigned(ctx: ResumeContext, topic: string, assigned: readonly number[]): Promise<void> {
  const mine = assigned.filter((p) => !ctx.merger.isAssigned(topic, p));
  if (mine.length === 0) return;
  const offsets = await ctx.admin.fetchOffsets({ groupId: ctx.groupId, topics: [topic] });
  const start = new Map<number, number>(mine.map((p) => [p, 0]));
  for (const p of offsets[0]?.partitions ?? [])
    if (start.has(p.partition) && Number(p.offset) >= 0) start.set(p.partition, Number(p.offset));
  await claim(ctx, topic, start);
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
  await claim(ctx, topic, new Map([[partition, committed >= 0 ? committed : firstFetched]]));
}

/**
 * Takes partitions over from `start` (partition → first offset to read). In order: the stored rows past the start
 * that the fence keeps (covered: their messages are skipped); the owners rows, acknowledged, with this owner's epoch
 * and the covered rows it keeps; then the merger's state and the hosts' sequences (fenced rows left out).
 */
async function claim(ctx: ResumeContext, topic: string, start: ReadonlyMap<number, number>): Promise<void> {
  const logStart = new Map<number, number>();
  for (const p of await ctx.admin.fetchTopicOffsets(topic)) logStart.set(p.partition, Number(p.low));
  const chain = await ctx.store.ownerChain(topic);
  const covered = await ctx.store.coveredRangesMany(topic, start, chain);
  const owners: OwnerEpoch[] = [];
  for (const [partition, from] of start) {
    // Messages below the log start cannot be read again: rows holding them are never fenced by this owner.
    const fromOffset = Math.max(from, logStart.get(partition) ?? 0);
    const latest = chain.latest(topic, partition);
    if (latest >= ctx.generation)
      ctx.logger.warn(
        `${topic}/${partition}: generation ${ctx.generation} is not above the stored epoch ${latest}: this instance ` +
          'lost the partition while claiming it, or the consumer group started over (renamed or expired; see docs/aggregator.md)',
      );
    owners.push({
      topic,
      partition,
      epoch: ctx.generation,
      fromOffset,
      kept: (covered.get(partition) ?? []).filter((c) => c.first >= fromOffset).map((c) => c.first),
    });
  }
  await ctx.store.writeOwners(owners, ctx.owner);
  for (const o of owners) {
    const c = covered.get(o.partition) ?? [];
    ctx.merger.assign({
      topic,
      partition: o.partition,
      committed: start.get(o.partition)!,
      covered: c,
      epoch: o.epoch,
    });
    ctx.logger.log(
      `${topic}/${o.partition}: epoch ${o.epoch}, resuming at ${start.get(o.partition)}` +
        (c.length > 0 ? `; ${c.length} stored row(s) past it will not be merged again` : ''),
    );
  }
  const fenced = await ctx.store.ownerChain(topic);
  for (const s of await ctx.store.recentSequencesMany(topic, [...start.keys()], undefined, fenced))
    ctx.merger.sequences.restore(s.host, s.boot, s.agent, s.last);
}
