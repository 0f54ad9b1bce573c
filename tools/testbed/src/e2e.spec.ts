// End to end, as root: real packets into two namespace hosts → an edge agent in each (one on TC, one on XDP) →
// the real Kafka broker → snapshots decoded with libs/schema and compared with the generator's exact ground truth:
// totals exact, every flow above 0.1 % of packets among the candidates, CMS estimates within ε·N, HLLs within 3 σ.
import { existsSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import { join, resolve } from 'node:path';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { ensureTopics, loadKafkaSettings } from '@tma/kafka';
import { decode, snapshotTopic, type SketchSnapshot } from '@tma/schema';
import { CountMinSketch, decodeCountMinSketch, decodeHyperLogLog, flowKey, HyperLogLog, toHex } from '@tma/sketch';
import { AgentProcess, defaultAgentMain } from './agents';
import { runAll } from './cleanup';
import { missingTools, Testbed, type Host } from './netns';
import { KafkaRelay } from './relay';
import { generateTraffic, type GroundTruth, writeTraffic } from './traffic';

const REPO = resolve(__dirname, '../../..');
const AGENT_MAIN = defaultAgentMain();
const BPF_OBJECT = join(REPO, 'bpf/dist/tma.bpf.o');
// Candidates enter the kernel's table at 32 packets per CPU per interval. Each host's sender is pinned to its own
// CPU and its whole pcap fits in one interval (checked; it takes 0.2–2 s even on a loaded machine), so the pcap spans
// at most two intervals on one CPU: a flow above 0.1 % (> 67 of ~67,000 packets) has ≥ 32 packets in one of them.
const INTERVAL_MS = 5000;
const CANDIDATE_THRESHOLD = 32;

function prerequisites(): string[] {
  const why: string[] = [];
  if (process.getuid?.() !== 0) return ['the end-to-end test needs root (namespaces, BPF); CI runs as root'];
  why.push(...missingTools().map((t) => `missing tool ${t}`));
  if (!existsSync(AGENT_MAIN)) why.push(`no built agent at ${AGENT_MAIN}: run ./tma setup (tsc -b) first`);
  if (!existsSync(BPF_OBJECT)) why.push(`no BPF object at ${BPF_OBJECT}: run make -C bpf`);
  if (!process.env.TMA_KAFKA_BROKERS)
    why.push('TMA_KAFKA_BROKERS is not set (the jest global setup starts the broker)');
  return why;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface HostRun {
  host: Host;
  hook: 'tc' | 'xdp';
  hostId: string;
  truth: GroundTruth;
  pcap: string;
}

/** Everything a host's snapshots add up to: totals summed, sketches merged, candidate keys united. */
interface HostSum {
  snapshots: SketchSnapshot[];
  packets: number;
  bytes: number;
  protocols: Map<number, { packets: number; bytes: number }>;
  parseErrors: number;
  candidates: Set<string>;
  cmsPackets: CountMinSketch;
  cmsBytes: CountMinSketch;
  hll: { flows: HyperLogLog; sources: HyperLogLog; destinations: HyperLogLog; ports: HyperLogLog };
}

function sumSnapshots(snaps: SketchSnapshot[]): HostSum {
  const s: HostSum = {
    snapshots: snaps,
    packets: 0,
    bytes: 0,
    protocols: new Map(),
    parseErrors: 0,
    candidates: new Set(),
    cmsPackets: new CountMinSketch(),
    cmsBytes: new CountMinSketch(),
    hll: {
      flows: new HyperLogLog(),
      sources: new HyperLogLog(),
      destinations: new HyperLogLog(),
      ports: new HyperLogLog(),
    },
  };
  for (const snap of snaps) {
    s.packets += Number(snap.totals.packets);
    s.bytes += Number(snap.totals.bytes);
    for (const p of snap.totals.protocols) {
      const c = s.protocols.get(p.protocol) ?? { packets: 0, bytes: 0 };
      c.packets += Number(p.packets);
      c.bytes += Number(p.bytes);
      s.protocols.set(p.protocol, c);
    }
    for (const e of snap.parseErrors) s.parseErrors += Number(e.count);
    for (const c of snap.candidates) s.candidates.add(toHex(c.key));
    s.cmsPackets.merge(decodeCountMinSketch(snap.cmsPackets));
    s.cmsBytes.merge(decodeCountMinSketch(snap.cmsBytes));
    s.hll.flows.merge(decodeHyperLogLog(snap.hllFlows));
    s.hll.sources.merge(decodeHyperLogLog(snap.hllSources));
    s.hll.destinations.merge(decodeHyperLogLog(snap.hllDestinations));
    s.hll.ports.merge(decodeHyperLogLog(snap.hllDestinationPorts));
  }
  return s;
}

const why = prerequisites();

describe('testbed end to end: namespaces → agents → Kafka → snapshots', () => {
  if (why.length > 0) {
    it('has its prerequisites', () => {
      throw new Error(`cannot run the end-to-end test:\n  - ${why.join('\n  - ')}`);
    });
    return;
  }

  let tb: Testbed;
  let consumer: Consumer;
  const runs: HostRun[] = [];
  const received = new Map<string, SketchSnapshot[]>();
  const agents: AgentProcess[] = [];
  const quiet = new Map<string, { before: ReturnType<Testbed['counters']>; after?: ReturnType<Testbed['counters']> }>();
  const sums = new Map<string, HostSum>();

  const settings = loadKafkaSettings(process.env, 'tma-testbed-e2e');
  const kafka = new Kafka({ ...settings, logLevel: logLevel.NOTHING });

  const waitFor = async (what: string, ok: () => boolean, ms: number): Promise<void> => {
    const end = Date.now() + ms;
    while (!ok()) {
      const dead = agents.find((a) => !a.running);
      if (dead)
        throw new Error(
          `agent ${dead.hostId} exited (${JSON.stringify(dead.exit)}) while waiting for ${what}; see ${dead.log}`,
        );
      if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await sleep(100);
    }
  };

  beforeAll(async () => {
    tb = await Testbed.create({ hosts: 2, prefix: 'tmae2e' });
    const prefix = `tmae2e-${tb.id}`;
    const topic = snapshotTopic(prefix);
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [{ topic, numPartitions: 1 }]);
    await admin.disconnect();

    consumer = kafka.consumer({ groupId: `${prefix}-check` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const { snapshot } = decode(message.value!);
        const list = received.get(snapshot.hostId) ?? [];
        list.push(snapshot);
        received.set(snapshot.hostId, list);
      },
    });

    await KafkaRelay.start(tb, process.env.TMA_KAFKA_BROKERS!, `/tmp/tma-relay-${tb.id}`);
    const hooks: Array<'tc' | 'xdp'> = ['tc', 'xdp'];
    for (const [i, h] of tb.hosts.entries()) {
      // seeds differ per host: each host's ground truth is its own
      const traffic = generateTraffic({ seed: 9000 + i, flows: 2000, packets: 64_000 });
      const { pcap } = writeTraffic(traffic, join('/tmp', `tma-e2e-${tb.id}-h${h.index}`));
      const run: HostRun = { host: h, hook: hooks[i], hostId: `e2e-${tb.id}-h${h.index}`, truth: traffic.truth, pcap };
      runs.push(run);
      quiet.set(run.hostId, { before: tb.counters(h) });
      agents.push(
        AgentProcess.start(tb, h, {
          interval: `${INTERVAL_MS}ms`,
          hook: run.hook,
          hostId: run.hostId,
          stateDir: join(REPO, '.state', 'testbed', `e2e-${tb.id}`, `h${h.index}`),
          extraArgs: [
            '--topic-prefix',
            prefix,
            '--metrics-port',
            '0',
            '--candidate-threshold',
            String(CANDIDATE_THRESHOLD),
          ],
          env: { TMA_KAFKA_BROKERS: process.env.TMA_KAFKA_BROKERS },
        }),
      );
    }
    // an agent is attached and publishing once its first (empty) snapshot arrives
    await waitFor(
      'a first snapshot from every agent',
      () => runs.every((r) => (received.get(r.hostId)?.length ?? 0) > 0),
      60_000,
    );

    const cpus = Math.max(1, os.cpus().length);
    const sent = await Promise.all(runs.map((r, i) => tb.replay(r.host, r.pcap, { cpu: i % cpus })));
    for (const s of sent) {
      if (s.seconds >= INTERVAL_MS / 1000)
        throw new Error(
          `a replay took ${s.seconds} s, longer than the ${INTERVAL_MS} ms interval: the machine is too busy for the candidate check`,
        );
    }
    await sleep(200);
    // stopping takes a final snapshot of the partial interval: everything sent is in some snapshot
    await Promise.all(agents.map((a) => a.stop()));
    for (const r of runs) quiet.get(r.hostId)!.after = tb.counters(r.host);
    // the final snapshot is published on stop; wait until the totals stop growing
    let last = -1;
    for (let i = 0; i < 50; i++) {
      const n = [...received.values()].reduce((a, l) => a + l.length, 0);
      if (n === last) break;
      last = n;
      await sleep(500);
    }
    for (const r of runs) sums.set(r.hostId, sumSnapshots(received.get(r.hostId) ?? []));
  }, 180_000);

  afterAll(async () => {
    await consumer?.disconnect().catch(() => undefined);
    await runAll(); // agents (if still up), relay, namespaces
    tb?.destroy();
    if (tb) {
      rmSync(join(REPO, '.state', 'testbed', `e2e-${tb.id}`), { recursive: true, force: true });
      for (const r of runs)
        for (const f of [r.pcap, r.pcap.replace(/\.pcap$/, '.truth.json')]) rmSync(f, { force: true });
    }
  }, 60_000);

  it('fed each host exactly its pcap and nothing else (the ground truth is what the interface saw)', () => {
    for (const r of runs) {
      const { before, after } = quiet.get(r.hostId)!;
      // veth's XDP receive path counts bytes after the Ethernet header; the skb path counts whole frames
      const rxBytes = r.hook === 'xdp' ? r.truth.bytes - 14 * r.truth.packets : r.truth.bytes;
      expect({
        host: r.hostId,
        rx: after!.rx.packets - before.rx.packets,
        rxBytes: after!.rx.bytes - before.rx.bytes,
        tx: after!.tx.packets - before.tx.packets,
      }).toEqual({ host: r.hostId, rx: r.truth.packets, rxBytes, tx: 0 });
    }
  });

  it('publishes snapshots that say which host, hook and interface they cover', () => {
    for (const r of runs) {
      const snaps = sums.get(r.hostId)!.snapshots;
      expect(snaps.length).toBeGreaterThanOrEqual(2); // the first, empty one, and at least the final one
      for (const s of snaps) {
        expect(s.hostId).toBe(r.hostId);
        expect(s.samplingRate).toBe(1);
        expect(s.interfaces.map((i) => i.ifname)).toEqual(expect.arrayContaining(['eth0']));
        expect(new Set(s.interfaces.map((i) => i.hook))).toEqual(new Set([r.hook === 'tc' ? 'TC' : 'XDP']));
      }
      // consecutive sequence numbers: nothing lost between agent and consumer
      const seqs = snaps.map((s) => Number(s.sequence)).sort((a, b) => a - b);
      expect(seqs).toEqual(seqs.map((_, i) => seqs[0] + i));
    }
  });

  it('sums to exact totals per host, overall and per protocol, with no parse errors', () => {
    for (const r of runs) {
      const s = sums.get(r.hostId)!;
      expect({ host: r.hostId, packets: s.packets, bytes: s.bytes }).toEqual({
        host: r.hostId,
        packets: r.truth.packets,
        bytes: r.truth.bytes,
      });
      expect(Object.fromEntries(s.protocols)).toEqual(
        Object.fromEntries(r.truth.protocols.map((p) => [p.protocol, { packets: p.packets, bytes: p.bytes }])),
      );
      expect(s.parseErrors).toBe(0);
      expect(s.cmsPackets.total).toBe(r.truth.packets);
      expect(s.cmsBytes.total).toBe(r.truth.bytes);
    }
  });

  it('lists every flow above 0.1 % of packets among the candidates', () => {
    for (const r of runs) {
      const s = sums.get(r.hostId)!;
      const heavy = r.truth.flows.filter((f) => f.packets > 0.001 * r.truth.packets);
      expect(0.001 * r.truth.packets).toBeGreaterThanOrEqual(2 * CANDIDATE_THRESHOLD);
      expect(heavy.length).toBeGreaterThan(20);
      const missed = heavy
        .filter((f) => !s.candidates.has(toHex(flowKey(f))))
        .map((f) => `${f.src}→${f.dst} ${f.proto} ${f.sport}/${f.dport} (${f.packets})`);
      // on failure, show what each snapshot held: packets / candidates / evictions
      const perSnapshot = missed.length
        ? s.snapshots.map(
            (x) =>
              `${x.totals.packets}p/${x.candidates.length}c/${String((x as unknown as Record<string, unknown>).candidateEvictions ?? '?')}e`,
          )
        : [];
      expect({ host: r.hostId, heavy: heavy.length, missed, perSnapshot }).toEqual({
        host: r.hostId,
        heavy: heavy.length,
        missed: [],
        perSnapshot: [],
      });
    }
  });

  it('estimates every flow within the CMS bound ε·N, never below the truth', () => {
    for (const r of runs) {
      const s = sums.get(r.hostId)!;
      for (const [cms, field] of [
        [s.cmsPackets, 'packets'],
        [s.cmsBytes, 'bytes'],
      ] as const) {
        const bound = cms.errorBound();
        let under = 0;
        let over = 0;
        for (const f of r.truth.flows) {
          const est = cms.estimateKey(flowKey(f));
          if (est < f[field]) under++;
          if (est - f[field] > bound) over++;
        }
        expect({ host: r.hostId, field, under }).toEqual({ host: r.hostId, field, under: 0 });
        // the bound holds per flow with probability 1 − δ
        expect(over).toBeLessThanOrEqual(Math.floor(cms.delta * r.truth.flows.length));
      }
    }
  });

  it('estimates distinct flows, sources, destinations and ports within 3 standard errors', () => {
    for (const r of runs) {
      const s = sums.get(r.hostId)!;
      const cases: Array<[string, HyperLogLog, number]> = [
        ['flows', s.hll.flows, r.truth.distinct.flows],
        ['sources', s.hll.sources, r.truth.distinct.sources],
        ['destinations', s.hll.destinations, r.truth.distinct.destinations],
        ['ports', s.hll.ports, r.truth.distinct.ports],
      ];
      const report: string[] = [];
      for (const [name, hll, trueCount] of cases) {
        const est = hll.estimate();
        report.push(`${name} ${Math.round(est)}/${trueCount}`);
        const allowed = 3 * hll.standardError * trueCount;
        expect({
          host: r.hostId,
          name,
          off: Math.abs(est - trueCount) <= allowed ? 'within 3σ' : `${est} vs ${trueCount}`,
        }).toEqual({
          host: r.hostId,
          name,
          off: 'within 3σ',
        });
      }
      const cmsMaxOver = Math.max(...r.truth.flows.map((f) => s.cmsPackets.estimateKey(flowKey(f)) - f.packets));
      process.stdout.write(
        `e2e ${r.hook}: ${s.snapshots.length} snapshots, ${s.packets} packets exact, ${s.candidates.size} candidates, ` +
          `CMS max over-estimate ${cmsMaxOver} (bound ${s.cmsPackets.errorBound().toFixed(1)}), HLL est/true ${report.join(', ')}\n`,
      );
    }
  });
});
