// Fleet traffic over time: exact packets and bytes per IP protocol per step, from the rows' protocol counters.
import { Injectable } from '@nestjs/common';
import { wireCount } from '../common/count';
import { PROTOCOL_LABELS } from '../common/params';
import { PartialStore } from '../partials/partial-store';
import { iso, scopedRows, stepStarts } from '../partials/scope';
import type { TrafficSeriesArgs } from './traffic.args';

@Injectable()
export class TrafficService {
  constructor(private readonly store: PartialStore) {}

  /** Exact packets and bytes per protocol per step (fleet traffic over time). */
  async protocolSeries({ range, step, filters }: TrafficSeriesArgs) {
    const { rows, scope } = await scopedRows(
      this.store,
      range,
      filters.hosts,
      step % 3_600_000 === 0,
      step % 86_400_000 === 0,
    );
    const buckets = stepStarts(range, step);
    const index = new Map(buckets.map((b, i) => [b, i]));
    // Exact sums (bigint): a range of busy hours passes 2^53 bytes.
    const zeros = () => buckets.map(() => 0n);
    const per = new Map<number, { packets: bigint[]; bytes: bigint[]; all: bigint }>();
    const totals = { packets: zeros(), bytes: zeros() };
    for (const r of rows) {
      const i = index.get(Math.floor(r.windowStart / step) * step);
      if (i === undefined) continue;
      r.protocols.forEach((p, j) => {
        if (filters.protocol !== undefined && p !== filters.protocol) return;
        let s = per.get(p);
        if (!s) per.set(p, (s = { packets: zeros(), bytes: zeros(), all: 0n }));
        s.all += r.protocolPackets[j];
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
      total: { packets: totals.packets.map(wireCount), bytes: totals.bytes.map(wireCount) },
      protocols: [...per.entries()]
        .sort((a, b) => (b[1].all > a[1].all ? 1 : b[1].all < a[1].all ? -1 : 0))
        .map(([protocol, s]) => ({
          protocol,
          name: PROTOCOL_LABELS.get(protocol) ?? null,
          packets: s.packets.map(wireCount),
          bytes: s.bytes.map(wireCount),
        })),
    };
  }
}
