// Fault: a hostile-message corpus interleaved with a good stream, read by the aggregator process (dist/main.js).
// Valid framing with each field pushed to its bound (accepted, counted exactly) and past it (dead-lettered with the
// reason docs/aggregator.md "Hostile input" gives), counts at and beyond 2^53 written as raw Avro longs, and
// fast-check bodies: random bytes, a valid header with a random body, truncated messages. The aggregator commits
// past all of them, the dead-letter topic holds each rejected one with its reason, the totals are exact.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { createStorage, type Storage } from '@tma/storage';
import { encode, HEADER_BYTES, snapshotTopic, type SketchSnapshot } from '@tma/schema';
import { FleetSimulator, sendMessages } from '@tma/fleet-sim';
import {
  committedToEnd,
  createTopics,
  deleteTopics,
  producer,
  readDeadLetters,
  uniquePrefix,
  waitFor,
} from '../support/kafka';
import {
  AGGREGATOR,
  aggregatorEnv,
  buildDist,
  LOOPBACK_HTTP,
  metricSum,
  OPEN_WINDOWS,
  report,
  spawnNode,
  stopGracefully,
} from '../support/processes';
import { storedWindows, truthWindows } from '../support/test-bed';

jest.setTimeout(240_000);

const MINUTE = 60_000;
const DAY = 86_400_000;
const prefix = uniquePrefix('fkhostile');
const dataDir = mkdtempSync(join(tmpdir(), 'tma-fault-hostile-'));
const database = `tma_fkhostile_${randomBytes(4).toString('hex')}`;
const startMs = Math.floor(Date.now() / MINUTE) * MINUTE - 10 * MINUTE;
const sim = new FleetSimulator({ hosts: 8, seed: 717, startMs, intervalMs: 10_000 });
const [base] = new FleetSimulator({ hosts: 1, seed: 7, startMs, hostPrefix: 'bad-' }).nextRoundSnapshots();
let storage: Storage | undefined;

function variant(hostId: string, change: (s: SketchSnapshot) => void): SketchSnapshot {
  const s: SketchSnapshot = {
    ...base,
    hostId,
    totals: { ...base.totals, protocols: base.totals.protocols.map((p) => ({ ...p })) },
    candidates: base.candidates.map((c) => ({ ...c })),
    heavyPrefixes: base.heavyPrefixes.map((p) => ({ ...p })),
  };
  change(s);
  return s;
}

/** Avro long: zigzag, then base-128 varint. */
function avroLong(n: bigint): Buffer {
  let z = n >= 0n ? n << 1n : (-n << 1n) - 1n;
  const out: number[] = [];
  do {
    let b = Number(z & 0x7fn);
    z >>= 7n;
    if (z > 0n) b |= 0x80;
    out.push(b);
  } while (z > 0n);
  return Buffer.from(out);
}

/** The snapshot with one long field holding `value`, beyond what the encoder accepts: a sentinel's bytes replaced. */
function rawLong(s: SketchSnapshot, set: (s: SketchSnapshot, v: number) => void, value: bigint): Buffer {
  const sentinel = 987_654_321_987;
  set(s, sentinel);
  const buf = encode(s);
  const needle = avroLong(BigInt(sentinel));
  const at = buf.indexOf(needle);
  if (at < 0 || buf.indexOf(needle, at + 1) >= 0) throw new Error('sentinel not found exactly once');
  return Buffer.concat([buf.subarray(0, at), avroLong(value), buf.subarray(at + needle.length)]);
}

