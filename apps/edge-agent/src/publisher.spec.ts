// Publishing against the real broker: a snapshot built from sketch arrays travels through the spool and Kafka and
// decodes back equal; during an outage snapshots wait in the spool and are replayed in order.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { COMPRESSION_CODECS } from '@tma/kafka';
import { decode, encode, snapshotTopic } from '@tma/schema';
import { decodeCountMinSketch, decodeHyperLogLog, flowKey } from '@tma/sketch';
import { silentLogger } from './log';
import { Publisher } from './publisher';
import { buildSnapshot, type SnapshotMeta } from './snapshot';
import { Spool } from './spool';
import { AgentState } from './agent-state';
import { closedPort, consume, deleteTopic, kafkaSettings, testPrefix } from './test-support/kafka';
import { syntheticRead } from './test-support/reads';

const flows = [
  { sport: 1000, packets: 5000, bytesEach: 1500 },
  { sport: 1001, packets: 40, bytesEach: 80 },
  { sport: 1002, packets: 3, bytesEach: 60 },
];

const meta = (sequence: number): SnapshotMeta => ({
  hostId: 'host-spec',
  agentId: 'agent-spec',
  agentVersion: '0.1.0',
  bootId: 'boot-spec',
  sequence,
  intervalStartMs: 1_800_000_000_000 + sequence * 10_000,
  intervalEndMs: 1_800_000_010_000 + sequence * 10_000,
  interfaces: [{ ifname: 'veth0', ifindex: 7, hook: 'TC', direction: 'INGRESS' }],
  samplingRate: 1,
  spoolDrops: 0,
});

describe('snapshot publishing (real Kafka)', () => {
  let dir: string;
  const topics: string[] = [];
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tma-ea-pub-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  afterAll(async () => {
    for (const t of topics) await deleteTopic(t);
  });

  it('builds the snapshot from kernel arrays, publishes it keyed by host id and decodes it back equal', async () => {
    const snap = buildSnapshot(syntheticRead(flows), meta(0));
    expect(snap.totals).toEqual({
      packets: 5046,
      bytes: 7503440,
      protocols: [{ protocol: 6, packets: 5043, bytes: 7503380 }],
    });
    expect(snap.parseErrors).toEqual([{ reason: 'l4_truncated', count: 3 }]);
    expect(snap.candidateEvictions).toBe(2);
    expect(snap.candidates).toHaveLength(2);

    const topic = snapshotTopic(testPrefix());
    topics.push(topic);
    const spool = new Spool(dir, 1 << 20, AgentState.open(dir, 'b')).open();
    spool.put(encode(snap));
    const pub = new Publisher({ settings: kafkaSettings(), topic, key: 'host-spec', log: silentLogger });
    const r = await pub.drain(spool);
    await pub.close();
    expect(r.error).toBeUndefined();
    expect(r.sent).toBe(1);
    expect(spool.depth).toBe(0);
    spool.close();

    const [m] = await consume(topic, 1);
    expect(m.key).toBe('host-spec');
    const back = decode(m.value).snapshot;
    expect(back).toEqual(snap);
    const cms = decodeCountMinSketch(back.cmsPackets);
    const key = flowKey({ src: '198.18.0.2', dst: '198.18.0.1', sport: 1000, dport: 443, proto: 6 });
    expect(cms.estimateKey(key)).toBe(5000);
    expect(decodeCountMinSketch(back.cmsBytes).estimateKey(key)).toBe(5000 * 1500);
    expect(Math.round(decodeHyperLogLog(back.hllFlows).estimate())).toBe(3);
  }, 60_000);

  it.each(COMPRESSION_CODECS.map((c) => [c]))(
    'publishes with %s compression: the consumer gets the exact bytes',
    async (compression) => {
      // a busier snapshot than above: 3,000 flows, so the value spans several compression blocks
      const many = Array.from({ length: 3000 }, (_, i) => ({
        sport: 2000 + i,
        packets: 1 + ((i * 7919) % 200),
        bytesEach: 64 + (i % 1400),
      }));
      const value = encode(buildSnapshot(syntheticRead(many), meta(7)));
      const topic = snapshotTopic(testPrefix());
      topics.push(topic);
      const spool = new Spool(dir, 1 << 22, AgentState.open(dir, 'b')).open();
      spool.put(value);
      const pub = new Publisher({ settings: kafkaSettings(), topic, key: 'host-spec', log: silentLogger, compression });
      const r = await pub.drain(spool);
      await pub.close();
      spool.close();
      expect(r.error).toBeUndefined();
      expect(r.sent).toBe(1);
      const [m] = await consume(topic, 1);
      expect(m.value.length).toBe(value.length);
      expect(m.value.equals(value)).toBe(true);
      expect(decode(m.value).snapshot.sequence).toBe(7);
    },
    60_000,
  );

  it('keeps snapshots in the spool while the broker is unreachable and replays them in order when it is back', async () => {
    const topic = snapshotTopic(testPrefix());
    topics.push(topic);
    const state = AgentState.open(dir, 'b');
    const spool = new Spool(dir, 1 << 20, state).open();
    const down = new Publisher({
      settings: { ...kafkaSettings(), brokers: [`127.0.0.1:${await closedPort()}`] },
      topic,
      key: 'host-spec',
      log: silentLogger,
      connectionTimeoutMs: 500,
    });
    for (let seq = 0; seq < 3; seq++) {
      spool.put(encode(buildSnapshot(syntheticRead(flows), meta(state.takeSequence()))));
      const r = await down.drain(spool);
      expect(r.sent).toBe(0);
      expect(r.error).toBeDefined();
      expect(spool.depth).toBe(seq + 1);
    }
    await down.close();

    const up = new Publisher({ settings: kafkaSettings(), topic, key: 'host-spec', log: silentLogger });
    spool.put(encode(buildSnapshot(syntheticRead(flows), meta(state.takeSequence()))));
    const r = await up.drain(spool);
    await up.close();
    expect(r.error).toBeUndefined();
    expect(r.sent).toBe(4);
    expect(spool.depth).toBe(0);
    spool.close();
    const got = await consume(topic, 4);
    expect(got.map((m) => decode(m.value).snapshot.sequence)).toEqual([0, 1, 2, 3]);
  }, 90_000);
});

