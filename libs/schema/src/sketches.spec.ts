// Real sketches from @tma/sketch through a snapshot: the blobs and flow keys come out byte for byte, decode into
// sketches equal to the originals, and the sample's specification values are the library's.
import {
  CountMinSketch,
  declaredSpec,
  HyperLogLog,
  decodeCountMinSketch,
  decodeHyperLogLog,
  portsKey,
  dstKey,
  encodeSnapshotSketches,
  flowKey,
  srcKey,
} from '@tma/sketch';
import { decode, encode } from './codec';
import { sampleSnapshot } from './testing';

describe('snapshots carrying real sketches', () => {
  it('sampleSnapshot declares the sketch specification in force', () => {
    expect(sampleSnapshot().sketchSpec).toEqual(declaredSpec());
  });

  it.each([
    ['a quiet host', 30],
    ['a busy host', 5000],
  ])('round-trips %s', (_name, flows) => {
    const cmsPackets = new CountMinSketch();
    const cmsBytes = new CountMinSketch();
    const hll = {
      flows: new HyperLogLog(),
      sources: new HyperLogLog(),
      destinations: new HyperLogLog(),
      ports: new HyperLogLog(),
    };
    const candidates = [];
    for (let i = 0; i < flows; i++) {
      const t = {
        src: `10.${(i >> 8) & 255}.${i & 255}.1`,
        dst: '2001:db8::1',
        sport: 1024 + (i % 5000),
        dport: 443,
        proto: 6,
      };
      const key = flowKey(t);
      const packets = 1 + (i % 17);
      cmsPackets.addKey(key, packets);
      cmsBytes.addKey(key, packets * 1200);
      hll.flows.addKey(key);
      hll.sources.addKey(srcKey(t.src));
      hll.destinations.addKey(dstKey(t.dst));
      hll.ports.addKey(portsKey(t.dport, t.proto));
      if (packets === 17)
        candidates.push({
          key: Buffer.from(key),
          packets,
          bytes: packets * 1200,
          sincePackets: packets - 1,
          sinceBytes: (packets - 1) * 1200,
        });
    }
    const snap = sampleSnapshot({
      ...encodeSnapshotSketches({
        cmsPackets,
        cmsBytes,
        hllFlows: hll.flows,
        hllSources: hll.sources,
        hllDestinations: hll.destinations,
        hllDestinationPorts: hll.ports,
      }),
      candidates,
    });
    const msg = encode(snap);
    const { snapshot } = decode(msg);
    // Re-encoding is byte-identical (Avro's encoding of a value is unique), so every field came back unchanged.
    expect(encode(snapshot).equals(msg)).toBe(true);
    const cells = (c: CountMinSketch) => Buffer.from(c.cells.buffer, c.cells.byteOffset, c.cells.byteLength);
    expect(cells(decodeCountMinSketch(snapshot.cmsPackets)).equals(cells(cmsPackets))).toBe(true);
    expect(cells(decodeCountMinSketch(snapshot.cmsBytes)).equals(cells(cmsBytes))).toBe(true);
    expect(decodeHyperLogLog(snapshot.hllFlows).estimate()).toBe(hll.flows.estimate());
    expect(decodeHyperLogLog(snapshot.hllDestinationPorts).estimate()).toBe(hll.ports.estimate());
    const decodedCms = decodeCountMinSketch(snapshot.cmsPackets);
    for (const c of snapshot.candidates) expect(decodedCms.estimateKey(c.key)).toBeGreaterThanOrEqual(c.packets);
  });
});
