// Accuracy against theory over named, seeded datasets (uniform, Zipf 1.1, Zipf 1.5, mice + elephants):
// CMS never undercounts and exceeds ε·N at most as often as δ allows; HLL stays within 3 standard errors from 10 to
// 10^7 and is exact at small cardinalities; merging k hosts equals the sketch of the union stream exactly; heavy
// hitters have 100 % recall and ≥ 99 % precision at φ = 0.1 %.
import { CountMinSketch } from './cms';
import { Candidate, heavyHitters, mergeCandidates, splitTopK } from './heavy-hitters';
import { hashWordsInto } from './hash';
import { HyperLogLog } from './hll';
import { toHex } from './keys';
import { CandidateTable, DATASETS, Rng, countStream, makeFlows, makeStream, packetBytes } from './testing';

const FLOWS = 100_000;
const PACKETS = 1_000_000;
const flows = makeFlows(FLOWS, new Rng(7));
const streams = new Map(DATASETS.map((name, i) => [name, makeStream(name, FLOWS, PACKETS, new Rng(100 + i))]));

describe('CMS accuracy against ε·N at 1 − δ', () => {
  // Binomial slack: the observed failure fraction over Q queries may exceed δ by 3·sqrt(δ(1−δ)/Q) by chance.
  const slack = (delta: number, q: number) => 3 * Math.sqrt((delta * (1 - delta)) / q);

  for (const name of DATASETS) {
    for (const params of [{}, { depth: 2, widthBits: 6 }]) {
      it(`${name}, ${params.widthBits ? 'narrow 2×64 sketch' : 'fleet parameters'}: never under, over by > ε·N at most δ (+ slack) of the time`, () => {
        const counts = countStream(streams.get(name)!, FLOWS);
        const cms = new CountMinSketch(params);
        for (let f = 0; f < FLOWS; f++) if (counts[f] > 0) cms.add(flows.hi[f], flows.lo[f], counts[f]);
        expect(cms.total).toBe(PACKETS);
        const bound = cms.errorBound();
        let under = 0;
        let over = 0;
        for (let f = 0; f < FLOWS; f++) {
          const err = cms.estimate(flows.hi[f], flows.lo[f]) - counts[f];
          if (err < 0) under++;
          if (err > bound) over++;
        }
        expect(under).toBe(0);
        expect(over / FLOWS).toBeLessThanOrEqual(cms.delta + slack(cms.delta, FLOWS));
      });
    }
  }
});

describe('HLL accuracy', () => {
  const h = new Uint32Array(2);
  const words = new Uint32Array(2);

  /** n distinct items through the real hash (2-word keys), or through uniform random hashes beyond 10^6. */
  function fill(hll: HyperLogLog, n: number, seed: number): void {
    if (n <= 1_000_000) {
      words[1] = seed;
      for (let i = 0; i < n; i++) {
        words[0] = i;
        hashWordsInto(words, 0, 2, h);
        hll.add(h[0], h[1]);
      }
    } else {
      const rng = new Rng(seed);
      for (let i = 0; i < n; i++) hll.add(rng.u32(), rng.u32());
    }
  }

  it.each([10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000])('cardinality %d within 3 standard errors', (n) => {
    const hll = new HyperLogLog();
    fill(hll, n, 0xc0ffee);
    const rel = Math.abs(hll.estimate() - n) / n;
    expect(rel).toBeLessThanOrEqual(3 * hll.standardError);
  });

  it.each([1e8, 1e9, 1e11])('cardinality %d (registers simulated directly) within 3 standard errors', (n) => {
    // With n items spread over m registers (Poissonised), a register's value R satisfies
    // P(R ≤ r) = exp(−(n/m)·2^−r) for r ≤ 64 − p, and R = 65 − p otherwise: sample each register by inversion.
    const hll = new HyperLogLog();
    const rng = new Rng(n % 1e6);
    const lambda = n / hll.m;
    for (let i = 0; i < hll.m; i++) {
      const u = 1 - rng.next(); // (0, 1]
      const r = u === 1 ? 0 : Math.max(0, Math.ceil(Math.log2(lambda / -Math.log(u))));
      hll.registers[i] = Math.min(r, hll.rankMax);
    }
    expect(Math.abs(hll.estimate() - n) / n).toBeLessThanOrEqual(3 * hll.standardError);
  });

  it('RMS relative error over 24 seeds at 20 000 and 200 000 is close to 1.04/√m', () => {
    for (const n of [20_000, 200_000]) {
      let sq = 0;
      const hll = new HyperLogLog();
      for (let s = 0; s < 24; s++) {
        hll.clear();
        fill(hll, n, 1000 + s);
        sq += ((hll.estimate() - n) / n) ** 2;
      }
      // The sample RMS of 24 draws is within ±45 % of σ with overwhelming probability.
      expect(Math.sqrt(sq / 24)).toBeLessThanOrEqual(1.45 * hll.standardError);
    }
  });

  it('is exact (rounded) at small cardinalities while no two items share a register, and within 3 standard errors (+1) up to 2000', () => {
    const hll = new HyperLogLog();
    expect(hll.estimate()).toBe(0);
    for (const seed of [77, 78, 79]) {
      hll.clear();
      words[1] = seed;
      let exactChecks = 0;
      for (let n = 1; n <= 2000; n++) {
        words[0] = n;
        hashWordsInto(words, 0, 2, h);
        hll.add(h[0], h[1]);
        const est = hll.estimate();
        // Without collisions the estimate is n + n²/2m (+0.3 at n = 100): exact after rounding up to ~100 items.
        if (n <= 100 && hll.nonZeroRegisters() === n) {
          expect(Math.round(est)).toBe(n);
          exactChecks++;
        }
        expect(Math.abs(est - n)).toBeLessThanOrEqual(3 * hll.standardError * n + 1);
      }
      expect(exactChecks).toBeGreaterThanOrEqual(30);
    }
  });
});