describe('drain past an unreadable spool file', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tma-ea-bad-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Acknowledges every send at once, keeping what it was given. */
  class RecordingPublisher extends Publisher {
    readonly sent: Buffer[] = [];
    override send(value: Buffer): Promise<void> {
      this.sent.push(value);
      return Promise.resolve();
    }
  }

  it('drops a truncated file, counts it, and publishes the files after it in order', async () => {
    const state = AgentState.open(dir, 'boot-spec');
    const events: string[] = [];
    const spool = new Spool(
      dir,
      1 << 20,
      state,
      (_l, event) => events.push(event),
      (m) => void decode(m),
    ).open();
    for (let i = 0; i < 3; i++) spool.put(encode(buildSnapshot(syntheticRead(flows), meta(i))));
    const bad = path.join(
      dir,
      fs
        .readdirSync(dir)
        .filter((n) => n.endsWith('.snap'))
        .sort()[1],
    );
    fs.truncateSync(bad, Math.floor(fs.statSync(bad).size / 2));
    const publisher = new RecordingPublisher({
      settings: kafkaSettings(),
      topic: 'unused',
      key: 'host-spec',
      log: silentLogger,
    });
    const r = await publisher.drain(spool);
    expect(r.error).toBeUndefined();
    expect(r.sent).toBe(2);
    expect(r.dropped).toBe(1);
    expect(publisher.sent.map((v) => decode(v).snapshot.sequence)).toEqual([0, 2]);
    expect(spool.depth).toBe(0);
    expect(spool.dropped).toBe(1);
    expect(fs.existsSync(bad)).toBe(false);
    expect(events.filter((e) => e === 'spool_file_unreadable')).toHaveLength(1);
    spool.close();
  });
});
