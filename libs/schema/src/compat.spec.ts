// Compatibility: data written with every .avsc version in the repository decodes with the current reader.
// Each version has a frozen fixture in libs/schema/fixtures/ (a framed message and the value it holds, as Avro JSON
// of that version), written once when the version was introduced and never regenerated:
//   TMA_WRITE_FIXTURES=1 npx jest --config libs/schema/jest.config.js compat   (writes only missing fixtures)
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as avro from 'avsc';
import fc from 'fast-check';
import { CURRENT_SNAPSHOT_VERSION, SNAPSHOT_SCHEMAS } from './generated/schemas.generated';
import { HEADER_BYTES, MAGIC, currentSnapshotType, decode, earlierSnapshotForms, encode } from './codec';
import { schemaFingerprint } from './fingerprint';
import { sampleBytes, sampleFlowKey, sampleSnapshot } from './testing';

const FIXTURES = path.join(__dirname, '..', 'fixtures');
const fixture = (v: number, ext: string) => path.join(FIXTURES, `sketch-snapshot.v${v}.${ext}`);

/** The value frozen in the current version's fixture: every field set, some at their edges. */
function fixtureValue() {
  return sampleSnapshot({
    hostId: 'höst-ä.example',
    bootId: 'b7e0a1d2-0000-4c3b-8f00-5a5a5a5a5a5a',
    sequence: 2 ** 40 + 3,
    interfaces: [
      { ifname: 'eth0', ifindex: 2, hook: 'XDP', direction: 'INGRESS' },
      { ifname: 'veth-tma0', ifindex: 2147483647, hook: 'TC', direction: 'EGRESS' },
    ],
    samplingRate: 64,
    cmsPackets: sampleBytes(300, 11),
    cmsBytes: Buffer.alloc(0),
    candidates: [
      {
        key: sampleFlowKey([198, 51, 100, 7], [203, 0, 113, 9], 8, 0, 1),
        packets: 9_007_199_254_740_990,
        bytes: 0,
        sincePackets: 9_007_199_254_740_990,
        sinceBytes: 0,
      },
      { key: sampleBytes(40, 77), packets: 1, bytes: 64, sincePackets: 0, sinceBytes: 0 },
    ],
    parseErrors: [
      { reason: 'truncated-l4', count: 3 },
      { reason: 'unknown-ethertype', count: 12 },
    ],
    candidateEvictions: 0,
    spoolDrops: 5,
    // the public seed's identity when the fixture was frozen (identities are one-way SHA-256 derivations since)
    sketchSpec: { ...sampleSnapshot().sketchSpec, seedHash: 0x769970a0 },
    candidateBounds: true,
    candidateFloorPackets: 0,
    candidateFloorBytes: 9_007_199_254_740_990,
    candidateThreshold: 1,
    evictedPackets: 2 ** 40,
    evictedBytes: 0,
    // frozen with v2's first form: the fields appended since (spreads, heavy prefixes, SYN flags, …) hold their defaults
    spreadSketch: Buffer.alloc(0),
    prefixCounts: false,
    heavyPrefixes: [],
    prefixFloors: [],
    synFlags: { depth: 0, widthBits: 0, cells: [], syn: [], synAck: [], rst: [], ack: [], candidates: [] },
  });
}

function writeMissingFixture(version: number) {
  if (process.env.TMA_WRITE_FIXTURES !== '1' || version !== CURRENT_SNAPSHOT_VERSION) return;
  if (fs.existsSync(fixture(version, 'bin')) || fs.existsSync(fixture(version, 'json'))) return;
  const value = fixtureValue();
  fs.mkdirSync(FIXTURES, { recursive: true });
  fs.writeFileSync(fixture(version, 'bin'), encode(value));
  fs.writeFileSync(
    fixture(version, 'json'),
    `${JSON.stringify(JSON.parse(currentSnapshotType().toString(value)), null, 2)}\n`,
  );
}

