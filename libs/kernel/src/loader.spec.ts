// The loader and the epoch reader on a real kernel: attach/detach on a veth pair in a namespace of our own, and exact
// totals across many epoch flips while traffic runs.
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { CountMinSketch, HyperLogLog } from '@tma/sketch';
import { HllKind } from './layout';
import { programNameById } from './libbpf';
import { TmaKernel, TC_HANDLE, TC_PRIORITY } from './loader';
import { EpochReader, type EpochRead } from './reader';
import { buildObject, OBJECT_PATH, rootDescribe, udpFrameBytes, VethNs, type Flow } from './testing';

const run = rootDescribe('kernel loader tests');
const PAYLOAD = 100;

run('loader and epoch reader on a veth pair', () => {
  const ns = new VethNs();
  let kernel: TmaKernel | null = null;

  beforeAll(() => {
    buildObject();
    ns.create();
  });
  afterEach(() => {
    kernel?.close();
    kernel = null;
  });
  afterAll(() => ns.destroy());

  /** Reads (flip + barrier + read + clear) every `everyMs` until `done` settles, then twice more. */
  async function readWhile(reader: EpochReader, done: Promise<void>, everyMs: number): Promise<EpochRead[]> {
    const reads: EpochRead[] = [];
    let finished = false;
    done.then(
      () => (finished = true),
      () => (finished = true),
    );
    while (!finished) {
      reads.push(reader.read());
      await sleep(everyMs);
    }
    await done;
    await sleep(50);
    reads.push(reader.read(), reader.read());
    return reads;
  }

  const sumOf = (reads: EpochRead[], f: (r: EpochRead) => number) => reads.reduce((s, r) => s + f(r), 0);

  it('TC (tcx): UDP totals, per-flow CMS estimates and candidates are exact across many epoch flips', async () => {
    kernel = TmaKernel.load({ objectPath: OBJECT_PATH, hook: 'tc' });
    const made = kernel.attach(ns.ifindex, ns.outer, { tcAttach: 'tcx' });
    expect(made.map((a) => [a.direction, a.via])).toEqual([
      ['INGRESS', 'link'],
      ['EGRESS', 'link'],
    ]);
    const reader = new EpochReader(kernel);
    reader.read(); // start from empty copies

    const flows: Flow[] = [
      { sport: 41000, packets: 12000 },
      { sport: 41001, packets: 5000 },
      { sport: 41002, packets: 2000 },
      ...Array.from({ length: 7 }, (_, i) => ({ sport: 41010 + i, packets: 143 })),
    ];
    const sent = flows.reduce((s, f) => s + f.packets, 0);
    const reads = await readWhile(reader, ns.send(flows, PAYLOAD), 15);
    expect(reads.length).toBeGreaterThan(5); // several flips happened while packets flowed

    expect(sumOf(reads, (r) => r.protoPackets[17])).toBe(sent);
    expect(sumOf(reads, (r) => r.protoBytes[17])).toBe(sent * udpFrameBytes(PAYLOAD));
    for (const r of reads) {
      // invariant of every copy: totals = per-protocol + non-IP + errors
      const proto = r.protoPackets.reduce((a, b) => a + b, 0);
      expect(r.totals.packets).toBe(proto + r.totals.nonIpPackets + r.totals.errorPackets);
      // every CMS row sums to the IP packets of the copy (sampling off; fromCells refuses torn rows)
      expect(CountMinSketch.fromCells(r.cmsPackets).total).toBe(proto);
    }

    const cms = new CountMinSketch();
    for (const r of reads) cms.merge(CountMinSketch.fromCells(r.cmsPackets));
    for (const f of flows)
      expect({ sport: f.sport, estimate: cms.estimateKey(ns.flowKey(f.sport)) }).toEqual({
        sport: f.sport,
        estimate: f.packets,
      });

    const hll = new HyperLogLog();
    for (const r of reads) hll.merge(HyperLogLog.fromRegisters(r.hll[HllKind.Flows]));
    expect(Math.abs(hll.estimate() - (flows.length + 1)) / (flows.length + 1)).toBeLessThan(0.2); // + the ICMP flow

    // candidates: only flows we sent; each heavy flow counted exactly from its entry on, so within the threshold
    // per CPU per epoch of the truth and never above it
    const candidatePackets = new Map<number, number>();
    for (const r of reads)
      for (const c of r.candidates) {
        const sport = (c.key[32] << 8) | c.key[33];
        if (c.key[36] !== 17) continue;
        expect(flows.map((f) => f.sport)).toContain(sport);
        candidatePackets.set(sport, (candidatePackets.get(sport) ?? 0) + c.packets);
      }
    for (const f of flows.slice(0, 3)) {
      const got = candidatePackets.get(f.sport) ?? 0;
      expect(got).toBeLessThanOrEqual(f.packets);
      expect(got).toBeGreaterThanOrEqual(f.packets - reads.length * kernel.cpus * 32);
    }
  }, 120_000);

  it('XDP (link): ingress totals are exact across flips; closing detaches', async () => {
    kernel = TmaKernel.load({ objectPath: OBJECT_PATH, hook: 'xdp' });
    const [a] = kernel.attach(ns.ifindex, ns.outer, { xdpMode: 'auto' });
    expect(a).toMatchObject({ hook: 'XDP', via: 'link', xdpMode: 'native' });
    const reader = new EpochReader(kernel);
    reader.read();
    const flows: Flow[] = [
      { sport: 42000, packets: 6000 },
      { sport: 42001, packets: 1500 },
    ];
    const reads = await readWhile(reader, ns.send(flows, PAYLOAD), 10);
    expect(sumOf(reads, (r) => r.protoPackets[17])).toBe(7500);
    expect(sumOf(reads, (r) => r.protoPackets[1])).toBe(0); // XDP sees ingress only: no outgoing ICMP errors
    const progId = a.progId;
    kernel.close();
    kernel = null;
    expect(programNameById(progId)).toBeNull(); // the link held the last reference
    // the state is unmapped with the object: a reader kept past close() refuses instead of touching freed memory
    expect(() => reader.readCopy(0)).toThrow(/unmapped/);
    expect(() => reader.clearCopy(1)).toThrow(/unmapped/);
  }, 120_000);

  it('netlink TC filters left by a dead agent are found by handle, priority and program name, and removed', async () => {
    kernel = TmaKernel.load({ objectPath: OBJECT_PATH, hook: 'tc' });
    const made = kernel.attach(ns.ifindex, ns.outer, { tcAttach: 'netlink' });
    expect(made.every((a) => a.via === 'netlink')).toBe(true);
    const shown = spawnSync('tc', ['filter', 'show', 'dev', ns.outer, 'ingress'], { encoding: 'utf8' }).stdout;
    expect(shown).toContain(`handle 0x${TC_HANDLE.toString(16)}`);
    expect(shown).toContain(`pref ${TC_PRIORITY}`);
    expect(shown).toContain('tma_tc');
    // A second object (a restarted agent) sees the filters as stale and removes them.
    expect(TmaKernel.removeStale(ns.ifindex)).toBe(2);
    expect(TmaKernel.removeStale(ns.ifindex)).toBe(0);
    expect(spawnSync('tc', ['filter', 'show', 'dev', ns.outer, 'ingress'], { encoding: 'utf8' }).stdout).not.toContain(
      'tma_tc',
    );
    kernel.close(); // detaching filters that are already gone is not an error
    kernel = null;
  });
});
