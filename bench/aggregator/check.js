#!/usr/bin/env node
// The aggregator's per-snapshot check and candidate union, before and after, A/B in one process on the same snapshots:
//   node bench/aggregator/check.js [--hosts 1000] [--rounds 6] [--repeats 7] [--busy 1]
// Check: every blob merged into a scratch sketch that is then cleared (before) against checkEncoded* (after: the same
// checks, nothing kept). Union of one window's lists, read out once at the end as a row would: candidates keyed by
// the hex string of their key in a Map (before), by a 30-bit FNV hash of the key bytes in a Map with chains (an
// intermediate variant, kept here for comparison), and the CandidateUnion of libs/rollup that the aggregator and the
// query API share (after: `addList`, an open-addressing table on the fleet hash). Runs alternate so machine noise
// hits all alike; prints median µs per snapshot and ratios to the first run of each group.
'use strict';
const { benchSetup } = require('./setup');

const args = benchSetup(['libs/aggregation/tsconfig.json', 'tools/fleet-sim/tsconfig.json']);
const BUSY = args.busy !== undefined;
const HOSTS = Number(args.hosts ?? (BUSY ? 20 : 1000));
const ROUNDS = Number(args.rounds ?? 6);
const REPEATS = Number(args.repeats ?? 7);

const sk = require('@tma/sketch');
const { decode } = require('@tma/schema');
const { FleetSimulator } = require('../../tools/fleet-sim/dist');
const { CandidateUnion } = require('@tma/rollup');

const sim = new FleetSimulator({
  hosts: HOSTS,
  seed: 7,
  intervalMs: 10_000,
  truth: false,
  ...(BUSY ? { poolSize: 16_384, flowsPerInterval: 8_192, packetsPerInterval: 200_000_000 } : {}),
});
const snaps = [];
let bytes = 0;
for (let r = 0; r < ROUNDS; r++)
  for (const m of sim.nextRound()) {
    bytes += m.value.length;
    snaps.push(decode(m.value).snapshot);
  }
const N = snaps.length;
const HLL = ['hllFlows', 'hllSources', 'hllDestinations', 'hllDestinationPorts'];

const scratchCms = new sk.CountMinSketch();
const scratchHll = new sk.HyperLogLog();
const expectCms = { depth: scratchCms.depth, widthBits: scratchCms.widthBits, seedHash: scratchCms.seedHash };
const expectHll = { precision: scratchHll.p, seedHash: scratchHll.seedHash };
let sink = 0;
const sameBytes = (a, b) => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};
// The two Map-based unions' entries: a copy of the key (a view into the message) and the counts, summed in place.
const entryOf = (c) => ({
  key: Uint8Array.from(c.key),
  packets: c.packets,
  bytes: c.bytes,
  sincePackets: c.sincePackets ?? 0,
  sinceBytes: c.sinceBytes ?? 0,
});
const addTo = (seen, c) => {
  seen.packets += c.packets;
  seen.bytes += c.bytes;
  seen.sincePackets += c.sincePackets ?? 0;
  seen.sinceBytes += c.sinceBytes ?? 0;
};
const runs = {
  'check, before: merge into scratch + clear': () => {
    for (const s of snaps) {
      for (const f of ['cmsPackets', 'cmsBytes']) {
        sk.mergeEncodedCountMinSketch(scratchCms, s[f]);
        sink += scratchCms.total;
        scratchCms.clear();
      }
      for (const f of HLL) {
        sk.mergeEncodedHyperLogLog(scratchHll, s[f]);
        scratchHll.registers.fill(0);
      }
    }
  },
  'check, after: checkEncoded*': () => {
    for (const s of snaps) {
      for (const f of ['cmsPackets', 'cmsBytes']) sink += sk.checkEncodedCountMinSketch(s[f], expectCms);
      for (const f of HLL) sk.checkEncodedHyperLogLog(s[f], expectHll);
    }
  },
  'union, before: Map by hex key': () => {
    const m = new Map();
    for (const s of snaps)
      for (const c of s.candidates) {
        const id = Buffer.from(c.key.buffer, c.key.byteOffset, c.key.byteLength).toString('hex');
        const seen = m.get(id);
        if (seen) addTo(seen, c);
        else m.set(id, entryOf(c));
      }
    sink += [...m.values()].length;
  },
  'union, 30-bit FNV key in a Map': () => {
    const list = [];
    const byHash = new Map();
    const older = [];
    for (const s of snaps)
      for (const c of s.candidates) {
        const k = c.key;
        let h = 0x811c9dc5;
        for (let i = 0; i < k.length; i++) h = Math.imul(h ^ k[i], 0x01000193);
        h = (h ^ (h >>> 30)) & 0x3fffffff;
        let i = byHash.get(h) ?? -1;
        while (i >= 0 && !sameBytes(list[i].key, k)) i = older[i];
        if (i >= 0) addTo(list[i], c);
        else {
          older.push(byHash.get(h) ?? -1);
          byHash.set(h, list.length);
          list.push(entryOf(c));
        }
      }
    sink += [...list.values()].length;
  },
  'union, after: CandidateUnion.addList (libs/rollup)': () => {
    const u = new CandidateUnion();
    for (const s of snaps) u.addList(s.candidates, undefined);
    sink += u.soFar().toArray().length;
  },
};
const times = Object.fromEntries(Object.keys(runs).map((k) => [k, []]));
for (let i = 0; i < REPEATS; i++)
  for (const [name, fn] of Object.entries(runs)) {
    const t = performance.now();
    fn();
    times[name].push(((performance.now() - t) * 1000) / N);
  }
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log(
  `${N} snapshots of ${HOSTS} hosts (avg ${Math.round(bytes / N)} B), ${REPEATS} alternating runs (${sink > 0})`,
);
console.log('| per snapshot | median µs | best µs | / before |');
console.log('| --- | ---: | ---: | ---: |');
const group = (name) => name.slice(0, name.indexOf(','));
const names = Object.keys(runs);
names.forEach((name) => {
  const first = names.find((n) => group(n) === group(name));
  const ratio = first === name ? '' : (median(times[name]) / median(times[first])).toFixed(2);
  console.log(`| ${name} | ${median(times[name]).toFixed(1)} | ${Math.min(...times[name]).toFixed(1)} | ${ratio} |`);
});
