#!/usr/bin/env node
// A flood of distinct spoofed sources against the agent's fixed memory: BPF_PROG_TEST_RUN pushes N one-packet
// flows (each from its own source address, to one victim, random ports) through the product's XDP program, then
// the agent's own read (flip, read, clear) and snapshot encoding (apps/edge-agent buildSnapshot, libs/schema encode)
// run as every interval does. Printed per flood size: the snapshot's bytes by field, the read and encode times, and
// this process's RSS, side by side for 10^3 .. 10^6 sources: the snapshot and the memory must not grow with them.
// Usage (root): npx tsc -b libs/kernel apps/edge-agent && make -C bpf && node bench/edge-agent/flood.js [--max 1000000]
'use strict';
const path = require('node:path');
const { TestKernel, packets: P, testRun } = require('@tma/kernel/testing');
const { encode } = require('@tma/schema');

const ROOT = path.resolve(__dirname, '..', '..');
const { buildSnapshot } = require(path.join(ROOT, 'apps', 'edge-agent', 'dist', 'snapshot.js'));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const MAX = Number(arg('max', '1000000'));

const frame = Buffer.from(P.eth(P.ETH_IP, P.ipv4('10.0.0.1', '198.51.100.7', 6, P.tcp(1, 80))));
const meta = {
  hostId: 'flood-bench',
  agentId: 'flood-bench',
  agentVersion: 'bench',
  bootId: 'b',
  sequence: 0,
  intervalStartMs: Date.now() - 10_000,
  intervalEndMs: Date.now(),
  interfaces: [],
  samplingRate: 1,
  spoolDrops: 0,
};
const mib = (b) => (b / 1048576).toFixed(1);

function main() {
  const tma = TestKernel.load();
  const reader = tma.reader();
  reader.read();
  console.log(`machine: ${require('node:os').cpus().length} CPUs; XDP program, one CPU; RSS in MiB`);
  console.log('sources      snapshot B   cms B    hll B  spread B  cand B   read ms  encode ms  RSS');
  let sent = 0;
  for (let n = 1000; n <= MAX; n *= 10) {
    // n distinct sources in this interval: 10.0.0.0/8 then 11.0.0.0/8, random source and destination ports
    for (let i = 0; i < n; i++) {
      const a = sent + i;
      frame.writeUInt32BE((0x0a000000 + a) >>> 0, 14 + 12);
      frame.writeUInt16BE(1024 + ((a * 7919) & 0xefff), 34);
      frame.writeUInt16BE(1 + ((a * 104729) & 0xfffe), 36);
      testRun(tma.programFd('tma_xdp'), frame);
    }
    sent += n;
    const t0 = process.hrtime.bigint();
    const read = reader.read();
    const t1 = process.hrtime.bigint();
    const snap = buildSnapshot(read, { ...meta, sequence: n });
    const bytes = encode(snap);
    const t2 = process.hrtime.bigint();
    const hll =
      snap.hllFlows.length + snap.hllSources.length + snap.hllDestinations.length + snap.hllDestinationPorts.length;
    const cand = snap.candidates.length * 64;
    if (global.gc) global.gc();
    console.log(
      [
        String(n).padEnd(10),
        String(bytes.length).padStart(12),
        String(snap.cmsPackets.length + snap.cmsBytes.length).padStart(7),
        String(hll).padStart(8),
        String(snap.spreadSketch.length).padStart(9),
        String(cand).padStart(7),
        (Number(t1 - t0) / 1e6).toFixed(1).padStart(9),
        (Number(t2 - t1) / 1e6).toFixed(1).padStart(10),
        mib(process.memoryUsage().rss).padStart(6),
      ].join(' '),
    );
    if (read.totals.packets !== n) throw new Error(`read ${read.totals.packets} packets of ${n}`);
  }
  tma.close();
}

main();
