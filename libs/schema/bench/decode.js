#!/usr/bin/env node
// Snapshot encode/decode cost and size, for a quiet host and a busy one, each path beside its baseline in the same
// run (ratios hold on a noisy machine): the single-pass checked reader (what decode() uses for the current version)
// against the bounded walk + avsc (the path older writer versions take) and against bare avsc without any checks.
// Sketch blobs are opaque here, sized as libs/sketch's dense serialization would be at the spec's parameters.
//
//   npx nx run schema:bench          (or: node libs/schema/bench/decode.js [iterations])
'use strict';
const { spawnSync } = require('node:child_process');
const { cpus } = require('node:os');
const path = require('node:path');

const LIB = path.join(__dirname, '..');
const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', path.join(LIB, 'tsconfig.json')], {
  encoding: 'utf8',
});
if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}${r.stderr}`);
const schema = require(path.join(LIB, 'dist', 'index.js'));
const codec = require(path.join(LIB, 'dist', 'codec.js'));

const iterations = Number(process.argv[2] ?? 2000);

function time(fn) {
  for (let i = 0; i < Math.min(200, iterations); i++) fn(); // warm up
  const t = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return Number(process.hrtime.bigint() - t) / iterations / 1e3;
}

const { sampleSnapshot, sampleBytes, sampleFlowKey } = schema;
const hosts = {
  'quiet (40 flows, sparse sketches)': sampleSnapshot({
    cmsPackets: sampleBytes(40 * 4 * 12, 1),
    cmsBytes: sampleBytes(40 * 4 * 12, 2),
    hllFlows: sampleBytes(40 * 3, 3),
    hllSources: sampleBytes(40 * 3, 4),
    hllDestinations: sampleBytes(40 * 3, 5),
    hllDestinationPorts: sampleBytes(40 * 3, 6),
    candidates: Array.from({ length: 8 }, (_, i) => ({
      key: sampleFlowKey([10, 0, 0, i], [10, 0, 1, 1], 1000 + i, 443, 6),
      packets: 40 + i,
      bytes: 60000,
    })),
  }),
  'busy (1024 candidates, dense sketches)': sampleSnapshot({
    cmsPackets: sampleBytes(4 * 4096 * 8, 1),
    cmsBytes: sampleBytes(4 * 4096 * 8, 2),
    hllFlows: sampleBytes(16384, 3),
    hllSources: sampleBytes(16384, 4),
    hllDestinations: sampleBytes(16384, 5),
    hllDestinationPorts: sampleBytes(16384, 6),
    candidates: Array.from({ length: 1024 }, (_, i) => ({
      key: sampleBytes(40, i + 1),
      packets: 1000 + i * 977,
      bytes: (1000 + i * 977) * 1400,
    })),
    totals: {
      packets: 5e7,
      bytes: 6e10,
      protocols: Array.from({ length: 8 }, (_, i) => ({ protocol: i * 7, packets: 1e6, bytes: 1e9 })),
    },
  }),
};

const type = schema.currentSnapshotType();
console.log(`node ${process.version}, ${cpus().length} × ${cpus()[0].model}, ${iterations} iterations per figure`);
for (const [name, snap] of Object.entries(hosts)) {
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
