// The merge worker pool: answers equal to the event-loop merges (flows with and without a base of hours, rankings by
// packets and bytes, HLL unions) on sketches with real flow keys; a bounded queue that refuses with 503; waiting
// tasks dropped when their request's client goes away; close() refusing waiting and new tasks.
import { ServiceUnavailableException } from '@nestjs/common';
import { CandidateBlock } from '@tma/rollup';
import { type Candidate, CountMinSketch, currentHashSeed, flowKey, hashKeyInto, HyperLogLog } from '@tma/sketch';
import { RequestCancelledError, withRequestSignal } from '../common/request-signal';
import { MergePool } from './merge-pool';
import type { PartialRef } from './partial-row';
import type { PartialStore } from './partial-store';
import { SketchMerger } from './sketch-merger';
import { partialRef } from '../test-support/partial-ref';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = Array.from({ length: 3000 }, (_, i) =>
  flowKey({ src: `10.0.${i >> 8}.${i & 255}`, dst: `192.0.2.${i % 200}`, sport: 1000 + i, dport: 443, proto: 6 }),
);

const ref = (i: number, tier: '1m' | '1h'): PartialRef =>
  partialRef({ tier, windowStart: i * 60_000, epoch: 1, firstOffset: i, packets: 0n, bytes: 0n });

/** 10 hour rows and 150 minute rows, each with 300 of the keys (overlapping), their CMS pair and HLLs. */
function dataset() {
  const rows = [
    ...Array.from({ length: 10 }, (_, i) => ref(i, '1h')),
    ...Array.from({ length: 150 }, (_, i) => ref(100 + i, '1m')),
  ];
  const decoded = new Map<string, unknown>();
  const h = new Uint32Array(2);
  for (const r of rows) {
    const rnd = rng(r.firstOffset + 1);
    const cmsP = new CountMinSketch();
    const cmsB = new CountMinSketch();
    const hll = new HyperLogLog();
    const list: Candidate[] = [];
    for (let j = 0; j < 300; j++) {
      const key = KEYS[Math.floor(rnd() * KEYS.length)];
      const packets = 1 + Math.floor(rnd() * 5000);
      hashKeyInto(key, h);
      cmsP.add(h[0], h[1], packets);
      cmsB.add(h[0], h[1], packets * 700);
      hll.add(h[0], h[1]);
      if (!list.some((c) => c.key === key))
        list.push({ key, packets, bytes: packets * 700, sincePackets: packets >> 1 });
    }
    const block = CandidateBlock.from({
      candidates: list,
      floor: { packets: 40, bytes: 40 * 1500 },
      sampled: false,
    } as never);
    decoded.set(`${r.id}|cms_packets`, cmsP);
    decoded.set(`${r.id}|cms_bytes`, cmsB);
    decoded.set(`${r.id}|candidates`, block);
    decoded.set(`${r.id}|hll_flows`, hll);
  }
  return { rows, decoded };
}

function store(decoded: Map<string, unknown>, pool?: MergePool): PartialStore {
  return {
    pool,
    sketches: async (list: readonly PartialRef[], column: string) => list.map((r) => decoded.get(`${r.id}|${column}`)),
    memo: <T>(_kind: string, _rows: readonly PartialRef[], compute: () => Promise<T>) => compute(),
  } as unknown as PartialStore;
}

describe('MergePool', () => {
  let pool: MergePool | undefined;
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  it('gives the same merges and rankings as the event loop', async () => {
    const { rows, decoded } = dataset();
    pool = new MergePool({ workers: 2, queue: 64, seed: currentHashSeed() });
    const here = new SketchMerger(store(decoded));
    const there = new SketchMerger(store(decoded, pool));
    for (const set of [rows, rows.filter((r) => r.tier === '1m'), rows.slice(0, 12)]) {
      const a = await here.flows(set);
      const b = await there.flows(set);
      expect(b.cmsP.total).toBe(a.cmsP.total);
      expect(Array.from(b.cmsP.cells)).toEqual(Array.from(a.cmsP.cells));
      expect(Array.from(b.cmsB.cells)).toEqual(Array.from(a.cmsB.cells));
      expect(b.candidates.size).toBe(a.candidates.size);
      expect(b.candidates.toArray()).toEqual(a.candidates.toArray());
      expect(b.candidates.floor).toEqual(a.candidates.floor);
      for (const by of ['packets', 'bytes'] as const) {
        const ra = await here.ranked(set, by);
        const rb = await there.ranked(set, by);
        expect(rb.all.length).toBeGreaterThan(0);
        expect(rb).toEqual(ra);
      }
      const filter = { id: 'odd', match: (k: Uint8Array) => (k[15] & 1) === 1 };
      expect(await there.ranked(set, 'packets', filter)).toEqual(await here.ranked(set, 'packets', filter));
      const ha = await here.hll(set, 'hll_flows');
      const hb = await there.hll(set, 'hll_flows');
      expect(Array.from(hb.registers)).toEqual(Array.from(ha.registers));
      expect(hb.estimate()).toBe(ha.estimate());
    }
    expect(pool.counts.run).toBeGreaterThan(10);
  }, 60_000);

  it('refuses with 503 when the queue is full, and runs what it took', async () => {
    pool = new MergePool({ workers: 1, queue: 1, seed: currentHashSeed() });
    const task = () => pool!.run('hll', { copy: false, list: [{ p: 14, registers: new Uint8Array(16384) }] });
    const running = task();
    const waiting = task();
    await expect(task()).rejects.toBeInstanceOf(ServiceUnavailableException);
    expect(pool.counts.refused).toBe(1);
    await expect(running).resolves.toMatchObject({ p: 14 });
    await expect(waiting).resolves.toMatchObject({ p: 14 });
  });

  it("drops a waiting task when its request's client goes away", async () => {
    pool = new MergePool({ workers: 1, queue: 8, seed: currentHashSeed() });
    const list = [{ p: 14, registers: new Uint8Array(16384) }];
    const running = pool.run('hll', { copy: false, list });
    const abort = new AbortController();
    const waiting = withRequestSignal(abort.signal, () => pool!.run('hll', { copy: false, list }));
    abort.abort();
    await expect(waiting).rejects.toBeInstanceOf(RequestCancelledError);
    await running;
    expect(pool.counts).toMatchObject({ run: 1, cancelled: 1 });
    // an already cancelled request gets no task at all
    await expect(withRequestSignal(abort.signal, () => pool!.run('hll', { copy: false, list }))).rejects.toBeInstanceOf(
      RequestCancelledError,
    );
  });

  it('close() lets the running task finish, refuses the waiting and new ones', async () => {
    pool = new MergePool({ workers: 1, queue: 8, seed: currentHashSeed() });
    const list = [{ p: 14, registers: new Uint8Array(16384).fill(3) }];
    const running = pool.run('hll', { copy: false, list });
    const waiting = pool.run('hll', { copy: false, list });
    const closed = pool.close();
    await expect(waiting).rejects.toBeInstanceOf(ServiceUnavailableException);
    await expect(running).resolves.toMatchObject({ p: 14 });
    await closed;
    await expect(pool.run('hll', { copy: false, list })).rejects.toBeInstanceOf(ServiceUnavailableException);
  });
});
