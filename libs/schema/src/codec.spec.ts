import * as fs from 'node:fs';
import * as path from 'node:path';
import * as avro from 'avsc';
import {
  CURRENT_SNAPSHOT_VERSION,
  DLQ_MESSAGE_HEADER,
  DLQ_REASON_HEADER,
  HEADER_BYTES,
  deadLetterHeaders,
  deadLetterTopic,
  decode,
  encode,
  knownSnapshotSchemas,
  snapshotTopic,
  snapshotTopics,
  currentSnapshotType,
} from './index';
import * as errors from './errors';
import { sampleBytes, sampleSnapshot } from './testing';
import { LONG_MAX } from './bounded-walk';
import { schemaFingerprint } from './fingerprint';

const currentSchema = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'avro', `sketch-snapshot.v${CURRENT_SNAPSHOT_VERSION}.avsc`), 'utf8'),
);

function expectError<T extends errors.SchemaError>(
  fn: () => unknown,
  cls: new (...args: never[]) => T,
  reason: string,
): T {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(cls);
    expect((err as errors.SchemaError).reason).toBe(reason);
    expect((err as Error).message.length).toBeGreaterThan(10);
    return err as T;
  }
  throw new Error(`expected ${cls.name}`);
}

describe('encode / decode', () => {
  it('round-trips a snapshot exactly', () => {
    const snap = sampleSnapshot();
    const out = decode(encode(snap));
    expect(out.schemaVersion).toBe(CURRENT_SNAPSHOT_VERSION);
    expect(out.snapshot).toEqual(snap);
    expect(Buffer.isBuffer(out.snapshot.candidates[0].key)).toBe(true);
  });

  it('frames as Avro single-object: C3 01, the little-endian CRC-64-AVRO of the schema, then the plain Avro body', () => {
    const snap = sampleSnapshot();
    const msg = encode(snap);
    expect([...msg.subarray(0, 2)]).toEqual([0xc3, 0x01]);
    expect(msg.subarray(2, HEADER_BYTES)).toEqual(schemaFingerprint(currentSchema));
    // The body is what any Avro library writes for this schema.
    expect(msg.subarray(HEADER_BYTES)).toEqual(avro.Type.forSchema(currentSchema).toBuffer(snap));
    const cur = knownSnapshotSchemas().find((s) => s.version === CURRENT_SNAPSHOT_VERSION && !s.revision)!;
    expect(cur.fingerprint).toBe(msg.subarray(2, HEADER_BYTES).toString('hex'));
  });

  it('accepts a Uint8Array view at an offset', () => {
    const msg = encode(sampleSnapshot());
    const backing = new Uint8Array(msg.length + 7);
    backing.set(msg, 7);
    expect(decode(backing.subarray(7)).snapshot).toEqual(sampleSnapshot());
  });

  it('keeps longs exact up to 2^53 - 2 and large blobs intact', () => {
    const big = LONG_MAX;
    const snap = sampleSnapshot({
      sequence: big,
      totals: { packets: big, bytes: big - 1, protocols: [{ protocol: 255, packets: big, bytes: 0 }] },
      cmsBytes: sampleBytes(4 * 4096 * 8, 9),
      candidates: Array.from({ length: 1024 }, (_, i) => ({
        key: sampleBytes(40, i + 1),
        packets: i,
        bytes: i * 1500,
        sincePackets: i >> 1,
        sinceBytes: (i >> 1) * 1500,
      })),
    });
    expect(decode(encode(snap)).snapshot).toEqual(snap);
  });

  it('refuses to encode values that do not match the schema, naming the fields', () => {
    const err = expectError(
      () =>
        encode(
          sampleSnapshot({
            samplingRate: 1.5,
            candidates: [{ key: Buffer.alloc(39), packets: 1, bytes: 1, sincePackets: 0, sinceBytes: 0 }],
          }),
        ),
      errors.InvalidSnapshotError,
      'invalid-snapshot',
    );
    expect(err.paths).toEqual(expect.arrayContaining(['samplingRate', 'candidates.0.key']));
    expectError(
      () => encode(sampleSnapshot({ sequence: LONG_MAX + 1 })),
      errors.InvalidSnapshotError,
      'invalid-snapshot',
    );
    expectError(
      () =>
        encode(
          sampleSnapshot({ interfaces: [{ ifname: 'x', ifindex: 1, hook: 'KPROBE' as 'TC', direction: 'INGRESS' }] }),
        ),
      errors.InvalidSnapshotError,
      'invalid-snapshot',
    );
  });
});

