// Behaviour over many packets: the candidate threshold and eviction, sampling, and the epoch protocol (flip,
// barrier, read and clear the idle copy) losing nothing while traffic runs.
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { CAND_SETS, CMS_WIDTH } from '@tma/kernel';
import { buildObject, packets as P, pinToCpu, rootDescribe, TEST_RUN_WORKER, TestKernel } from '@tma/kernel/testing';
import { CandidateTable } from '@tma/sketch/testing';
import { expectedIndices, flowKey, hex, type Tuple } from './reference';

const run = rootDescribe('bpf tests');

const frameOf = (t: Tuple, payload = 64) =>
  P.eth(
    P.ETH_IP,
    P.ipv4(
      t.src,
      t.dst,
      t.proto,
      t.proto === 6 ? P.tcp(t.sport, t.dport, P.bytes(payload)) : P.udp(t.sport, t.dport, P.bytes(payload)),
    ),
  );

run('candidates, sampling and epochs', () => {
  beforeAll(() => {
    buildObject();
    pinToCpu(0); // per-CPU tables: keep every test run on one CPU
  });

  it('a flow enters the candidates when its CMS estimate reaches the default threshold (32), with that estimate', () => {
    const tma = TestKernel.load();
    try {
      const t: Tuple = { src: '10.9.8.7', dst: '10.1.2.3', sport: 1234, dport: 80, proto: 6 };
      const f = frameOf(t);
      tma.run('tma_tc', f, 31);
      expect(tma.candidates(0)).toHaveLength(0);
      tma.run('tma_tc', f, 1);
      const c = tma.candidates(0);
      expect(c.map((x) => [hex(x.key), x.packets, x.bytes])).toEqual([[hex(flowKey(t)), 32n, 32n * BigInt(f.length)]]);
      tma.run('tma_tc', f, 8);
      expect(tma.candidates(0)[0].packets).toBe(40n);
      expect(tma.totals(0).candInserts).toBe(1n);
    } finally {
      tma.close();
    }
  });

  it('the threshold follows the CMS noise floor: at least 2 x (packets in the copy on this CPU >> 12)', () => {
    const tma = TestKernel.load({ candThreshold: 1 });
    try {
      const busy: Tuple = { src: '10.7.0.1', dst: '10.7.0.2', sport: 1, dport: 53, proto: 17 };
      const busyCells = new Set(expectedIndices(flowKey(busy)).cells);
      // a second flow sharing no CMS cell with the first, so its estimate is its own count
      let quiet: Tuple = { ...busy, sport: 2 };
      while (expectedIndices(flowKey(quiet)).cells.some((c) => busyCells.has(c)))
        quiet = { ...quiet, sport: quiet.sport + 1 };
      tma.run('tma_xdp', frameOf(busy), 20 * 4096); // enters at its first packet (floor 0, minimum 1)
      expect(tma.candidates(0).map((c) => hex(c.key))).toEqual([hex(flowKey(busy))]);
      // now n = 81,920 + i: floor = (n >> 12) << 1 = 40 for the next 4,096 packets
      tma.run('tma_xdp', frameOf(quiet), 39);
      expect(tma.candidates(0).map((c) => hex(c.key))).not.toContain(hex(flowKey(quiet)));
      tma.run('tma_xdp', frameOf(quiet), 1);
      const entered = tma.candidates(0).find((c) => hex(c.key) === hex(flowKey(quiet)));
      expect(entered?.packets).toBe(40n);
      expect(tma.totals(0).candInserts).toBe(2n);
    } finally {
      tma.close();
    }
  });

  it('the noise floor counts only packets that reach the CMS: non-IP frames and parse errors do not raise it', () => {
    const tma = TestKernel.load({ candThreshold: 1 });
    try {
      // 12,288 frames that never touch the CMS: ARP, and IPv4 cut short inside its header (a parse error)
      tma.run('tma_xdp', P.eth(P.ETH_ARP, P.bytes(28)), 8192);
      tma.run('tma_xdp', P.eth(P.ETH_IP, P.bytes(8, 0x45)), 4096);
      const t0 = tma.totals(0);
      expect([t0.nonIpPackets, t0.errorPackets]).toEqual([8192n, 4096n]);
      // the CMS holds nothing yet: the first packet of a flow is already above the (zero) floor
      const flow: Tuple = { src: '10.9.0.1', dst: '10.9.0.2', sport: 9, dport: 9, proto: 17 };
      tma.run('tma_xdp', frameOf(flow), 1);
      expect(tma.candidates(0).map((c) => [hex(c.key), c.packets])).toEqual([[hex(flowKey(flow)), 1n]]);
    } finally {
      tma.close();
    }
  });

  it('on uniform traffic over many flows the noise floor keeps single-packet flows out of the candidates', () => {
    // 16,384 flows of one packet each, minimum threshold 1. Below n = 4,096 the floor is 0, so the first 4,095 may
    // enter (into free ways: a full set keeps its ways against a newcomer no heavier than its lightest); after that
    // only flows above the floor can.
    const counts = [1, 8].map((shift) => {
      const tma = TestKernel.load({ candThreshold: 1, candNoiseShift: shift });
      try {
        const send = (from: number, to: number) => {
          for (let i = from; i < to; i++)
            tma.run(
              'tma_xdp',
              frameOf({ src: `10.${(i >> 8) & 255}.${i & 255}.1`, dst: '10.0.0.2', sport: 7, dport: 7, proto: 17 }),
            );
          return tma.totals(0).candInserts;
        };
        const early = send(0, 4095);
        return { early, late: send(4095, 16_384) - early };
      } finally {
        tma.close();
      }
    });
    // shift 8: floor 256 once n >= 4,096, out of reach of a single packet: nothing enters after the first 4,095
    expect(counts[1].early).toBeGreaterThan(512n);
    expect(counts[1].late).toBe(0n);
    // default shift 1: only flows whose four cells all already hold other flows' packets pass the floor
    console.log(`uniform traffic: ${counts[0].late} of 12289 later single-packet flows entered (floor shift 1)`);
    expect(counts[0].late).toBeLessThan(4097n);
  });

  it('a full set gives its smallest way only to a heavier flow, and counts the eviction and what it let go', () => {
    const tma = TestKernel.load({ candThreshold: 1 });
    try {
      // five flows whose hashes land in the same 4-way set
      const base: Tuple = { src: '192.0.2.1', dst: '192.0.2.2', sport: 0, dport: 443, proto: 6 };
      const set = (t: Tuple) => expectedIndices(flowKey(t)).hash.lo & (CAND_SETS - 1);
      const want = set({ ...base, sport: 1 });
      const flows: Tuple[] = [];
      for (let p = 1; flows.length < 5; p++) if (set({ ...base, sport: p }) === want) flows.push({ ...base, sport: p });
      const counts = [3, 2, 4, 5];
      flows.slice(0, 4).forEach((t, i) => tma.run('tma_xdp', frameOf(t), counts[i]));
      expect(tma.totals(0).candEvictions).toBe(0n);
      // estimates 1 and 2 do not exceed the lightest way (2 packets): refused, the flow stays in the CMS
      tma.run('tma_xdp', frameOf(flows[4]), 2);
      let t = tma.totals(0);
      expect([t.candInserts, t.candEvictions, t.candDroppedMaxPackets]).toEqual([4n, 0n, 2n]);
      tma.run('tma_xdp', frameOf(flows[4]), 1); // estimate 3: takes the way with 2 packets
      t = tma.totals(0);
      const len = BigInt(frameOf(flows[4]).length);
      expect([t.candInserts, t.candEvictions]).toEqual([5n, 1n]);
      // the evicted way entered at its first packet (base 1): 1 packet counted since; it let go a count of 2
      expect([t.candEvictedPackets, t.candEvictedBytes, t.candDroppedMaxPackets, t.candDroppedMaxBytes]).toEqual([
        1n,
        len,
        2n,
        2n * len,
      ]);
      const table = new Map(tma.candidates(0).map((c) => [hex(c.key), c.packets]));
      expect(table.size).toBe(4);
      expect(table.has(hex(flowKey(flows[1])))).toBe(false); // the way with 2 packets went
      expect([0, 2, 3, 4].map((i) => table.get(hex(flowKey(flows[i]))))).toEqual([3n, 4n, 5n, 3n]);
      // members keep their packets after the first out of the CMS: the kernel's cells hold the first packet of
      // each live member and all of the evicted one (folded in on eviction); folding the members in gives the CMS
      // of every packet, exactly
      const all = new Map<number, bigint>();
      const raw = new Map<number, bigint>();
      flows.forEach((t, i) => {
        const n = BigInt([...counts, 3][i]);
        for (const c of expectedIndices(flowKey(t)).cells) {
          all.set(c, (all.get(c) ?? 0n) + n);
          // the evicted flow and the late one (all its packets came before it entered) are wholly in the cells
          raw.set(c, (raw.get(c) ?? 0n) + (i === 1 || i === 4 ? n : 1n));
        }
      });
      const nonZero = (a: BigUint64Array) =>
        new Map([...a.entries()].filter(([, v]) => v > 0n).map(([i, v]) => [i, v]));
      expect(nonZero(tma.rawCms(0).packets)).toEqual(raw);
      expect(nonZero(tma.cms(0).packets)).toEqual(all);
    } finally {
      tma.close();
    }
  });

  it('the kernel table and its model (CandidateTable) agree: ways, since-entry counts, refusals, evictions', () => {
    // Six flows of one set with pairwise disjoint CMS cells, so each one's estimate is its own count in both; 400
    // packets interleaved by a fixed generator, threshold 2: the set overflows, refuses and evicts.
    const tma = TestKernel.load({ candThreshold: 2 });
    try {
      const base: Tuple = { src: '198.51.100.1', dst: '198.51.100.2', sport: 0, dport: 53, proto: 17 };
      const set = (t: Tuple) => expectedIndices(flowKey(t)).hash.lo & (CAND_SETS - 1);
      const want = set({ ...base, sport: 1 });
      const flows: Tuple[] = [];
      const used = new Set<number>();
      for (let p = 1; flows.length < 6; p++) {
        const t = { ...base, sport: p };
        const cells = expectedIndices(flowKey(t)).cells;
        if (set(t) !== want || cells.some((c) => used.has(c))) continue;
        cells.forEach((c) => used.add(c));
        flows.push(t);
      }
      const model = new CandidateTable({ thresholdPackets: 2 });
      const seen = flows.map(() => ({ packets: 0, bytes: 0 }));
      let x = 12345;
      for (let i = 0; i < 400; i++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        const f = (x >>> 16) % 6 < 3 ? (x >>> 16) % 6 : (x >>> 20) % 6; // some flows far busier than others
        const frame = frameOf(flows[f], 20 + 7 * f);
        tma.run('tma_xdp', frame);
        seen[f].packets += 1;
        seen[f].bytes += frame.length;
        const key = flowKey(flows[f]);
        model.observe(key, expectedIndices(key).hash.lo, frame.length, seen[f].packets, seen[f].bytes);
      }
      const kernel = new Map(
        tma
          .candidates(0)
          .map((c) => [
            hex(c.key),
            [Number(c.packets), Number(c.packets - c.basePackets), Number(c.bytes), Number(c.bytes - c.baseBytes)],
          ]),
      );
      const modelled = new Map(
        model.candidates().map((c) => [hex(c.key), [c.packets, c.sincePackets, c.bytes, c.sinceBytes]]),
      );
      expect(kernel).toEqual(modelled);
      const t = tma.totals(0);
      expect([t.candInserts, t.candEvictions, t.candEvictedPackets, t.candEvictedBytes].map(Number)).toEqual([
        model.inserts,
        model.evictions,
        model.evictedPackets,
        model.evictedBytes,
      ]);
      expect([t.candDroppedMaxPackets, t.candDroppedMaxBytes].map(Number)).toEqual([
        model.droppedMaxPackets,
        model.droppedMaxBytes,
      ]);
      expect(model.evictions).toBeGreaterThan(0);
      expect(model.droppedMaxPackets).toBeGreaterThan(0);
    } finally {
      tma.close();
    }
  });

  it('a member counts every packet, even once the noise floor passes its estimate: its count bounds it from above', () => {
    const tma = TestKernel.load({ candThreshold: 1 });
    try {
      const early: Tuple = { src: '10.6.0.1', dst: '10.6.0.2', sport: 1, dport: 53, proto: 17 };
      const cells = new Set(expectedIndices(flowKey(early)).cells);
      const set = (t: Tuple) => expectedIndices(flowKey(t)).hash.lo & (CAND_SETS - 1);
      // a busy flow sharing neither a CMS cell nor a candidate set with the early one
      let busy: Tuple = { ...early, sport: 2 };
      while (set(busy) === set(early) || expectedIndices(flowKey(busy)).cells.some((c) => cells.has(c)))
        busy = { ...busy, sport: busy.sport + 1 };
      tma.run('tma_xdp', frameOf(early), 1); // enters at its first packet: empty CMS, estimate 1
      // the floor climbs to (40,961 >> 12) << 1 = 20, far above the early flow's estimate, yet its later packets are
      // still counted in its way
      tma.run('tma_xdp', frameOf(busy), 40_960);
      tma.run('tma_xdp', frameOf(early), 5);
      const c = tma.candidates(0).find((x) => hex(x.key) === hex(flowKey(early)));
      expect([c?.basePackets, c?.packets]).toEqual([1n, 6n]);
    } finally {
      tma.close();
    }
  });

  it('bounds: every candidate the agent reads has since-entry <= truth <= upper, every other flow is within the floor', () => {
    // A mix that fills sets, refuses and evicts: 700 flows of Zipf-like sizes (1..600 packets, different frame
    // lengths), interleaved in rounds so flows enter, get evicted and come back; threshold 4, so sets overflow.
    const tma = TestKernel.load({ candThreshold: 4 });
    try {
      const flows = Array.from({ length: 700 }, (_, i) => ({
        t: {
          src: `10.${(i >> 8) & 255}.${i & 255}.3`,
          dst: '10.200.0.1',
          sport: 1000 + (i % 50),
          dport: 443,
          proto: 6,
        },
        total: Math.max(1, Math.floor(600 / (i + 1) ** 0.8)),
        payload: 10 + (i % 200),
        sent: 0,
      }));
      for (let round = 0; flows.some((f) => f.sent < f.total); round++)
        for (const f of flows) {
          const n = Math.min(f.total - f.sent, 1 + ((round * 7 + f.payload) % 29));
          if (n <= 0) continue;
          tma.run('tma_xdp', frameOf(f.t, f.payload), n);
          f.sent += n;
        }
      const r = tma.reader().readCopy(0);
      expect(r.totals.candEvictions).toBeGreaterThan(0); // the mix exercises evictions
      const truth = new Map(flows.map((f) => [hex(flowKey(f.t)), f]));
      const listed = new Set<string>();
      for (const c of r.candidates) {
        const f = truth.get(hex(c.key));
        expect(f).toBeDefined();
        const bytes = f!.total * frameOf(f!.t, f!.payload).length;
        listed.add(hex(c.key));
        expect([c.sincePackets <= f!.total, f!.total <= c.packets]).toEqual([true, true]);
        expect([c.sinceBytes <= bytes, bytes <= c.bytes]).toEqual([true, true]);
      }
      let unlisted = 0;
      for (const [k, f] of truth) {
        if (listed.has(k)) continue;
        unlisted++;
        expect(f.total).toBeLessThanOrEqual(r.candidateFloor.packets);
        expect(f.total * frameOf(f.t, f.payload).length).toBeLessThanOrEqual(r.candidateFloor.bytes);
      }
      expect(unlisted).toBeGreaterThan(0);
      expect(r.candidateFloor.thresholdPackets).toBeGreaterThanOrEqual(4);
      // the since-entry counts of the live ways and of the evicted ones never exceed the packets sent
      const since = r.candidates.reduce((a, c) => a + c.sincePackets, 0) + r.totals.candEvictedPackets;
      expect(since).toBeLessThanOrEqual(flows.reduce((a, f) => a + f.total, 0));
    } finally {
      tma.close();
    }
  });

  it("bounds: a candidate tracked on one CPU and not on another is bounded by that CPU's CMS estimate there", () => {
    const tma = TestKernel.load();
    try {
      const t: Tuple = { src: '10.5.0.1', dst: '10.5.0.2', sport: 5, dport: 5, proto: 17 };
      pinToCpu(1);
      tma.run('tma_xdp', frameOf(t), 20); // below the threshold on CPU 1: in its CMS only
      pinToCpu(0);
      tma.run('tma_xdp', frameOf(t), 50); // a member on CPU 0 from its 32nd packet there
      const [c] = tma.reader().readCopy(0).candidates;
      expect([c.sincePackets, c.packets]).toEqual([18, 70]); // 50 - 32 exact since entry; 32 + 18 + 20 above
    } finally {
      pinToCpu(0);
      tma.close();
    }
  });

  it('sampling 1 in 4 thins the sketches only: totals stay exact and the CMS equals the sampled count', () => {
    const tma = TestKernel.load({ sampleRate: 4 });
    try {
      const t: Tuple = { src: '10.0.0.5', dst: '10.0.0.6', sport: 9, dport: 9, proto: 17 };
      tma.run('tma_xdp', frameOf(t), 8000);
      const tot = tma.totals(0);
      expect([tot.packets, tot.protoPackets[17]]).toEqual([8000n, 8000n]);
      const cms = tma.cms(0);
      const cells = expectedIndices(flowKey(t)).cells.map((c) => cms.packets[c]);
      // every row holds the same sampled count: binomial(8000, 1/4), mean 2000, sd 39; 6 sd either side
      expect(new Set(cells).size).toBe(1);
      expect(Number(cells[0])).toBeGreaterThan(2000 - 6 * 39);
      expect(Number(cells[0])).toBeLessThan(2000 + 6 * 39);
    } finally {
      tma.close();
    }
  });

  it('flip, barrier, read and clear the idle copy while traffic runs: every packet is read exactly once', async () => {
    const tma = TestKernel.load();
    const flows: Tuple[] = Array.from({ length: 64 }, (_, i) => ({
      src: `10.1.${i}.1`,
      dst: '10.2.0.1',
      sport: 1000 + i,
      dport: 53,
      proto: 17,
    }));
    const frames = flows.map((t, i) => frameOf(t, 10 + i)); // 64 flows of different lengths
    const stop = new SharedArrayBuffer(4);
    const worker = new Worker(TEST_RUN_WORKER, {
      workerData: { progFd: tma.programFd('tma_tc'), frames, repeat: 50, stop },
    });
    const sent = new Promise<number>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    let readPackets = 0n;
    let readBytes = 0n;
    let flips = 0;
    let barrierNs = 0n;
    const FLIPS = 40;
    const drain = (copy: number) => {
      const t = tma.totals(copy);
      const cms = tma.cms(copy);
      // the CMS of the copy holds exactly the packets its totals say (each row sums to the total)
      for (let row = 0; row < 4; row++) {
        let s = 0n;
        for (let i = 0; i < CMS_WIDTH; i++) s += cms.packets[row * CMS_WIDTH + i];
        expect(s).toBe(t.packets);
      }
      readPackets += t.packets;
      readBytes += t.bytes;
      tma.clear(copy);
    };
    try {
      let epoch: 0 | 1 = 0;
      // A fixed number of flips under traffic (not a time budget: a loaded machine only makes it slower); the
      // deadline only stops a hung run.
      const deadline = Date.now() + 30_000;
      while (flips < FLIPS && Date.now() < deadline) {
        await sleep(20);
        epoch = epoch === 0 ? 1 : 0;
        tma.setEpoch(epoch);
        const t0 = process.hrtime.bigint();
        tma.barrier();
        barrierNs += process.hrtime.bigint() - t0;
        drain(epoch ^ 1);
        flips++;
      }
    } finally {
      Atomics.store(new Int32Array(stop), 0, 1);
    }
    const packets = await sent;
    drain(0);
    drain(1);
    tma.close();
    console.log(
      `epoch test: ${packets} packets, ${flips} flips, barrier ${Number(barrierNs / BigInt(flips)) / 1e6} ms on average`,
    );
    expect(flips).toBe(FLIPS);
    expect(readPackets).toBe(BigInt(packets));
    // the worker cycles through the frames in order, 50 repetitions each
    const runs = packets / 50;
    let bytes = 0;
    for (let i = 0; i < runs; i++) bytes += frames[i % frames.length].length * 50;
    expect(readBytes).toBe(BigInt(bytes));
  });
});
