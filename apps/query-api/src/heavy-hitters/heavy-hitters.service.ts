// Hierarchical heavy hitters over source or destination prefixes, from the ranked candidates of the range's rows,
// and heavy prefixes from the prefix counts the kernel keeps (counted): every prefix at the counted levels whose
// upper bound reaches the threshold, with lower and upper bounds, however small its flows are.
import { Injectable } from '@nestjs/common';
import { hierarchicalHeavyHitters, type PrefixCounts, type PrefixSide, type RankBy } from '@tma/sketch';
import { hasFlowFilter, matchesFlowFilter } from '../flows/flow-filter';
import { PartialStore } from '../partials/partial-store';
import { scopedRows } from '../partials/scope';
import { SketchMerger } from '../partials/sketch-merger';
import type { HeavyHittersArgs } from './heavy-hitters.args';
import { icicle } from './icicle';

@Injectable()
export class HeavyHittersService {
  constructor(
    private readonly store: PartialStore,
    private readonly merger: SketchMerger,
  ) {}

  async heavyHitters({ range, filters, side, phi, by }: HeavyHittersArgs) {
    const { rows, scope } = await scopedRows(this.store, range, filters.hosts);
    const { cmsP, cmsB, all } = await this.merger.ranked(rows, by);
    const flows = hasFlowFilter(filters) ? all.filter((h) => matchesFlowFilter(filters, h.key)) : all;
    const ranking = by === 'packets' ? cmsP : cmsB;
    const total = ranking.total;
    const hhh = hierarchicalHeavyHitters(flows, { side, phi, total, by });
    const threshold = phi * total;
    // Prefix counts cover whole prefixes: they cannot apply flow filters (hosts filter through the rows).
    const counted = hasFlowFilter(filters)
      ? null
      : countedPrefixes(await this.merger.prefixes(rows), side === 'src' ? 0 : 1, by, threshold);
    return {
      scope,
      side,
      phi,
      by,
      total,
      threshold,
      bound: ranking.errorBound(),
      confidence: 1 - ranking.delta,
      prefixes: hhh.map((h) => ({ ...h, boundPerFlow: ranking.errorBound() })),
      icicle: icicle(flows, side, by, total),
      counted,
    };
  }
}

/**
 * Heavy prefixes from prefix counts: `prefixes` lists every counted prefix whose upper bound reaches the threshold
 * (certain when its lower bound does too); a level is complete when its floor (the most any unlisted prefix there can
 * have) is below the threshold, so no heavy prefix of that level can be missing.
 */
function countedPrefixes(pc: PrefixCounts, side: PrefixSide, by: RankBy, threshold: number) {
  const levels = pc.floors(side, by).map((l) => ({ ...l, complete: l.floor < threshold }));
  return {
    levels,
    complete: levels.every((l) => l.complete),
    prefixes: pc.heavy(side, by, Math.max(threshold, 1)),
  };
}