describe('decode rejects with typed errors', () => {
  const msg = encode(sampleSnapshot());

  it('bad magic', () => {
    expectError(() => decode(Buffer.from('{"hostId":"a"}')), errors.BadMagicError, 'bad-magic');
    expectError(() => decode(Buffer.from([0xc3, 0x02, ...msg.subarray(2)])), errors.BadMagicError, 'bad-magic');
    expectError(() => decode(Buffer.from([0x00])), errors.BadMagicError, 'bad-magic');
  });

  it('truncation anywhere, including inside the header', () => {
    for (const len of [0, 1, 5, HEADER_BYTES - 1, HEADER_BYTES, HEADER_BYTES + 3, msg.length - 1]) {
      expectError(() => decode(msg.subarray(0, len)), errors.TruncatedMessageError, 'truncated');
    }
  });

  it('unknown fingerprint, reporting it', () => {
    const other = Buffer.from(msg);
    other[9] ^= 0xff;
    const err = expectError(() => decode(other), errors.UnknownSchemaError, 'unknown-schema');
    expect(err.fingerprint).toBe(other.subarray(2, 10).toString('hex'));
    expect(err.message).toContain(err.fingerprint);
  });

  it('trailing bytes', () => {
    const err = expectError(
      () => decode(Buffer.concat([msg, Buffer.from([0, 0, 0])])),
      errors.TrailingBytesError,
      'trailing-bytes',
    );
    expect(err.extraBytes).toBe(3);
  });

  it('too large', () => {
    expectError(() => decode(msg, { maxBytes: msg.length - 1 }), errors.MessageTooLargeError, 'too-large');
    expect(decode(msg, { maxBytes: msg.length }).snapshot.hostId).toBe('host-a');
  });

  it('invalid body: enum index, UTF-8, int range, long beyond 2^53', () => {
    const type = currentSnapshotType();
    const header = msg.subarray(0, HEADER_BYTES);
    // Write a valid body, then patch one value in place (hostId is the first field: length byte, then bytes).
    const body = type.toBuffer(sampleSnapshot({ hostId: 'ab' }));
    const badUtf8 = Buffer.from(body);
    badUtf8[1] = 0xff;
    expectError(() => decode(Buffer.concat([header, badUtf8])), errors.InvalidBodyError, 'invalid-body');

    // A schema-shaped value that avsc would happily write with a wider type, read back through the current writer.
    const wide = avro.Type.forSchema(
      JSON.parse(JSON.stringify(currentSchema).replace('"symbols":["XDP","TC"]', '"symbols":["XDP","TC","OTHER"]')),
    );
    const withBadEnum = wide.toBuffer({
      ...sampleSnapshot(),
      interfaces: [{ ifname: 'e', ifindex: 1, hook: 'OTHER', direction: 'EGRESS' }],
    });
    expectError(() => decode(Buffer.concat([header, withBadEnum])), errors.InvalidBodyError, 'invalid-body');

    const longIfindex = avro.Type.forSchema(
      JSON.parse(
        JSON.stringify(currentSchema).replace('"name":"ifindex","type":"int"', '"name":"ifindex","type":"long"'),
      ),
    );
    const withBigInt = longIfindex.toBuffer({
      ...sampleSnapshot(),
      interfaces: [{ ifname: 'e', ifindex: 2 ** 31, hook: 'TC', direction: 'EGRESS' }],
    });
    expectError(() => decode(Buffer.concat([header, withBigInt])), errors.InvalidBodyError, 'invalid-body');

    // sequence is the fifth field; make it a 10-byte varint of 2^62.
    const prefix = type.toBuffer(
      sampleSnapshot({ hostId: 'a', agentId: 'b', agentVersion: 'c', bootId: 'd', sequence: 0 }),
    );
    const huge = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    const patched = Buffer.concat([prefix.subarray(0, 8), huge, prefix.subarray(9)]);
    const err = expectError(() => decode(Buffer.concat([header, patched])), errors.InvalidBodyError, 'invalid-body');
    expect(err.message).toContain('sequence');
  });

  it('a corrupted array count fails fast instead of allocating (avsc alone would not)', () => {
    const type = currentSnapshotType();
    const header = msg.subarray(0, HEADER_BYTES);
    const body = type.toBuffer(
      sampleSnapshot({
        hostId: 'a',
        agentId: 'b',
        agentVersion: 'c',
        bootId: 'd',
        sequence: 0,
        intervalStartMs: 0,
        intervalEndMs: 0,
      }),
    );
    // Bytes 0..10 are the five strings/longs and two zero timestamps; byte 11 starts `interfaces` (count 2 → 0x04).
    expect(body[11]).toBe(0x04);
    const count = 2 ** 40; // zig-zag varint of 2^40
    const varint: number[] = [];
    for (let z = count * 2; z >= 128; z = Math.floor(z / 128)) varint.push((z % 128) | 0x80);
    varint.push(Math.floor((count * 2) / 128 ** varint.length));
    const corrupted = Buffer.concat([body.subarray(0, 11), Buffer.from(varint), body.subarray(12)]);
    const started = process.hrtime.bigint();
    const err = expectError(
      () => decode(Buffer.concat([header, corrupted])),
      errors.TruncatedMessageError,
      'truncated',
    );
    expect(err.message).toContain('interfaces');
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(1000);

    // Why the walk exists: avsc reads zeros past the end and notices only after the whole array, so it builds every
    // declared item first (2000 here, counted through a logical type; 2^40 would hang and exhaust memory).
    let built = 0;
    class Counted extends avro.types.LogicalType {
      override _fromValue(v: unknown) {
        built++;
        return v;
      }
      override _toValue(v: unknown) {
        return v;
      }
    }
    const items = avro.Type.forSchema(
      {
        type: 'array',
        items: { type: 'record', name: 'I', logicalType: 'counted', fields: [{ name: 'x', type: 'string' }] },
      } as avro.Schema,
      { logicalTypes: { counted: Counted } },
    );
    expect(() => items.fromBuffer(Buffer.from([0xa0, 0x1f, 0x02, 0x61]))).toThrow('truncated buffer');
    expect(built).toBe(2000);
  });
});

