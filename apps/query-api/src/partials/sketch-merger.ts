// Merges of partial rows shared by the answers: the merged CMS pair and candidate union of a row set (incremental over
// the 1 h rows), its ranked candidates, the completeness bound of a ranking, and HLL unions. Each is memoized on the
// exact set of (row, version) pairs. Merges stream: at most MERGE_BATCH rows' decoded sketches are held at a time
// (a week of 1 min rows, host-filtered, would otherwise be decoded all at once before the first merge), batches up
// to TASK_BYTES of decoded sketches when the merges run on worker threads (merge-pool.ts), where the same operations run in the same order.
import { Injectable } from '@nestjs/common';
import {
  type CandidateBlock,
  DAY_TIER,
  HOUR_TIER,
  mergedCms,
  mergedHll,
  type SketchColumn,
  CandidateUnion,
} from '@tma/rollup';
import {
  type CandidateFloor,
  type CountMinSketch,
  type HeavyHitter,
  type HyperLogLog,
  PrefixCounts,
  type RankBy,
} from '@tma/sketch';
import { rankBlock, type FlowsWire } from './merge-tasks';
import type { PartialRef } from './partial-row';
import {
  type BlockWire,
  type CmsWire,
  blockFromWire,
  blockToWire,
  cmsFromWire,
  cmsToWire,
  hllFromWire,
  hllToWire,
  type HllWire,
} from './sketch-wire';
import { PartialStore } from './partial-store';

/**
 * Most candidates ranked exactly per request (k ≤ 1000): the ones with the largest plain estimates (topByEstimate in
 * @tma/rollup); the rest cannot reach the top.
 */
export const RANK_SHORTLIST = 2048;
/** Rows whose decoded sketches one merge holds at a time: one read chunk (64 rows) per column. */
export const MERGE_BATCH = 64;
/**
 * Decoded sketch bytes one worker task folds in (merge-pool.ts), in whole batches: held for the task when they are
 * not cached; one union per task instead of one per batch.
 */
export const TASK_BYTES = 16 * 2 ** 20;

