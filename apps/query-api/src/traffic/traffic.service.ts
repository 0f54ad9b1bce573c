// Fleet traffic over time: exact packets and bytes per IP protocol per step, from the rows' protocol counters.
import { Injectable } from '@nestjs/common';
import { PROTOCOL_LABELS } from '../common/params';
import { PartialStore } from '../partials/partial-store';
import { iso, scopedRows, stepStarts } from '../partials/scope';
import type { TrafficSeriesArgs } from './traffic.args';

@Injectable()
export class TrafficService {
  constructor(private readonly store: PartialStore) {}

  /** Exact packets and bytes per protocol per step (fleet traffic over time). */
  async protocolSeries({ range, step, filters }: TrafficSeriesArgs) {
    const { rows, scope } = await scopedRows(this.store, range, filters.hosts, step % 3_600_000 === 0);
    const buckets = stepStarts(range, step);
    const index = new Map(buckets.map((b, i) => [b, i]));
    const per = new Map<number, { packets: number[]; bytes: number[] }>();
    const totals = { packets: buckets.map(() => 0), bytes: buckets.map(() => 0) };
    for (const r of rows) {
      const i = index.get(Math.floor(r.windowStart / step) * step);
      if (i === undefined) continue;
      r.protocols.forEach((p, j) => {
        if (filters.protocol !== undefined && p !== filters.protocol) return;
        let s = per.get(p);
        if (!s) per.set(p, (s = { packets: buckets.map(() => 0), bytes: buckets.map(() => 0) }));
        s.packets[i] += r.protocolPackets[j];
        s.bytes[i] += r.protocolBytes[j];
        totals.packets[i] += r.protocolPackets[j];
        totals.bytes[i] += r.protocolBytes[j];
      });
    }
    return {
      scope,
      stepSeconds: step / 1000,
      times: buckets.map(iso),
      total: totals,
      protocols: [...per.entries()]
        .sort((a, b) => b[1].packets.reduce((x, y) => x + y, 0) - a[1].packets.reduce((x, y) => x + y, 0))
        .map(([protocol, s]) => ({
          protocol,
          name: PROTOCOL_LABELS.get(protocol) ?? null,
          packets: s.packets,
          bytes: s.bytes,
        })),
    };
  }
}