describe('topics and dead letters', () => {
  it('carry the schema version', () => {
    expect(snapshotTopic()).toBe('tma.snapshots.v2');
    expect(snapshotTopic('prod-eu', 1)).toBe('prod-eu.snapshots.v1');
    expect(deadLetterTopic()).toBe('tma.snapshots.v2.dlq');
    expect(snapshotTopics()).toEqual([...new Set(knownSnapshotSchemas().map((s) => `tma.snapshots.v${s.version}`))]);
    expect(() => snapshotTopic('bad prefix')).toThrow(RangeError);
    expect(() => snapshotTopic('tma', CURRENT_SNAPSHOT_VERSION + 1)).toThrow(RangeError);
  });

  it('dead-letter headers carry the reason code', () => {
    let caught: unknown;
    try {
      decode(Buffer.from('nope'));
    } catch (err) {
      caught = err;
    }
    const headers = deadLetterHeaders(caught);
    expect(headers[DLQ_REASON_HEADER]).toBe('bad-magic');
    expect(headers[DLQ_MESSAGE_HEADER]).toContain('0x6e6f');
    expect(deadLetterHeaders(new Error('boom'))[DLQ_REASON_HEADER]).toBe('internal');
    // any refusal that names its reason keeps it (the aggregator's own rejections)
    const refused = Object.assign(new Error('seed hash differs'), { reason: 'wrong-seed' });
    expect(deadLetterHeaders(refused)[DLQ_REASON_HEADER]).toBe('wrong-seed');
  });
});

describe('sampleSnapshot', () => {
  it('applies overrides and stays valid', () => {
    const s = sampleSnapshot({ hostId: 'h9', sequence: 1 });
    expect(s.hostId).toBe('h9');
    expect(currentSnapshotType().isValid(s)).toBe(true);
  });
});
