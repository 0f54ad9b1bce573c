// One host with a clock minutes ahead must not make the rest of its partition late.
import { decode, encode } from '@tma/schema';
import { FleetSimulator } from '@tma/fleet-sim';
import { WindowMerger } from './window-merger';
import { MERGER_OPTIONS, NOW, T0 } from './merger.fixture';

describe('partition watermark with one bad clock', () => {
  it('keeps the other hosts on time: no late snapshots, one row per window', () => {
    const sim = new FleetSimulator({ hosts: 6, seed: 21, startMs: T0, intervalMs: 10_000 });
    const merger = new WindowMerger(MERGER_OPTIONS);
    merger.assign({ topic: 't', partition: 0, committed: 0, covered: [] });
    let offset = 0;
    let late = 0;
    const rows: { windowStart: number; ahead: boolean }[] = [];
    let ahead = '';
    for (let r = 0; r < 18; r++) {
      sim.nextRound().forEach((m, i) => {
        let value = m.value;
        if (i === 0) {
          const s = decode(value).snapshot;
          ahead = s.hostId;
          s.intervalStartMs += 9 * 60_000; // this host's clock runs 9 minutes ahead
          s.intervalEndMs += 9 * 60_000;
          value = encode(s);
        }
        const out = merger.ingest({ topic: 't', partition: 0, offset: offset++, value }, NOW);
        expect(out.kind).toBe('accepted');
        if (out.kind === 'accepted' && out.late) late++;
      });
      const taken = merger.takeFlush(NOW);
      for (const a of taken) rows.push({ windowStart: a.windowStart, ahead: a.hosts.has(ahead) });
      merger.confirmFlush(taken);
    }
    const normal = rows.filter((r) => !r.ahead);
    expect(late).toBe(0);
    // 18 rounds of 10 s: windows T0 and T0+1m close on the watermark; T0+2m is still open.
    expect(normal.map((r) => r.windowStart)).toEqual([T0, T0 + 60_000]);
    expect(rows.filter((r) => r.ahead)).toEqual([]); // its own windows close when the fleet gets there (or idle)
  });
});
