// Hostile snapshots: every field is checked before anything is merged, and what would overflow a window is refused.
import { decode, encode, type SketchSnapshot } from '@tma/schema';
import { FleetSimulator } from '@tma/fleet-sim';
import { CountMinSketch, encodeCountMinSketch } from '@tma/sketch';
import { MAX_SAMPLING_RATE, MAX_TEXT_LENGTH, validateMessage } from './validate';
import { WindowMerger } from './window-merger';
import { partialRowFromAccumulator } from './rows';
import { MERGER_OPTIONS, NOW, T0 } from './merger.fixture';

const DAY = 86_400_000;
const sim = new FleetSimulator({ hosts: 4, seed: 5, startMs: T0, intervalMs: 10_000 });
const messages = sim.nextRound().map((m) => m.value);
const base = messages.map((m) => decode(m).snapshot);
const options = { nowMs: NOW, maxFutureMs: 600_000, maxPastMs: 7 * DAY };

function variant(change: (s: SketchSnapshot) => void, i = 0): Buffer {
  const s = decode(messages[i]).snapshot; // a fresh copy
  change(s);
  return encode(s);
}

function reason(value: Buffer, o = options): string {
  try {
    validateMessage(value, o);
    return 'accepted';
  } catch (err) {
    return (err as { reason?: string }).reason ?? `threw ${(err as Error).message}`;
  }
}

describe('validateMessage on hostile fields', () => {
  it('accepts the simulated fleet', () => {
    for (let i = 0; i < base.length; i++) expect(reason(variant(() => undefined, i))).toBe('accepted');
  });

  it('refuses negative candidate counts', () => {
    expect(reason(variant((s) => (s.candidates[0].packets = -1)))).toBe('invalid-count');
    expect(reason(variant((s) => (s.candidates[0].bytes = -1)))).toBe('invalid-count');
  });

  it('refuses negative totals, protocol counts, evictions and drops', () => {
    expect(reason(variant((s) => (s.totals.packets = -1)))).toBe('invalid-count');
    expect(reason(variant((s) => (s.totals.protocols[0].bytes = -5)))).toBe('invalid-count');
    expect(reason(variant((s) => (s.candidateEvictions = -1)))).toBe('invalid-count');
    expect(reason(variant((s) => (s.spoolDrops = -1)))).toBe('invalid-count');
    expect(reason(variant((s) => (s.sequence = -1)))).toBe('invalid-count');
  });

  it('bounds the sampling rate', () => {
    expect(reason(variant((s) => (s.samplingRate = 2 ** 31 - 1)))).toBe('invalid-sampling');
    expect(reason(variant((s) => (s.samplingRate = MAX_SAMPLING_RATE + 1)))).toBe('invalid-sampling');
    expect(reason(variant((s) => (s.samplingRate = 0)))).toBe('invalid-sampling');
    expect(reason(variant((s) => (s.samplingRate = MAX_SAMPLING_RATE)))).toBe('accepted');
  });

  it('heavy prefixes: refuses unknown levels, prefix bytes of the wrong length, lower above upper', () => {
    expect(reason(variant((s) => (s.heavyPrefixes[0].length = 20)))).toBe('invalid-prefix');
    expect(reason(variant((s) => (s.heavyPrefixes[0].family = 5)))).toBe('invalid-prefix');
    expect(reason(variant((s) => (s.heavyPrefixes[0].prefix = Buffer.alloc(8))))).toBe('invalid-prefix');
    expect(reason(variant((s) => (s.prefixFloors[0].length = 12)))).toBe('invalid-prefix');
    expect(reason(variant((s) => (s.heavyPrefixes[0].sinceBytes = s.heavyPrefixes[0].bytes + 1)))).toBe(
      'invalid-count',
    );
    expect(reason(variant((s) => (s.heavyPrefixes[0].packets = -1)))).toBe('invalid-count');
    expect(reason(variant(() => undefined))).toBe('accepted');
  });

  it('refuses protocols outside 0..255', () => {
    expect(reason(variant((s) => (s.totals.protocols[0].protocol = 256)))).toBe('invalid-protocol');
    expect(reason(variant((s) => (s.totals.protocols[0].protocol = -1)))).toBe('invalid-protocol');
  });

  it('refuses intervals far in the past as well as in the future', () => {
    const shift = (s: SketchSnapshot, ms: number) => {
      s.intervalStartMs += ms;
      s.intervalEndMs += ms;
    };
    expect(reason(variant((s) => shift(s, NOW - T0 + 3_600_000)))).toBe('future-interval');
    expect(reason(variant((s) => shift(s, -8 * DAY)))).toBe('past-interval');
    expect(reason(variant((s) => shift(s, -6 * DAY)))).toBe('accepted');
    expect(
      reason(
        variant((s) => shift(s, -6 * DAY)),
        { ...options, maxPastMs: DAY },
      ),
    ).toBe('past-interval');
  });

  it('bounds every text field', () => {
    const long = 'x'.repeat(MAX_TEXT_LENGTH + 1);
    expect(reason(variant((s) => (s.hostId = long)))).toBe('invalid-text');
    expect(reason(variant((s) => (s.agentId = long)))).toBe('invalid-text');
    expect(reason(variant((s) => (s.bootId = long)))).toBe('invalid-text');
    expect(reason(variant((s) => (s.agentVersion = long)))).toBe('invalid-text');
    expect(reason(variant((s) => (s.hostId = '')))).toBe('invalid-text');
    expect(reason(variant((s) => (s.agentVersion = 'x'.repeat(MAX_TEXT_LENGTH))))).toBe('accepted');
  });

  it('refuses scaled candidate counts past 2^53', () => {
    expect(
      reason(
        variant((s) => {
          s.samplingRate = MAX_SAMPLING_RATE;
          s.candidates[0].packets = 2 ** 40;
        }),
      ),
    ).toBe('count-overflow');
  });
});