describe('merging k hosts equals the sketch of the union stream exactly', () => {
  it.each(DATASETS.map((d) => [d]))('%s over 8 hosts', (name) => {
    const stream = streams.get(name)!;
    const rng = new Rng(5);
    const k = 8;
    const hosts = Array.from({ length: k }, () => ({
      packets: new CountMinSketch(),
      bytes: new CountMinSketch(),
      distinct: new HyperLogLog(),
    }));
    const union = { packets: new CountMinSketch(), bytes: new CountMinSketch(), distinct: new HyperLogLog() };
    for (let i = 0; i < stream.length; i++) {
      const f = stream[i];
      const hi = flows.hi[f];
      const lo = flows.lo[f];
      const b = packetBytes(f, i);
      const host = hosts[rng.int(k)];
      host.packets.add(hi, lo, 1);
      host.bytes.add(hi, lo, b);
      host.distinct.add(hi, lo);
      union.packets.add(hi, lo, 1);
      union.bytes.add(hi, lo, b);
      union.distinct.add(hi, lo);
    }
    // Merge in a shuffled order into a fresh window, and as a tree: both must equal the union bit for bit.
    const window = { packets: new CountMinSketch(), bytes: new CountMinSketch(), distinct: new HyperLogLog() };
    for (const i of [3, 0, 7, 1, 6, 2, 5, 4]) {
      window.packets.merge(hosts[i].packets);
      window.bytes.merge(hosts[i].bytes);
      window.distinct.merge(hosts[i].distinct);
    }
    const left = hosts[0].packets
      .clone()
      .merge(hosts[1].packets)
      .merge(hosts[2].packets.clone().merge(hosts[3].packets));
    const right = hosts[4].packets
      .clone()
      .merge(hosts[5].packets)
      .merge(hosts[6].packets.clone().merge(hosts[7].packets));
    const tree = left.merge(right);
    const same = (a: Float64Array | Uint8Array, b: Float64Array | Uint8Array) =>
      Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    expect(same(window.packets.cells, union.packets.cells)).toBe(true);
    expect(same(window.bytes.cells, union.bytes.cells)).toBe(true);
    expect(same(window.distinct.registers, union.distinct.registers)).toBe(true);
    expect(same(tree.cells, union.packets.cells)).toBe(true);
    expect(window.packets.total).toBe(PACKETS);
    expect(window.bytes.total).toBe(union.bytes.total);
  });
});