const TWO_53 = 2n ** 53n;
// Accepted at their bound: each a host of its own (one stream each), merged and counted.
const atBound: [string, Buffer][] = [
  ['at-sampling-65536', encode(variant('bad-at-sampling', (s) => (s.samplingRate = 65_536)))],
  ['at-protocol-255', encode(variant('bad-at-protocol', (s) => (s.totals.protocols[0].protocol = 255)))],
  ['at-text-256', encode(variant('bad-at-text', (s) => (s.agentVersion = 'v'.repeat(256))))],
  ['at-hostid-256', encode(variant('h'.repeat(256), () => undefined))],
  // The wire carries longs up to 2^53 − 2 (libs/schema LONG_MAX, as avsc's encoder); 2^53 − 1 is past it.
  [
    'at-sequence-2^53-2',
    rawLong(
      variant('bad-at-seq', () => undefined),
      (s, v) => (s.sequence = v),
      TWO_53 - 2n,
    ),
  ],
];
// Past their bound: key → expected dead-letter reasons.
const pastBound: [string, Buffer, string[]][] = [
  ['negative-packets', encode(variant('bad-1', (s) => (s.totals.packets = -1))), ['invalid-count']],
  ['negative-candidate', encode(variant('bad-2', (s) => (s.candidates[0].packets = -5))), ['invalid-count']],
  [
    'sequence-2^53-1',
    rawLong(
      variant('bad-3b', () => undefined),
      (s, v) => (s.sequence = v),
      TWO_53 - 1n,
    ),
    ['invalid-body'],
  ],
  ['negative-sequence', encode(variant('bad-3', (s) => (s.sequence = -1))), ['invalid-count']],
  [
    'packets-2^53',
    rawLong(
      variant('bad-4', () => undefined),
      (s, v) => (s.totals.packets = v),
      TWO_53,
    ),
    ['invalid-body'],
  ],
  [
    'bytes-2^63-1',
    rawLong(
      variant('bad-5', () => undefined),
      (s, v) => (s.totals.bytes = v),
      2n ** 63n - 1n,
    ),
    ['invalid-body'],
  ],
  [
    'candidate-bytes-2^53+2',
    rawLong(
      variant('bad-6', () => undefined),
      (s, v) => (s.candidates[0].bytes = v),
      TWO_53 + 2n,
    ),
    ['invalid-body'],
  ],
  ['sampling-0', encode(variant('bad-7', (s) => (s.samplingRate = 0))), ['invalid-sampling']],
  ['sampling-65537', encode(variant('bad-8', (s) => (s.samplingRate = 65_537))), ['invalid-sampling']],
  ['sampling-2^31-1', encode(variant('bad-9', (s) => (s.samplingRate = 2 ** 31 - 1))), ['invalid-sampling']],
  [
    'sampled-overflow',
    encode(
      variant('bad-10', (s) => {
        s.samplingRate = 65_536;
        s.candidates[0].packets = 2 ** 38;
      }),
    ),
    ['count-overflow'],
  ],
  ['protocol-256', encode(variant('bad-11', (s) => (s.totals.protocols[0].protocol = 256))), ['invalid-protocol']],
  ['protocol-neg', encode(variant('bad-12', (s) => (s.totals.protocols[0].protocol = -1))), ['invalid-protocol']],
  ['prefix-level', encode(variant('bad-12p', (s) => (s.heavyPrefixes[0].length = 20))), ['invalid-prefix']],
  [
    'prefix-lower-above-upper',
    encode(variant('bad-12q', (s) => (s.heavyPrefixes[0].sincePackets = s.heavyPrefixes[0].packets + 1))),
    ['invalid-count'],
  ],
  ['interval-empty', encode(variant('bad-13', (s) => (s.intervalEndMs = s.intervalStartMs))), ['invalid-interval']],
  [
    'interval-301s',
    encode(variant('bad-14', (s) => (s.intervalEndMs = s.intervalStartMs + 300_001))),
    ['invalid-interval'],
  ],
  [
    'future-1d',
    encode(
      variant('bad-15', (s) => {
        s.intervalStartMs += DAY;
        s.intervalEndMs += DAY;
      }),
    ),
    ['future-interval'],
  ],
  [
    'future-far',
    encode(
      variant('bad-16', (s) => {
        s.intervalStartMs = 2 ** 52;
        s.intervalEndMs = 2 ** 52 + 10_000;
      }),
    ),
    ['future-interval'],
  ],
  [
    'past-8d',
    encode(
      variant('bad-17', (s) => {
        s.intervalStartMs -= 8 * DAY;
        s.intervalEndMs -= 8 * DAY;
      }),
    ),
    ['past-interval'],
  ],
  [
    'past-epoch',
    encode(
      variant('bad-18', (s) => {
        s.intervalStartMs = 0;
        s.intervalEndMs = 10_000;
      }),
    ),
    ['past-interval'],
  ],
  ['text-257', encode(variant('bad-19', (s) => (s.agentVersion = 'v'.repeat(257)))), ['invalid-text']],
  ['hostid-empty', encode(variant('', () => undefined)), ['invalid-text']],
  ['hostid-257', encode(variant('h'.repeat(257), () => undefined)), ['invalid-text']],
  ['bootid-100k', encode(variant('bad-20', (s) => (s.bootId = 'b'.repeat(100_000)))), ['invalid-text']],
  ['empty', Buffer.alloc(0), ['empty-message']],
];
const DECODE_REASONS = ['bad-magic', 'truncated', 'unknown-schema', 'trailing-bytes', 'invalid-body', 'too-large'];
const ANY_REASON = [
  ...DECODE_REASONS,
  'empty-message',
  'invalid-snapshot',
  'wrong-spec',
  'wrong-seed',
  'bad-sketch',
  'invalid-interval',
  'future-interval',
  'past-interval',
  'invalid-sampling',
  'invalid-count',
  'invalid-protocol',
  'invalid-prefix',
  'invalid-text',
  'count-overflow',
];
const good = encode(base);
const fuzzed: [string, Buffer, string[]][] = [
  ...fc
    .sample(fc.uint8Array({ minLength: 1, maxLength: 4096 }), { seed: 1, numRuns: 20 })
    .map((b, i): [string, Buffer, string[]] => [`fuzz-bytes-${i}`, Buffer.from(b), ANY_REASON]),
  ...fc
    .sample(fc.uint8Array({ minLength: 0, maxLength: 4096 }), { seed: 2, numRuns: 20 })
    .map((b, i): [string, Buffer, string[]] => [
      `fuzz-body-${i}`,
      Buffer.concat([good.subarray(0, HEADER_BYTES), b]),
      ANY_REASON,
    ]),
  ...fc
    .sample(fc.integer({ min: 1, max: good.length - 1 }), { seed: 3, numRuns: 10 })
    .map((n, i): [string, Buffer, string[]] => [`fuzz-truncated-${i}`, good.subarray(0, n), ANY_REASON]),
];
const rejected = [...pastBound, ...fuzzed];

