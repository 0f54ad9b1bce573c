// A PartialRef of a made-up row (what the row listings give, no sketches), for the selection and merge specs: one
// count of everything unless the spec says otherwise; the id is built from the key fields as toRef builds it.
import type { PartialRef } from '../partials/partial-row';

export function partialRef(o: Partial<PartialRef> & Pick<PartialRef, 'tier' | 'windowStart'>): PartialRef {
  const r: PartialRef = {
    id: '',
    topic: 't',
    partition: 0,
    epoch: 0,
    firstOffset: 0,
    windowSeconds: o.tier === '1h' ? 3600 : o.tier === '1d' ? 86_400 : 60,
    version: '1',
    packets: 1n,
    bytes: 1n,
    snapshots: 1,
    gaps: 0,
    protocols: [],
    protocolPackets: [],
    protocolBytes: [],
    seedId: 0,
    ...o,
  };
  r.id ||= `${r.tier}|${r.windowStart / 1000}|${r.topic}|${r.partition}|${r.firstOffset}|${r.epoch}`;
  return r;
}
