// Hierarchical heavy hitters over source or destination prefixes, from the ranked candidates of the range's rows.
import { Injectable } from '@nestjs/common';
import { hierarchicalHeavyHitters } from '@tma/sketch';
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
    return {
      scope,
      side,
      phi,
      by,
      total,
      threshold: phi * total,
      bound: ranking.errorBound(),
      confidence: 1 - ranking.delta,
      prefixes: hhh.map((h) => ({ ...h, boundPerFlow: ranking.errorBound() })),
      icicle: icicle(flows, side, by, total),
    };
  }
}
