#!/usr/bin/env node
// Compressed size and CPU of each producer codec on real snapshot bytes (libs/schema framing of libs/sketch
// sketches, as the agent publishes), side by side in one run. Snapshots come from the fleet simulator at three
// loads, from a quiet host to a very busy one.
// Run after `npx tsc -b`:  npx node bench/kafka/codecs.js [--reps 40]
'use strict';
const zlib = require('node:zlib');
const { FleetSimulator } = require('@tma/fleet-sim');
const { snappyCompress, snappyDecompress, zstdAvailable } = require('@tma/kafka');

const reps = Number(process.argv[process.argv.indexOf('--reps') + 1]) || 40;
if (!zstdAvailable()) throw new Error(`this Node (${process.version}) has no zstd`);

const zstd = (level) => (b) =>
  zlib.zstdCompressSync(b, { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } });
const gzip = (level) => (b) => zlib.gzipSync(b, { level });
// kafkajs' GZIP is zlib.gzip at zlib's default level (6).
const codecs = [
  { name: 'gzip (kafkajs default, level 6)', c: gzip(zlib.constants.Z_DEFAULT_COMPRESSION), d: zlib.gunzipSync },
  { name: 'gzip level 1', c: gzip(1), d: zlib.gunzipSync },
  { name: 'zstd level 1', c: zstd(1), d: zlib.zstdDecompressSync },
  { name: 'zstd level 3 (default)', c: zstd(3), d: zlib.zstdDecompressSync },
  { name: 'zstd level 6', c: zstd(6), d: zlib.zstdDecompressSync },
  { name: 'snappy (snappyjs)', c: snappyCompress, d: snappyDecompress },
];

const loads = [
  { name: 'quiet: 32 flows, 20k packets', flowsPerInterval: 32, poolSize: 128, packetsPerInterval: 20_000 },
  {
    name: 'agent benchmark: 2,000 flows, 200k packets',
    flowsPerInterval: 2_000,
    poolSize: 4_000,
    packetsPerInterval: 200_000,
  },
  { name: 'busy: 5,000 flows, 500k packets', flowsPerInterval: 5_000, poolSize: 20_000, packetsPerInterval: 500_000 },
  {
    name: 'very busy: 50,000 flows, 5M packets',
    flowsPerInterval: 50_000,
    poolSize: 100_000,
    packetsPerInterval: 5_000_000,
  },
];

/**
 * Per codec, the median time of one synchronous compress and decompress call, µs. Codecs take turns within every
 * repetition, so a noisy neighbour slows them alike; a synchronous call's wall time is its CPU time unless preempted.
 */
function timeAll(value, outs) {
  const t = codecs.map(() => ({ c: [], d: [] }));
  const time = (fn, arg) => {
    const h0 = process.hrtime.bigint();
    fn(arg);
    return Number(process.hrtime.bigint() - h0) / 1e3;
  };
  for (let r = -3; r < reps; r++) {
    codecs.forEach((codec, i) => {
      const c = time(codec.c, value);
      const d = time(codec.d, outs[i]);
      if (r >= 0) {
        t[i].c.push(c);
        t[i].d.push(d);
      }
    });
  }
  const med = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return t.map((x) => ({ c: med(x.c), d: med(x.d) }));
}

console.log(
  `node ${process.version}, zstd ${process.versions.zstd ?? '?'}, zlib ${process.versions.zlib}; median of ${reps} interleaved runs per cell`,
);
for (const load of loads) {
  const sim = new FleetSimulator({ hosts: 3, seed: 7, truth: false, heavyHitters: 16, ...load });
  sim.nextRound(); // a warm round: the next one is a steady-state interval
  const msgs = sim.nextRound();
  const sizes = msgs.map((m) => m.value.length);
  const value = msgs[0].value;
  console.log(
    `\n${load.name}: snapshots of ${sizes.map((s) => (s / 1024).toFixed(1)).join(', ')} KiB (first one measured)`,
  );
  console.log(
    `${'codec'.padEnd(32)} ${'bytes'.padStart(8)} ${'ratio'.padStart(7)} ${'vs gzip'.padStart(8)} ${'compress µs'.padStart(12)} ${'decompress µs'.padStart(14)}`,
  );
  const outs = codecs.map((codec) => {
    const out = codec.c(value);
    if (!codec.d(out).equals(value)) throw new Error(`${codec.name}: round trip differs`);
    return out;
  });
  const times = timeAll(value, outs);
  codecs.forEach((codec, i) => {
    const out = outs[i];
    console.log(
      `${codec.name.padEnd(32)} ${String(out.length).padStart(8)} ${(value.length / out.length).toFixed(2).padStart(7)} ` +
        `${(out.length / outs[0].length).toFixed(3).padStart(8)} ${times[i].c.toFixed(0).padStart(12)} ${times[i].d.toFixed(0).padStart(14)}`,
    );
  });
}
