// Candidate bounds through the aggregator: a v1 snapshot (no since-entry counts, no floor) still decodes and merges
// with v2 ones; the window keeps each flow's summed since-entry counts (lower bounds) and upper counts, and a floor
// only while every snapshot gave one; sampled snapshots mark the window.
import * as avro from 'avsc';
import { FleetSimulator } from '@tma/fleet-sim';
import { MAGIC, decode, encode, knownSnapshotSchemas, type SketchSnapshot } from '@tma/schema';
import { decodeCandidateList, toHex } from '@tma/sketch';
import { partialRowFromAccumulator } from './rows';
import { validateMessage } from './validate';
import { WindowAccumulator } from './window-accumulator';
import { NOW, T0 } from './merger.fixture';

const OPTS = { nowMs: NOW, maxFutureMs: 3_600_000 };
const sealed = (acc: WindowAccumulator) => {
  acc.seal();
  return acc;
};

/** The same snapshot as a v1 writer frames it (fields v1 lacks are dropped). */
function asV1(s: SketchSnapshot): Buffer {
  const v1 = knownSnapshotSchemas().find((k) => k.version === 1)!;
  const type = avro.Type.forSchema(JSON.parse(v1.canonicalForm) as avro.Schema);
  const { candidates, ...rest } = s;
  const value = { ...rest, candidates: candidates.map(({ key, packets, bytes }) => ({ key, packets, bytes })) };
  return Buffer.concat([MAGIC, Buffer.from(v1.fingerprint, 'hex'), type.toBuffer(value)]);
}

function round(): SketchSnapshot[] {
  const sim = new FleetSimulator({ hosts: 3, seed: 5, startMs: T0, intervalMs: 10_000 });
  return sim.nextRound().map((m) => decode(m.value).snapshot);
}

describe('candidate bounds in a window', () => {
  it('decodes a v1 snapshot and merges it with v2 ones: since-entry counts summed, floor unknown', () => {
    const [a, b, c] = round();
    expect(a.candidateBounds).toBe(true);
    const v1 = decode(asV1(c));
    expect(v1.schemaVersion).toBe(1);
    expect(v1.snapshot.candidateBounds).toBe(false);
    expect(v1.snapshot.candidates.every((x) => x.sincePackets === 0 && x.sinceBytes === 0)).toBe(true);

    const acc = new WindowAccumulator('t', 0, T0, 60_000, false);
    const twoV2 = new WindowAccumulator('t', 0, T0, 60_000, false);
    [a, b].forEach((s, i) => {
      acc.add(validateMessage(encode(s), OPTS), i, 0);
      twoV2.add(validateMessage(encode(s), OPTS), i, 0);
    });
    expect(twoV2.candidateFloor).toEqual({
      packets: a.candidateFloorPackets + b.candidateFloorPackets,
      bytes: a.candidateFloorBytes + b.candidateFloorBytes,
    });
    acc.add(validateMessage(asV1(c), OPTS), 2, 0);
    expect(acc.candidateFloor).toBeUndefined(); // the v1 host says nothing about what its list leaves out

    // every flow: since-entry and upper counts are the sums over the snapshots that list it
    const want = new Map<string, [number, number]>();
    for (const [s, since] of [
      [a, true],
      [b, true],
      [c, false],
    ] as const)
      for (const x of s.candidates) {
        const w = want.get(toHex(x.key)) ?? [0, 0];
        want.set(toHex(x.key), [w[0] + (since ? x.sincePackets : 0), w[1] + x.packets]);
      }
    const union = acc.candidates.soFar().toArray();
    expect(union.length).toBe(want.size);
    for (const x of union) expect([x.sincePackets ?? 0, x.packets]).toEqual(want.get(toHex(x.key)));
    expect(union.some((x) => (x.sincePackets ?? 0) < x.packets)).toBe(true);

    // the stored row keeps them: since-entry counts, no floor for the mixed window, a floor for the v2 one
    const row = decodeCandidateList(partialRowFromAccumulator(sealed(acc), 'w', 3600).candidates);
    expect(row.floor).toBeUndefined();
    expect(row.candidates.reduce((t, x) => t + (x.sincePackets ?? 0), 0)).toBe(
      [...want.values()].reduce((t, w) => t + w[0], 0),
    );
    expect(decodeCandidateList(partialRowFromAccumulator(sealed(twoV2), 'w', 3600).candidates).floor).toEqual(
      twoV2.candidateFloor,
    );
  });

  it('a sampled snapshot scales its bounds and marks the window sampled', () => {
    const [a] = round();
    const acc = new WindowAccumulator('t', 0, T0, 60_000, false);
    acc.add(validateMessage(encode({ ...a, samplingRate: 4 }), OPTS), 0, 0);
    expect(acc.candidatesSampled).toBe(true);
    expect(acc.candidateFloor).toEqual({ packets: 4 * a.candidateFloorPackets, bytes: 4 * a.candidateFloorBytes });
    const first = acc.candidates
      .soFar()
      .toArray()
      .find((x) => toHex(x.key) === toHex(a.candidates[0].key))!;
    expect([first.sincePackets, first.packets]).toEqual([
      4 * a.candidates[0].sincePackets,
      4 * a.candidates[0].packets,
    ]);
    expect(decodeCandidateList(partialRowFromAccumulator(sealed(acc), 'w', 3600).candidates).sampled).toBe(true);
  });
});
