// Property-based fuzzing of decode(): random bytes and mutated valid messages must give either a valid snapshot or
// a SchemaError, never another exception, and must finish in time proportional to their size.
import fc from 'fast-check';
import { HEADER_BYTES, currentSnapshotType, decode, decodeViaAvsc, encode } from './codec';
import { SchemaError } from './errors';
import { sampleBytes, sampleSnapshot } from './testing';

const current = currentSnapshotType();

type Outcome = { ok: true; value: unknown } | { ok: false; reason: SchemaError['reason'] };

function run(decoder: typeof decode, msg: Uint8Array): Outcome {
  const started = process.hrtime.bigint();
  try {
    const out = decoder(msg);
    expect(current.isValid(out.snapshot)).toBe(true);
    return { ok: true, value: out.snapshot };
  } catch (err) {
    if (!(err instanceof SchemaError)) throw err;
    return { ok: false, reason: err.reason };
  } finally {
    // A corrupted count must not make it loop: a bound far above any real decode (< 64 KiB messages take well under
    // 1 ms) that a shared, loaded machine cannot reach by pauses alone.
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(5000);
  }
}

/**
 * decode() outcome: 'ok' (the snapshot checked against the schema) or the SchemaError's reason; any other exception
 * fails the property. The single-pass reader and the walk + avsc path must agree on every input.
 */
function outcome(msg: Uint8Array): 'ok' | SchemaError['reason'] {
  const fast = run(decode, msg);
  const viaAvsc = run(decodeViaAvsc, msg);
  if (fast.ok && viaAvsc.ok) {
    // Avro's binary encoding of a value is unique, so equal re-encodings mean equal values (and it is fast).
    expect(current.toBuffer(fast.value).equals(current.toBuffer(viaAvsc.value))).toBe(true);
  } else {
    expect(fast).toEqual(viaAvsc);
  }
  return fast.ok ? 'ok' : fast.reason;
}

const valid = [
  encode(sampleSnapshot()),
  encode(
    sampleSnapshot({
      candidates: [],
      interfaces: [],
      parseErrors: [],
      totals: { packets: 0, bytes: 0, protocols: [] },
    }),
  ),
  encode(
    sampleSnapshot({
      cmsPackets: sampleBytes(2000, 3),
      candidates: Array.from({ length: 50 }, (_, i) => ({
        key: sampleBytes(40, i + 9),
        packets: i * 1e9,
        bytes: i,
        sincePackets: i,
        sinceBytes: i,
      })),
    }),
  ),
];
const header = valid[0].subarray(0, HEADER_BYTES);

type Mutation =
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'cut'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'append'; bytes: Uint8Array }
  | { kind: 'varint'; at: number; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 12 }) }),
  // Bytes after the end of the record (the snapshot's last fields are short defaults, so inserts rarely land there).
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  // Overwrite with a long varint: the corrupted-length / corrupted-count case.
  fc.record({
    kind: fc.constant('varint' as const),
    at: fc.nat(),
    bytes: fc
      .uint8Array({ minLength: 2, maxLength: 10 })
      .map((b) => b.map((x, i) => (i < b.length - 1 ? x | 0x80 : x & 0x7f))),
  }),
);

function mutate(base: Buffer, muts: Mutation[]): Buffer {
  let buf = Buffer.from(base);
  for (const m of muts) {
    if (buf.length === 0) break;
    // Mutations aim at the body mostly; the header gets its own share through `at` wrapping below HEADER_BYTES.
    const at = 'at' in m ? m.at % buf.length : buf.length;
    switch (m.kind) {
      case 'set':
        buf[at] = m.byte;
        break;
      case 'flip':
        buf[at] ^= 1 << m.bit;
        break;
      case 'cut':
        buf = buf.subarray(0, at);
        break;
      case 'insert':
        buf = Buffer.concat([buf.subarray(0, at), m.bytes, buf.subarray(at)]);
        break;
      case 'delete':
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + m.len)]);
        break;
      case 'append':
        buf = Buffer.concat([buf, m.bytes]);
        break;
      case 'varint':
        buf = Buffer.concat([buf.subarray(0, at), m.bytes, buf.subarray(at + m.bytes.length)]);
        break;
    }
  }
  return buf;
}

describe('decode fuzzing', () => {
  it('random bytes: a typed error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        expect(outcome(bytes)).not.toBe('ok');
      }),
      { numRuns: 2000 },
    );
  });

  it('random bodies behind a valid header: a typed error or a valid snapshot', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (body) => {
        seen.add(outcome(Buffer.concat([header, body])));
      }),
      { numRuns: 3000 },
    );
    // The bounded walk, not avsc, must be the one refusing: truncation and bad values both show up.
    expect(seen).toContain('truncated');
    expect(seen).toContain('invalid-body');
  });

  it('mutated valid messages: a typed error or a valid snapshot', () => {
    const reasons = new Map<string, number>();
    fc.assert(
      fc.property(fc.constantFrom(...valid), fc.array(mutation, { minLength: 1, maxLength: 4 }), (base, muts) => {
        const r = outcome(mutate(base, muts));
        reasons.set(r, (reasons.get(r) ?? 0) + 1);
      }),
      { numRuns: 5000 },
    );
    // The mutations reach every layer of the decoder.
    for (const r of ['ok', 'truncated', 'trailing-bytes', 'invalid-body', 'unknown-schema', 'bad-magic']) {
      expect(reasons.get(r) ?? 0).toBeGreaterThan(0);
    }
  });

  it('a huge varint at every position of a message: typed error or valid value, in bounded time', () => {
    const base = valid[0];
    const huge = [
      Buffer.from([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]), // ≈ 2^55
      Buffer.from([0x80, 0x80, 0x80, 0x80, 0x10]), // 2^31 (count 2^30)
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), // negative count, huge
    ];
    let refused = 0;
    let total = 0;
    for (let at = HEADER_BYTES; at < base.length; at++) {
      for (const h of huge) {
        const msg = Buffer.concat([base.subarray(0, at), h, base.subarray(at + 1)]);
        total++;
        if (outcome(msg) !== 'ok') refused++;
      }
    }
    // Avro carries no checksum (Kafka's record-batch CRC32C guards transport), so a corruption inside opaque bytes
    // that re-aligns can still be a well-formed snapshot; most positions must be refused, and none may misbehave.
    expect(refused / total).toBeGreaterThan(0.5);
  });
});