describe('heavy hitters over hosts with bounded candidate tables', () => {
  const PHI = 0.001;
  const K = 4;

  const runs = new Map<string, ReturnType<typeof simulate>>();
  const simulated = (name: (typeof DATASETS)[number]) => runs.get(name) ?? runs.set(name, simulate(name)).get(name)!;

  /** The stream spread over K hosts, each with its CMS and a model of the kernel's candidate table. */
  function simulate(name: (typeof DATASETS)[number]) {
    const stream = streams.get(name)!;
    const rng = new Rng(11);
    const hosts = Array.from({ length: K }, () => ({
      packets: new CountMinSketch(),
      bytes: new CountMinSketch(),
      table: new CandidateTable(),
    }));
    const hostCounts = hosts.map(() => new Float64Array(FLOWS));
    for (let i = 0; i < stream.length; i++) {
      const f = stream[i];
      const hi = flows.hi[f];
      const lo = flows.lo[f];
      const b = packetBytes(f, i);
      const h = rng.int(K);
      const host = hosts[h];
      hostCounts[h][f]++;
      host.packets.add(hi, lo, 1);
      host.bytes.add(hi, lo, b);
      host.table.observe(
        flows.keys.subarray(f * 40, f * 40 + 40),
        lo,
        b,
        host.packets.estimate(hi, lo),
        host.bytes.estimate(hi, lo),
      );
    }
    const packets = new CountMinSketch();
    const bytes = new CountMinSketch();
    for (const h of hosts) {
      packets.merge(h.packets);
      bytes.merge(h.bytes);
    }
    const counts = countStream(stream, FLOWS);
    const truth = new Set<string>();
    const index = new Map<string, number>();
    for (let f = 0; f < FLOWS; f++) {
      const id = toHex(flows.keys, f * 40, 40);
      index.set(id, f);
      if (counts[f] >= PHI * PACKETS) truth.add(id);
    }
    return { hosts, hostCounts, packets, bytes, counts, truth, index };
  }

  type Run = ReturnType<typeof simulate>;

  function check(run: Run, merged: Candidate[]) {
    const { packets, bytes, counts, truth, index } = run;
    const reported = heavyHitters(merged, packets, bytes, { by: 'packets', phi: PHI });
    const hits = reported.filter((r) => truth.has(toHex(r.key))).length;
    // Recall is guaranteed: estimates never undercount and every heavy flow enters some host's candidate table.
    expect(hits).toBe(truth.size);
    for (const r of reported) {
      const f = index.get(toHex(r.key))!;
      expect(r.packets).toBeGreaterThanOrEqual(counts[f]);
      // ε-approximate heavy hitters: nothing reported is below (φ − ε)·N.
      expect(counts[f]).toBeGreaterThanOrEqual((PHI - packets.epsilon) * PACKETS);
    }
    // Every candidate's bound, reported or not, stays at or above its truth.
    let under = 0;
    for (const r of heavyHitters(merged, packets, bytes, { by: 'packets' }))
      if (r.packets < counts[index.get(toHex(r.key))!]) under++;
    return { precision: reported.length === 0 ? 1 : hits / reported.length, reported: reported.length, under };
  }

  // The v1 snapshot's candidate lists do not say whether a flow sat in every table: estimates come from the merged
  // CMS alone.
  it.each(DATASETS.map((d) => [d]))('%s, v1: recall 100 %%, precision ≥ 99 %% (Zipf 1.1: ≥ 95 %%)', (name) => {
    const run = simulated(name);
    const { precision, reported, under } = check(run, mergeCandidates(run.hosts.map((h) => h.table.candidates())));
    expect(under).toBe(0);
    // Plain CMS noise on a near-threshold flow is about (mice mass)/w; with Zipf 1.1 about 9 flows sit within 5 %
    // below φ·N, so a few of them cross it: measured 86/89 (96.6 %) here (see docs/sketch.md).
    expect(precision).toBeGreaterThanOrEqual(name === 'zipf-1.1' ? 0.95 : 0.99);
    if (name !== 'uniform')
      expect(run.truth.size).toBeGreaterThan(10); // uniform has no heavy flow: nothing may be reported
    else expect(reported).toBe(0);
  });

  // The kernel counts every packet of a member (it looks at the table first), so every count in a table bounds its
  // flow from above; a flow present in every table of the window is then bounded by its summed counts, which cap
  // its CMS estimate. What v1 lacks is the mark: a snapshot would have to say which flows sat in every CPU's table.
  it.each(DATASETS.map((d) => [d]))('%s, complete kernel counts: recall 100 %%, precision ≥ 99 %%', (name) => {
    const run = simulated(name);
    const merged = mergeCandidates(run.hosts.map((h) => h.table.candidates({ complete: true })));
    expect(merged.some((c) => c.complete)).toBe(name !== 'uniform');
    const { precision, under } = check(run, merged);
    expect(under).toBe(0);
    expect(precision).toBeGreaterThanOrEqual(0.99); // Zipf 1.1: 86/86 here, 98.8–100 % over other seeds
  });

  // Bounds through the merge across hosts: L = summed since-entry counts, U = min(merged CMS estimate, summed upper
  // counts + summed floors), and every flow no host lists within the summed floors. Then the top-k split: certain
  // flows all in the true top k, every true top-k flow above the floor certain or possible.
  it.each(DATASETS.map((d) => [d]))(
    '%s: L ≤ truth ≤ U for every merged candidate, unlisted flows within the floor, certain/possible exact',
    (name) => {
      const run = simulated(name);
      const { hosts, packets, bytes, counts, index } = run;
      const merged = mergeCandidates(hosts.map((h) => h.table.candidates()));
      const floor = { packets: 0, bytes: 0 };
      for (const h of hosts) {
        floor.packets += h.table.floor().packets;
        floor.bytes += h.table.floor().bytes;
      }
      const trueBytes = new Float64Array(FLOWS);
      const stream = streams.get(name)!;
      for (let i = 0; i < stream.length; i++) trueBytes[stream[i]] += packetBytes(stream[i], i);
      const ranked = heavyHitters(merged, packets, bytes, { by: 'packets', floor });
      const listed = new Uint8Array(FLOWS);
      let wrong = 0; // bounds that miss the truth (counted: an expect per flow costs more than the check)
      for (const r of ranked) {
        const f = index.get(toHex(r.key))!;
        listed[f] = 1;
        if (r.sincePackets > counts[f] || counts[f] > r.packets) wrong++;
        if (r.sinceBytes > trueBytes[f] || trueBytes[f] > r.bytes) wrong++;
      }
      let unlisted = 0;
      for (let f = 0; f < FLOWS; f++) {
        if (listed[f] || counts[f] === 0) continue;
        unlisted++;
        if (counts[f] > floor.packets || trueBytes[f] > floor.bytes) wrong++;
      }
      expect(wrong).toBe(0);
      expect(unlisted).toBeGreaterThan(0);
      const k = 20;
      const split = splitTopK(
        ranked.map((r) => r.sincePackets),
        ranked.map((r) => r.packets),
        k,
        floor.packets,
      );
      const order = Array.from(counts.keys()).sort((a, b) => counts[b] - counts[a]);
      const kth = counts[order[k - 1]];
      for (const i of split.certain) expect(counts[index.get(toHex(ranked[i].key))!]).toBeGreaterThanOrEqual(kth);
      const reported = new Set([...split.certain, ...split.possible].map((i) => index.get(toHex(ranked[i].key))!));
      for (const f of order.slice(0, k)) if (counts[f] > floor.packets) expect(reported.has(f)).toBe(true);
      if (name !== 'uniform') expect(split.certain.length).toBeGreaterThan(0);
      console.log(
        `${name}: ${merged.length} candidates, floor ${floor.packets} packets, top ${k}: ${split.certain.length} certain, ${split.possible.length} possible, complete ${split.complete}, evictions ${hosts.reduce((a, h) => a + h.table.evictions, 0)}`,
      );
    },
  );

  it('every count in a table bounds its flow from above, however the noise floor moves', () => {
    for (const name of DATASETS) {
      const run = simulated(name);
      for (let h = 0; h < run.hosts.length; h++)
        for (const c of run.hosts[h].table.candidates())
          expect(c.packets).toBeGreaterThanOrEqual(run.hostCounts[h][run.index.get(toHex(c.key))!]);
    }
  });
});
