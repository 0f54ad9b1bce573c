// The merges a worker thread runs (merge-worker.ts), on sketches described as plain arrays (sketch-wire.ts):
// the same operations as SketchMerger's event-loop path, in the same order, so answers are identical whichever
// thread merged. Results are new arrays that the worker hands over (moved, not copied: transferList).
import { type CandidateBlock, topByEstimate, unionBlocks } from '@tma/rollup';
import {
  type CandidateFloor,
  CountMinSketch,
  type HeavyHitter,
  heavyHitters,
  HyperLogLog,
  type RankBy,
} from '@tma/sketch';
import {
  type BlockWire,
  blockFromWire,
  blockToWire,
  type CmsWire,
  cmsFromWire,
  cmsToWire,
  type HllWire,
  hllFromWire,
  hllToWire,
  reuseCms,
  reuseHll,
} from './sketch-wire';

export interface FlowsWire {
  cmsP: CmsWire;
  cmsB: CmsWire;
  candidates: BlockWire;
}

/** One batch of rows folded into a running merge (`acc`, changed in place unless `copy`: a kept merge). */
export interface FlowsTask {
  acc?: { cmsP: CmsWire; cmsB: CmsWire; candidates?: BlockWire };
  copy: boolean;
  p: CmsWire[];
  b: CmsWire[];
  c: BlockWire[];
  keepIndex: boolean;
}

export interface RankTask {
  cmsP: CmsWire;
  cmsB: CmsWire;
  candidates: BlockWire;
  by: RankBy;
  shortlist: number;
}

export interface RankResult {
  all: HeavyHitter[];
  floor: CandidateFloor | undefined;
  completeAbove: number | undefined;
}

export interface HllTask {
  acc?: HllWire;
  copy: boolean;
  list: HllWire[];
}

export interface MergeTasks {
  flows: [FlowsTask, FlowsWire];
  rank: [RankTask, RankResult];
  hll: [HllTask, HllWire];
}
export type MergeKind = keyof MergeTasks;

/** Folds `list` into `acc` (a fresh sketch when absent or when `copy`), through one scratch sketch for the inputs. */
function foldCms(acc: CmsWire | undefined, copy: boolean, list: CmsWire[]): CountMinSketch {
  const shape = acc ?? list[0];
  let out: CountMinSketch;
  if (acc && !copy) out = cmsFromWire(acc);
  else {
    out = new CountMinSketch(shape ? { depth: shape.depth, widthBits: shape.widthBits } : {});
    if (acc) out.merge(cmsFromWire(acc));
  }
  if (list.length) {
    const scratch = cmsFromWire(list[0]);
    for (const w of list) out.merge(reuseCms(scratch, w));
  }
  return out;
}

export function runFlows(t: FlowsTask): FlowsWire {
  const cmsP = foldCms(t.acc?.cmsP, t.copy, t.p);
  const cmsB = foldCms(t.acc?.cmsB, t.copy, t.b);
  const base = t.acc?.candidates && blockFromWire(t.acc.candidates);
  const candidates = unionBlocks(t.c.map(blockFromWire), base, { keepIndex: t.keepIndex });
  return { cmsP: cmsToWire(cmsP), cmsB: cmsToWire(cmsB), candidates: blockToWire(candidates) };
}

/** SketchMerger.ranked without a filter: the shortlist of the largest plain estimates, re-estimated and ranked. */
export function runRank(t: RankTask): RankResult {
  return rankBlock(blockFromWire(t.candidates), cmsFromWire(t.cmsP), cmsFromWire(t.cmsB), t.by, t.shortlist);
}

/** The shortlist of a candidate block by estimate, ranked; completeAbove also covers what the shortlist cut. */
export function rankBlock(
  block: CandidateBlock,
  cmsP: CountMinSketch,
  cmsB: CountMinSketch,
  by: RankBy,
  shortlist: number,
): RankResult {
  const rank = by === 'packets' ? cmsP : cmsB;
  const order = topByEstimate(block, rank, shortlist);
  // a candidate cut had at most its estimate (by the ranking weight)
  let cut = 0;
  if (order.length < block.size) {
    const kept = new Uint8Array(block.size);
    for (const i of order) kept[i] = 1;
    for (let i = 0; i < block.size; i++) if (!kept[i]) cut = Math.max(cut, rank.estimate(block.hi[i], block.lo[i]));
  }
  const f = block.floor;
  return {
    all: heavyHitters(block.pick(order).toArray(), cmsP, cmsB, { by, floor: f }),
    floor: f,
    completeAbove: f && Math.max(by === 'packets' ? f.packets : f.bytes, cut),
  };
}

export function runHll(t: HllTask): HllWire {
  const shape = t.acc ?? t.list[0];
  let out: HyperLogLog;
  if (t.acc && !t.copy) out = hllFromWire(t.acc);
  else {
    out = new HyperLogLog(shape ? { precision: shape.p } : {});
    if (t.acc) out.merge(hllFromWire(t.acc));
  }
  if (t.list.length) {
    const scratch = hllFromWire(t.list[0]);
    for (const w of t.list) out.merge(reuseHll(scratch, w));
  }
  return hllToWire(out);
}

export function runTask<K extends MergeKind>(kind: K, args: MergeTasks[K][0]): MergeTasks[K][1] {
  if (kind === 'flows') return runFlows(args as FlowsTask) as MergeTasks[K][1];
  if (kind === 'rank') return runRank(args as RankTask) as MergeTasks[K][1];
  if (kind === 'hll') return runHll(args as HllTask) as MergeTasks[K][1];
  throw new Error(`unknown merge task ${String(kind)}`);
}

/**
 * The buffers of a result's arrays, each once, that the worker hands over: its own (results, and inputs it received
 * as copies), never shared or empty ones.
 */
export function transferables(v: unknown, out = new Set<ArrayBuffer>(), depth = 0): ArrayBuffer[] {
  if (ArrayBuffer.isView(v)) {
    // (empty ones may be module constants such as CandidateBlock.empty's: never detached)
    if (v.buffer instanceof ArrayBuffer && v.buffer.byteLength > 0) out.add(v.buffer);
  } else if (v && typeof v === 'object' && depth < 3) {
    for (const x of Array.isArray(v) ? v : Object.values(v)) transferables(x, out, depth + 1);
  }
  return [...out];
}
