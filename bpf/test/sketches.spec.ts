// Behaviour over many packets: the candidate threshold and eviction, sampling, and the epoch protocol (flip,
// barrier, read and clear the idle copy) losing nothing while traffic runs.
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { CAND_SETS, CMS_WIDTH } from '@tma/kernel';
import { buildObject, packets as P, pinToCpu, rootDescribe, TEST_RUN_WORKER, TestKernel } from '@tma/kernel/testing';
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
    // 16,384 flows of one packet each, minimum threshold 1: without a floor every one of them would enter (16,384
    // inserts into 1,024 slots, nearly all evictions). Below n = 4,096 the floor is 0, so the first 4,095 enter.
    const counts = [1, 8].map((shift) => {
      const tma = TestKernel.load({ candThreshold: 1, candNoiseShift: shift });
      try {
        for (let i = 0; i < 16_384; i++)
          tma.run(
            'tma_xdp',
            frameOf({ src: `10.${(i >> 8) & 255}.${i & 255}.1`, dst: '10.0.0.2', sport: 7, dport: 7, proto: 17 }),
          );
        return tma.totals(0).candInserts;
      } finally {
        tma.close();
      }
    });
    // shift 8: floor 256 once n >= 4,096, out of reach of a single packet: exactly the first 4,095 flows enter
    expect(counts[1]).toBe(4095n);
    // default shift 1: only flows whose four cells all already hold other flows' packets pass the floor
    console.log(`uniform traffic: ${counts[0]} of 16384 single-packet flows entered the candidates (floor shift 1)`);
    expect(counts[0]).toBeGreaterThanOrEqual(4095n);
    expect(counts[0]).toBeLessThan(8192n);
  });

  it('a full set replaces its smallest way and counts the eviction', () => {
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
      tma.run('tma_xdp', frameOf(flows[4]), 1);
      const t = tma.totals(0);
      expect([t.candInserts, t.candEvictions]).toEqual([5n, 1n]);
      const table = new Map(tma.candidates(0).map((c) => [hex(c.key), c.packets]));
      expect(table.size).toBe(4);
      expect(table.has(hex(flowKey(flows[1])))).toBe(false); // the way with 2 packets went
      expect([0, 2, 3, 4].map((i) => table.get(hex(flowKey(flows[i]))))).toEqual([3n, 4n, 5n, 1n]);
      // members keep their packets after the first out of the CMS: the kernel's cells hold the first packet of
      // each live member and all of the evicted one (folded in on eviction); folding the members in gives the CMS
      // of every packet, exactly
      const all = new Map<number, bigint>();
      const raw = new Map<number, bigint>();
      flows.forEach((t, i) => {
        const n = BigInt([...counts, 1][i]);
        for (const c of expectedIndices(flowKey(t)).cells) {
          all.set(c, (all.get(c) ?? 0n) + n);
          raw.set(c, (raw.get(c) ?? 0n) + (i === 1 ? n : 1n));
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