describe.each(SNAPSHOT_SCHEMAS.map((s) => [s.version, s] as const))('data written with v%i', (version, s) => {
  const writer = avro.Type.forSchema(s.schema as avro.Schema);
  const current = currentSnapshotType();
  writeMissingFixture(version);

  it('has a frozen fixture', () => {
    expect(fs.existsSync(fixture(version, 'bin'))).toBe(true);
    expect(fs.existsSync(fixture(version, 'json'))).toBe(true);
  });

  it('decodes its fixture with the current reader', () => {
    const bin = fs.readFileSync(fixture(version, 'bin'));
    // The fixture is exactly this value written with this version's schema and fingerprint, or (the current
    // version) with an earlier form of it, from before fields were appended.
    const fp = bin.subarray(MAGIC.length, HEADER_BYTES).toString('hex');
    const form = earlierSnapshotForms().find((e) => e.version === version && e.fingerprint === fp);
    const fixtureWriter = form ? avro.Type.forSchema(JSON.parse(form.canonicalForm) as avro.Schema) : writer;
    const written = fixtureWriter.fromString(fs.readFileSync(fixture(version, 'json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(bin.subarray(0, HEADER_BYTES)).toEqual(
      Buffer.concat([MAGIC, form ? Buffer.from(fp, 'hex') : schemaFingerprint(s.schema)]),
    );
    expect(bin.subarray(HEADER_BYTES)).toEqual(fixtureWriter.toBuffer(written));

    const out = decode(bin);
    expect(out.schemaVersion).toBe(version);
    const snapshot = out.snapshot as unknown as Record<string, unknown>;
    // Fields the versions share carry the written value; fields added later take their defaults.
    // Reshaped fields are mapped explicitly: v2 candidates carry since-entry counts, 0 for older writers.
    const writerFields = new Set((fixtureWriter as unknown as avro.types.RecordType).fields.map((f) => f.name));
    for (const f of (current as unknown as avro.types.RecordType).fields) {
      if (f.name === 'candidates' && version < 2)
        expect(snapshot.candidates).toEqual(
          (written.candidates as object[]).map((c) => ({ ...c, sincePackets: 0, sinceBytes: 0 })),
        );
      else if (writerFields.has(f.name)) expect(snapshot[f.name]).toEqual(written[f.name]);
      else expect(snapshot[f.name]).toEqual(f.defaultValue());
    }
    if (version === CURRENT_SNAPSHOT_VERSION) expect(out.snapshot).toEqual(fixtureValue());
  });

  it('every earlier form of the current version (fields appended since missing) decodes with their defaults', () => {
    if (version !== CURRENT_SNAPSHOT_VERSION) return;
    expect(earlierSnapshotForms().length).toBeGreaterThan(0);
    const value = fixtureValue() as unknown as Record<string, unknown>;
    for (const e of earlierSnapshotForms()) {
      const w = avro.Type.forSchema(JSON.parse(e.canonicalForm) as avro.Schema) as avro.types.RecordType;
      const kept = Object.fromEntries(w.fields.map((f) => [f.name, value[f.name]]));
      const out = decode(Buffer.concat([MAGIC, Buffer.from(e.fingerprint, 'hex'), w.toBuffer(kept)]));
      expect(out.schemaVersion).toBe(version);
      for (const f of (current as unknown as avro.types.RecordType).fields)
        expect((out.snapshot as unknown as Record<string, unknown>)[f.name]).toEqual(
          w.fields.some((x) => x.name === f.name) ? value[f.name] : f.defaultValue(),
        );
    }
  });

  it('decodes arbitrary values of its schema with the current reader', () => {
    const header = Buffer.concat([MAGIC, schemaFingerprint(s.schema)]);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
        // avsc's random() draws from Math.random; tie it to fast-check's seed so failures replay.
        const random = Math.random;
        let x = seed || 1;
        Math.random = () => {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          return (x >>> 0) / 2 ** 32;
        };
        let value: unknown;
        try {
          value = writer.random();
        } finally {
          Math.random = random;
        }
        const out = decode(Buffer.concat([header, writer.toBuffer(value)]));
        expect(out.schemaVersion).toBe(version);
        expect(current.isValid(out.snapshot)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});