describe('WindowMerger refuses a merge that would pass 2^53', () => {
  const big = 5e15; // two of these pass Number.MAX_SAFE_INTEGER (9.007e15)
  const cms = new CountMinSketch();
  cms.addKey(base[0].candidates[0].key, big);
  const bigCms = Buffer.from(encodeCountMinSketch(cms));

  function mergeTwo(change: (s: SketchSnapshot) => void) {
    const m = new WindowMerger(MERGER_OPTIONS);
    m.assign({ topic: 't', partition: 0, committed: 0, covered: [] });
    const out = [0, 1].map((i) => m.ingest({ topic: 't', partition: 0, offset: i, value: variant(change, i) }, NOW));
    const rows = m.takeFlush(NOW, true).map((a) => partialRowFromAccumulator(a, 'w', 3600));
    return { out: out.map((o) => (o.kind === 'rejected' ? o.reason : o.kind)), rows };
  }

  it.each([
    ['totals', (s: SketchSnapshot) => (s.totals.packets = big)],
    ['protocol totals', (s: SketchSnapshot) => (s.totals.protocols[0].bytes = big)],
    ['candidate counts', (s: SketchSnapshot) => (s.candidates[0].packets = big)],
    ['CMS cells', (s: SketchSnapshot) => (s.cmsPackets = bigCms)],
  ])('%s: the second snapshot is dead-lettered, the row is still written', (_name, change) => {
    const { out, rows } = mergeTwo((s) => {
      change(s);
      // both candidates on one key, so the union adds them up
      s.candidates[0].key = base[0].candidates[0].key;
    });
    expect(out).toEqual(['accepted', 'count-overflow']);
    expect(rows).toHaveLength(1);
    expect(rows[0].snapshots).toBe(1);
  });
});

describe('sampled snapshots (samplingRate > 1)', () => {
  it('keep exact totals as sent and scale only what is counted after the draw (CMS, candidates)', () => {
    const rate = 8;
    const plain = validateMessage(messages[0], options);
    const sampled = validateMessage(
      variant((s) => (s.samplingRate = rate)),
      options,
    );
    const s = plain.snapshot;
    expect(sampled.packets).toBe(s.totals.packets);
    expect(sampled.bytes).toBe(s.totals.bytes);
    expect(sampled.bounds.cmsPackets).toBe(plain.bounds.cmsPackets * rate);
    expect(sampled.candidates.map((c) => c.packets)).toEqual(s.candidates.map((c) => c.packets * rate));

    const m = new WindowMerger(MERGER_OPTIONS);
    m.assign({ topic: 't', partition: 0, committed: 0, covered: [] });
    m.ingest({ topic: 't', partition: 0, offset: 0, value: variant((x) => (x.samplingRate = rate)) }, NOW);
    const [acc] = m.takeFlush(NOW, true);
    expect(acc.packets).toBe(s.totals.packets);
    expect(acc.hosts.get(s.hostId)?.packets).toBe(s.totals.packets);
    for (const p of s.totals.protocols)
      expect(acc.protocols.get(p.protocol)).toEqual({ packets: p.packets, bytes: p.bytes });
    expect(acc.cmsPackets.total).toBe(plain.bounds.cmsPackets * rate);
  });
});
