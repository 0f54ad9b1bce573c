// Distinct counts (flows, sources, destinations, destination ports): HLL unions of the range's rows, whole or per
// step, each with its relative standard error.
import { Injectable } from '@nestjs/common';
import { PartialStore } from '../partials/partial-store';
import type { PartialRef } from '../partials/partial-row';
import { iso, scopedRows, stepStarts } from '../partials/scope';
import { MERGE_BATCH, SketchMerger } from '../partials/sketch-merger';
import {
  type CardinalityArgs,
  type CardinalityMetric,
  type CardinalitySeriesArgs,
  cardinalityColumn,
} from './cardinality.args';

export interface HllValue {
  estimate: number;
  /** Relative standard error (1.04/√m). */
  standardError: number;
  /** estimate ± 2 standard errors (≈95 %). */
  low95: number;
  high95: number;
}

function hllValue(h: { estimate(): number; standardError: number }): HllValue {
  const estimate = h.estimate();
  const se = h.standardError;
  return {
    estimate: Math.round(estimate * 100) / 100,
    standardError: se,
    low95: Math.max(0, estimate * (1 - 2 * se)),
    high95: estimate * (1 + 2 * se),
  };
}

@Injectable()
export class CardinalityService {
  constructor(
    private readonly store: PartialStore,
    private readonly merger: SketchMerger,
  ) {}

  async cardinality({ range, hosts, metrics }: CardinalityArgs) {
    const { rows, scope } = await scopedRows(this.store, range, hosts);
    const out: Partial<Record<CardinalityMetric, HllValue>> = {};
    await Promise.all(
      metrics.map(async (m) => {
        out[m] = hllValue(await this.merger.hll(rows, cardinalityColumn(m)));
      }),
    );
    return { scope, ...out };
  }

  async cardinalitySeries({ range, step, hosts, metrics }: CardinalitySeriesArgs) {
    // 1 h rows fit only steps made of whole hours, 1 d rows steps of whole days.
    const { rows, scope } = await scopedRows(this.store, range, hosts, step % 3_600_000 === 0, step % 86_400_000 === 0);
    const buckets = stepStarts(range, step);
    const byBucket = new Map<number, PartialRef[]>();
    for (const r of rows) {
      const b = Math.floor(r.windowStart / step) * step;
      (byBucket.get(b) ?? byBucket.set(b, []).get(b)!).push(r);
    }
    const series: Record<string, { t: string; value: HllValue | null }[]> = {};
    // Buckets in groups of about MERGE_BATCH rows: one read for the group's rows, then each bucket's union, so only
    // a group's decoded sketches are held at a time.
    const groups: number[][] = [[]];
    let held = 0;
    for (const b of buckets) {
      const n = byBucket.get(b)?.length ?? 0;
      if (held > 0 && held + n > MERGE_BATCH) {
        groups.push([]);
        held = 0;
      }
      groups[groups.length - 1].push(b);
      held += n;
    }
    for (const m of metrics) {
      const column = cardinalityColumn(m);
      const points: { t: string; value: HllValue | null }[] = [];
      for (const group of groups) {
        const groupRows = group.flatMap((b) => byBucket.get(b) ?? []);
        if (groupRows.length) await this.store.sketches(groupRows, column);
        for (const b of group) {
          const list = byBucket.get(b);
          points.push({ t: iso(b), value: list ? hllValue(await this.merger.hll(list, column)) : null });
        }
      }
      series[m] = points;
    }
    return { scope, stepSeconds: step / 1000, series };
  }
}