beforeAll(async () => {
  buildDist('apps/aggregator');
  await createTopics(prefix, 2);
});

afterAll(async () => {
  await storage?.close();
  rmSync(dataDir, { recursive: true, force: true });
  await deleteTopics(prefix);
});

it('commits past every hostile message, dead-letters each with its reason, and keeps the totals exact', async () => {
  const agg = spawnNode(
    [AGGREGATOR],
    aggregatorEnv({ prefix, dataDir, database, partitions: 2 }, { ...LOOPBACK_HTTP }),
    /on (http:\/\/[\d.:]+)/,
  );
  const url = await agg.ready;
  const p = await producer();
  const topic = snapshotTopic(prefix);
  const hostile = [
    ...atBound.map(([k, v]): [string, Buffer] => [k, v]),
    ...rejected.map(([k, v]) => [k, v] as [string, Buffer]),
  ];
  const t0 = Date.now();
  // The good stream with the corpus spread between its rounds.
  const per = Math.ceil(hostile.length / 10);
  for (let r = 0; r < 12; r++) {
    await sendMessages(p, topic, sim.nextRound());
    const slice = hostile.slice(r * per, (r + 1) * per);
    if (slice.length) await p.send({ topic, acks: -1, messages: slice.map(([key, value]) => ({ key, value })) });
  }
  await p.disconnect();

  await waitFor('every offset committed', () => committedToEnd(`${prefix}-group`, topic), 120_000, 500);
  report(
    'hostile corpus',
    `${hostile.length} hostile + ${12 * 8} good messages, first send to every offset committed`,
    Date.now() - t0,
  );
  expect(await metricSum(url, OPEN_WINDOWS)).toBe(0);
  await stopGracefully(agg);

  const dead = await readDeadLetters(prefix, rejected.length);
  const reasons = new Map(dead.map((d) => [d.key ?? '', d.reason]));
  const unexpected = dead.filter((d) => !rejected.some(([key]) => key === d.key));
  expect(unexpected.map((d) => `${d.key?.slice(0, 40)}: ${d.reason} (${d.message.slice(0, 200)})`)).toEqual([]);
  for (const [key, , expected] of rejected) {
    const got = reasons.get(key);
    if (!got || !expected.includes(got))
      throw new Error(`${key}: dead-letter reason ${got}, expected ${expected.join('|')}`);
  }

  // Expected: the simulator's truth plus the accepted at-bound snapshots (all in the first interval's window).
  const expected = truthWindows(sim);
  const w = expected.find((row) => row[0] === Math.floor(base.intervalStartMs / MINUTE) * MINUTE)!;
  w[1] += atBound.length * base.totals.packets;
  w[2] += atBound.length * base.totals.bytes;
  w[3] += atBound.length;
  storage = await createStorage({ kind: 'chdb', path: dataDir, database });
  expect(await storedWindows(storage)).toEqual(expected);
});