/** Consecutive slices of at most MERGE_BATCH rows. */
export function* batches<T>(rows: readonly T[], size = MERGE_BATCH): Generator<T[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

export interface MergedFlows {
  cmsP: CountMinSketch;
  cmsB: CountMinSketch;
  candidates: CandidateBlock;
}

export interface RankedFlows {
  cmsP: CountMinSketch;
  cmsB: CountMinSketch;
  /** Candidates in the union (before the filter and the shortlist). */
  candidates: number;
  all: HeavyHitter[];
  /** every flow not in the candidate union had at most this (undefined: some row does not say) */
  floor: CandidateFloor | undefined;
  /** every flow not in `all` had at most this by the ranking weight: the floor, or the shortlist's cut if larger */
  completeAbove: number | undefined;
  /** the part of the floor that is the coarse rows' frequent-items summaries' error (0 without coarse rows) */
  summaryError: CandidateFloor;
  /** some row was sampled: bounds are scaled estimates, not certain */
  sampled: boolean;
}

@Injectable()
export class SketchMerger {
  constructor(readonly store: PartialStore) {}

  /**
   * Merged CMS and candidate union of a set of rows. Incremental: the coarse (1 h and 1 d) rows of a range (which
   * change once an hour) are merged once and reused while that set is unchanged, so a range moving by a minute
   * redoes only its 1 min rows and one union of the coarse rows' result with them.
   */
  flows(rows: PartialRef[]): Promise<MergedFlows> {
    return this.store.memo('flows', rows, async () => {
      // Fleet rows are 1 min windows too: they change as the range moves, like the minutes.
      const hours = rows.filter((r) => r.tier === HOUR_TIER || r.tier === DAY_TIER);
      const rest = rows.filter((r) => r.tier !== HOUR_TIER && r.tier !== DAY_TIER);
      if (!hours.length) return this.mergeFlowRows(rest);
      const h = await this.store.memo('flows:hours', hours, () => this.mergeFlowRows(hours, true));
      if (!rest.length) return h;
      // The hours' union is extended, not redone: its keys are already distinct.
      return this.mergeFlowRows(rest, false, h);
    });
  }

  /**
   * Streams the rows' CMS pairs and candidate blocks into one merge, MERGE_BATCH rows at a time, starting from
   * `base` when given (its sketches are copied, never changed). `keepIndex`: keep the union's hash table, for a union
   * that will be extended (the hours of a range).
   */
  private async mergeFlowRows(rows: PartialRef[], keepIndex = false, base?: MergedFlows): Promise<MergedFlows> {
    const pool = this.store.pool;
    if (pool && rows.length) {
      // Read in the same batches; batches of up to TASK_BYTES folded into the running merge per task on a worker
      // (the base copied first, never changed).
      let acc: FlowsWire | undefined = base && flowsToWire(base);
      let copy = !!base;
      let task: { p: CmsWire[]; b: CmsWire[]; c: BlockWire[] } = { p: [], b: [], c: [] };
      let done = 0;
      let held = 0;
      for (const batch of batches(rows)) {
        const [p, b, c] = await Promise.all([
          this.store.sketches(batch, 'cms_packets'),
          this.store.sketches(batch, 'cms_bytes'),
          this.store.sketches(batch, 'candidates'),
        ]);
        task.p.push(...p.map(cmsToWire));
        task.b.push(...b.map(cmsToWire));
        task.c.push(...c.map(blockToWire));
        done += batch.length;
        for (let i = 0; i < batch.length; i++) held += p[i].cells.byteLength + b[i].cells.byteLength + c[i].byteSize;
        if (held < TASK_BYTES && done < rows.length) continue;
        held = 0;
        acc = await pool.run('flows', { acc, copy, ...task, keepIndex: keepIndex || done < rows.length });
        copy = false;
        task = { p: [], b: [], c: [] };
      }
      const m = acc!;
      return { cmsP: cmsFromWire(m.cmsP), cmsB: cmsFromWire(m.cmsB), candidates: blockFromWire(m.candidates) };
    }
    let cmsP = base ? mergedCms([base.cmsP]) : undefined;
    let cmsB = base ? mergedCms([base.cmsB]) : undefined;
    const union = new CandidateUnion(base?.candidates);
    for (const batch of batches(rows)) {
      const [p, b, c] = await Promise.all([
        this.store.sketches(batch, 'cms_packets'),
        this.store.sketches(batch, 'cms_bytes'),
        this.store.sketches(batch, 'candidates'),
      ]);
      cmsP = into(cmsP, p);
      cmsB = into(cmsB, b);
      union.add(c);
    }
    return { cmsP: cmsP ?? mergedCms([]), cmsB: cmsB ?? mergedCms([]), candidates: union.finish({ keepIndex }) };
  }

  /**
   * The rows' heavy-prefix counts merged (docs/sketch.md, "Heavy prefixes"); a row without them (written before they
   * were kept, or from sampled or older agents) adds its traffic to every level's floor.
   */
  prefixes(rows: PartialRef[]): Promise<PrefixCounts> {
    return this.store.memo('prefixes', rows, async () => {
      const out = new PrefixCounts();
      for (const batch of batches(rows)) {
        const list = await this.store.sketches(batch, 'prefixes');
        list.forEach((pc, i) =>
          out.add(pc ?? new PrefixCounts().addUnknown(Number(batch[i].packets), Number(batch[i].bytes))),
        );
      }
      return out;
    });
  }

  /** The merged CMS pair alone (a point estimate needs no candidates). */
  async cms(rows: PartialRef[]): Promise<{ cmsP: CountMinSketch; cmsB: CountMinSketch }> {
    let cmsP: CountMinSketch | undefined;
    let cmsB: CountMinSketch | undefined;
    for (const batch of batches(rows)) {
      const [p, b] = await Promise.all([
        this.store.sketches(batch, 'cms_packets'),
        this.store.sketches(batch, 'cms_bytes'),
      ]);
      cmsP = into(cmsP, p);
      cmsB = into(cmsB, b);
    }
    return { cmsP: cmsP ?? mergedCms([]), cmsB: cmsB ?? mergedCms([]) };
  }

  /**
   * Candidates matching `filter` (all when absent; applied before any cut), the RANK_SHORTLIST largest plain
   * estimates of them re-estimated on the merged sketches and ranked (shared by top flows, prefixes and HHH).
   * `completeAbove`: every flow not in `all` had at most this (the rows' floors, or the largest estimate the
   * shortlist cut); undefined when some row gave no floor (written before bounds were kept).
   */
  async ranked(
    rows: PartialRef[],
    by: RankBy,
    filter?: { id: string; match: (key: Uint8Array) => boolean },
  ): Promise<RankedFlows> {
    const m = await this.flows(rows);
    const pool = this.store.pool;
    const { all, floor, completeAbove } = await this.store.memo(`rank:${by}:${filter?.id ?? ''}`, rows, async () => {
      // Filters are functions, which cannot cross to a worker: filtered rankings stay on the event loop.
      if (pool && !filter)
        return pool.run('rank', {
          cmsP: cmsToWire(m.cmsP),
          cmsB: cmsToWire(m.cmsB),
          candidates: blockToWire(m.candidates),
          by,
          shortlist: RANK_SHORTLIST,
        });
      let block = m.candidates;
      if (filter) {
        const idx: number[] = [];
        for (let i = 0; i < block.size; i++) if (filter.match(block.key(i))) idx.push(i);
        block = block.pick(idx).withBounds(block.floor, block.sampled);
      }
      return rankBlock(block, m.cmsP, m.cmsB, by, RANK_SHORTLIST);
    });
    return {
      cmsP: m.cmsP,
      cmsB: m.cmsB,
      candidates: m.candidates.size,
      all,
      floor,
      completeAbove,
      sampled: m.candidates.sampled,
      summaryError: m.candidates.summaryError ?? { packets: 0, bytes: 0 },
    };
  }

  /** HLL union of one column over the rows. */
  hll(rows: PartialRef[], column: SketchColumn): Promise<HyperLogLog> {
    return this.store.memo(`hll:${column}`, rows, async () => {
      const pool = this.store.pool;
      if (pool) {
        let acc: HllWire | undefined;
        for (const batch of batches(rows)) {
          const list = await this.store.sketches(batch, column as 'hll_flows');
          acc = await pool.run('hll', { acc, copy: false, list: list.map(hllToWire) });
        }
        return acc ? hllFromWire(acc) : mergedHll([]);
      }
      let out: HyperLogLog | undefined;
      for (const batch of batches(rows)) {
        const list = await this.store.sketches(batch, column as 'hll_flows');
        if (!out) out = mergedHll(list);
        else for (const s of list) out.merge(s);
      }
      return out ?? mergedHll([]);
    });
  }
}

function flowsToWire(m: MergedFlows): FlowsWire {
  return { cmsP: cmsToWire(m.cmsP), cmsB: cmsToWire(m.cmsB), candidates: blockToWire(m.candidates) };
}

/** Merges a batch into the running CMS (a fresh one on the first batch; cached inputs are never changed). */
function into(acc: CountMinSketch | undefined, list: readonly CountMinSketch[]): CountMinSketch {
  if (!acc) return mergedCms(list);
  for (const s of list) acc.merge(s);
  return acc;
}
