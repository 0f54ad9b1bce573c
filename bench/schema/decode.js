#!/usr/bin/env node
// Snapshot encode/decode cost and size, for a quiet host and a busy one, each path beside its baseline in the same
// run (ratios hold on a noisy machine): the single-pass checked reader (what decode() uses for the current version)
// against the bounded walk + avsc (the path older writer versions take) and against bare avsc without any checks.
// Sketch blobs are real libs/sketch serializations (dense or sparse, whichever is smaller) over synthetic flows.
//
//   npx nx run schema:bench          (or: node bench/schema/decode.js [iterations])
'use strict';
const { spawnSync } = require('node:child_process');
const { cpus } = require('node:os');
const path = require('node:path');

const LIB = path.join(__dirname, '../../libs/schema');
const SKETCH = path.join(LIB, '..', 'sketch');
for (const project of [SKETCH, LIB]) {
  const r = spawnSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-b', path.join(project, 'tsconfig.json')],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`build of ${project} failed:\n${r.stdout}${r.stderr}`);
}
const schema = {
  ...require(path.join(LIB, 'dist', 'index.js')),
  ...require(path.join(LIB, 'dist', 'testing', 'index.js')),
};
const codec = require(path.join(LIB, 'dist', 'codec.js'));
const sketch = require(path.join(SKETCH, 'dist', 'index.js'));

const iterations = Number(process.argv[2] ?? 2000);

/** µs per call: warmed up, then the best of 5 rounds (the least disturbed by other load on a shared machine). */
function time(fn) {
  const rounds = 5;
  const per = Math.max(1, Math.floor(iterations / rounds));
  for (let i = 0; i < iterations; i++) fn();
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < per; i++) fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t) / per / 1e3);
  }
  return best;
}

/** A host's snapshot with real sketches (libs/sketch serialization) over `flows` flows, Zipf-like sizes. */
function host(flows, candidates) {
  const cmsPackets = new sketch.CountMinSketch();
  const cmsBytes = new sketch.CountMinSketch();
  const hll = [new sketch.HyperLogLog(), new sketch.HyperLogLog(), new sketch.HyperLogLog(), new sketch.HyperLogLog()];
  const cands = [];
  let packetsTotal = 0;
  for (let i = 0; i < flows; i++) {
    const t = {
      src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      dst: `192.0.2.${i % 200}`,
      sport: 1024 + (i % 60000),
      dport: [443, 80, 53, 22][i % 4],
      proto: i % 4 === 2 ? 17 : 6,
    };
    const key = sketch.flowKey(t);
    const packets = Math.max(1, Math.round(1e6 / (i + 1) ** 1.1));
    packetsTotal += packets;
    cmsPackets.addKey(key, packets);
    cmsBytes.addKey(key, packets * 900);
    hll[0].addKey(key);
    hll[1].addKey(sketch.srcKey(t.src));
    hll[2].addKey(sketch.dstKey(t.dst));
    hll[3].addKey(sketch.portsKey(t.dport, t.proto));
    if (i < candidates) cands.push({ key: Buffer.from(key), packets, bytes: packets * 900 });
  }
  const blob = (b) => Buffer.from(b);
  return schema.sampleSnapshot({
    cmsPackets: blob(sketch.encodeCountMinSketch(cmsPackets)),
    cmsBytes: blob(sketch.encodeCountMinSketch(cmsBytes)),
    hllFlows: blob(sketch.encodeHyperLogLog(hll[0])),
    hllSources: blob(sketch.encodeHyperLogLog(hll[1])),
    hllDestinations: blob(sketch.encodeHyperLogLog(hll[2])),
    hllDestinationPorts: blob(sketch.encodeHyperLogLog(hll[3])),
    candidates: cands,
    totals: {
      packets: packetsTotal,
      bytes: packetsTotal * 900,
      protocols: [
        { protocol: 6, packets: Math.round(packetsTotal * 0.75), bytes: Math.round(packetsTotal * 0.75) * 900 },
        {
          protocol: 17,
          packets: packetsTotal - Math.round(packetsTotal * 0.75),
          bytes: (packetsTotal - Math.round(packetsTotal * 0.75)) * 900,
        },
      ],
    },
  });
}

// Built one at a time, right before their measurement, so building the busy host does not slow the quiet one.
const hosts = {
  'quiet host (40 flows, 8 candidates)': () => host(40, 8),
  'busy host (100k flows, 1024 candidates)': () => host(100_000, 1024),
};

const type = schema.currentSnapshotType();
console.log(
  `node ${process.version}, ${cpus().length} × ${cpus()[0].model}; per figure: best of 5 rounds after ${iterations} warm-up calls`,
);
for (const [name, build] of Object.entries(hosts)) {
  const snap = build();
  const msg = schema.encode(snap);
  const blobs = ['cmsPackets', 'cmsBytes', 'hllFlows', 'hllSources', 'hllDestinations', 'hllDestinationPorts'].reduce(
    (n, f) => n + snap[f].length,
    0,
  );
  const body = msg.subarray(schema.HEADER_BYTES);
  const fast = time(() => schema.decode(msg));
  const copy = time(() => schema.decode(msg, { copyBytes: true }));
  const checked = time(() => codec.decodeViaAvsc(msg));
  const bare = time(() => type.fromBuffer(body));
  const enc = time(() => schema.encode(snap));
  console.log(
    `\n${name}: ${msg.length} bytes on the wire (${blobs} of them sketch blobs, ${msg.length - blobs} framing + fields)`,
  );
  console.log(`  decode, single pass (views)      ${fast.toFixed(1).padStart(8)} µs`);
  console.log(`  decode, single pass (copyBytes)  ${copy.toFixed(1).padStart(8)} µs`);
  console.log(
    `  decode, bounded walk + avsc      ${checked.toFixed(1).padStart(8)} µs   ${(checked / fast).toFixed(2)}× single pass`,
  );
  console.log(
    `  avsc fromBuffer, unchecked       ${bare.toFixed(1).padStart(8)} µs   ${(bare / fast).toFixed(2)}× single pass`,
  );
  console.log(`  encode (validate + write)        ${enc.toFixed(1).padStart(8)} µs`);
}
