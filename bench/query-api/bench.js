#!/usr/bin/env node
// Query API latency benchmark: 24 h of 1-minute windows from 1,000 simulated hosts stored as partial rows (pre-merged
// per window, as one aggregator writes one partial per window and partition, plus the 1 h rollup tier), then p50/p99
// of top-K and of cardinality union over 15 min, 1 h and 24 h with autocannon at 1 and 10 concurrent clients,
// side by side with /health (the HTTP + auth floor) and as a ratio to the 100 ms goal.
//
//   ./bench/query-api/run.sh [--hosts 1000] [--hours 24] [--duration 10] [--fresh] [--build-only]
//
// Data are kept in $TMA_STATE_DIR/bench-query-api (reused when hosts/hours match; --fresh rebuilds).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { root, dataDir, TOKEN, startServer, stopServer } = require('./server');

const sketch = require(path.join(root, 'libs/sketch/dist'));
const rollup = require(path.join(root, 'libs/rollup/dist'));
const { createStorage, applyMigrations } = require(path.join(root, 'libs/storage/dist'));
const autocannon = require('autocannon');

const { values: options } = parseArgs({
  // Loaded by scale.js for its fleet model: its own options are not this script's.
  strict: require.main === module,
  options: {
    hosts: { type: 'string', default: '1000' },
    hours: { type: 'string', default: '24' },
    duration: { type: 'string', default: '10' },
    fresh: { type: 'boolean', default: false },
    'build-only': { type: 'boolean', default: false },
  },
});
const HOSTS = Number(options.hosts);
const HOURS = Number(options.hours);
const DURATION = Number(options.duration);
const FRESH = options.fresh;
const MIN = 60_000;
const HOUR = 3_600_000;
// 3: 1 h rows keep a frequent-items summary of their candidates, as the aggregator writes them (older data is rebuilt).
const DATA_FORMAT = 3;

// ---------------------------------------------------------------- deterministic traffic
function prng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const PORTS = [443, 80, 53, 22, 8080, 5432, 6379, 9092, 123, 3306];
const h32 = new Uint32Array(2);
const hashOf = (key) => (sketch.hashKeyInto(key, h32), [h32[0], h32[1]]);

function makeFlow(src, dst, sport, dport, proto, size) {
  const key = sketch.flowKey({ src, dst, sport, dport, proto });
  return { key, proto, size, f: hashOf(key), d: hashOf(sketch.dstKey(dst)), p: hashOf(sketch.portsKey(dport, proto)) };
}

function buildFleet(count = HOSTS) {
  const rnd = prng(42);
  const hosts = [];
  for (let h = 0; h < count; h++) {
    const ip = `10.${1 + (h >> 8)}.${h & 255}.${1 + (h % 200)}`;
    const pool = [];
    for (let j = 0; j < 128; j++) {
      const r = rnd();
      const proto = r < 0.7 ? 6 : r < 0.95 ? 17 : 1;
      const dst = `198.${18 + (rnd() < 0.5 ? 0 : 1)}.${Math.floor(rnd() * 256)}.${1 + Math.floor(rnd() * 254)}`;
      pool.push(
        makeFlow(
          ip,
          dst,
          proto === 1 ? 8 : 32768 + Math.floor(rnd() * 28000),
          proto === 1 ? 0 : PORTS[Math.floor(rnd() * PORTS.length)],
          proto,
          proto === 17 ? 200 : 900,
        ),
      );
    }
    hosts.push({
      id: `bench-host-${String(h).padStart(5, '0')}`,
      src: hashOf(sketch.srcKey(ip)),
      pool,
      rate: 0.5 + rnd(),
    });
  }
  const heavy = [];
  for (let j = 0; j < 16; j++)
    heavy.push(makeFlow(`172.16.0.${j}`, `203.0.113.${j + 1}`, 40000 + j, j % 3 ? 80 : 443, 6, 1200));
  return { hosts, heavy };
}

// Zipf weights over the 32 flows a host uses in a window.
const ZIPF = Array.from({ length: 32 }, (_, i) => 1 / Math.pow(i + 1, 1.1));
const ZSUM = ZIPF.reduce((a, b) => a + b, 0);
const CAND_MIN = 192; // ≥ 32 packets in some 10 s interval: the kernel table's default insert threshold

class Acc {
  constructor(tier, ws, seconds) {
    Object.assign(this, { tier, ws, seconds, packets: 0, bytes: 0, snapshots: 0 });
    this.cmsP = new sketch.CountMinSketch();
    this.cmsB = new sketch.CountMinSketch();
    this.hll = [0, 1, 2, 3].map(() => new sketch.HyperLogLog());
    this.cand = new Map();
    this.proto = new Map();
    this.host = new Map();
  }
  absorb(o) {
    this.packets += o.packets;
    this.bytes += o.bytes;
    this.snapshots += o.snapshots;
    this.cmsP.merge(o.cmsP);
    this.cmsB.merge(o.cmsB);
    this.hll.forEach((h, i) => h.merge(o.hll[i]));
    for (const [k, c] of o.cand) {
      const m = this.cand.get(k);
      if (m) {
        m.packets += c.packets;
        m.bytes += c.bytes;
        m.sincePackets += c.sincePackets;
        m.sinceBytes += c.sinceBytes;
      } else this.cand.set(k, { ...c });
    }
    for (const [p, t] of o.proto) {
      const m = this.proto.get(p) || { packets: 0, bytes: 0 };
      m.packets += t.packets;
      m.bytes += t.bytes;
      this.proto.set(p, m);
    }
    for (const [h, t] of o.host) {
      const m = this.host.get(h) || { packets: 0, bytes: 0, snapshots: 0 };
      m.packets += t.packets;
      m.bytes += t.bytes;
      m.snapshots += t.snapshots;
      this.host.set(h, m);
    }
  }
  row(offset, partition = 0) {
    let candidates = [...this.cand.values()];
    // The aggregator's 1 h row keeps a frequent-items summary of the hour's candidates (@tma/rollup HOUR_CANDIDATES
    // counters per ranking); the bench's candidates are exact counts (since entry = all), their floor unknown.
    let frequent;
    if (this.tier === '1h') {
      const block = rollup.CandidateBlock.from(candidates);
      const summary = rollup.mergeSummaries([rollup.exactSummary(block, undefined)], rollup.HOUR_CANDIDATES);
      candidates = summary.block.toArray();
      frequent = rollup.frequentState(summary);
    }
    const protos = [...this.proto.keys()].sort((a, b) => a - b);
    const hosts = [...this.host.keys()];
    return {
      tier: this.tier,
      window_start: new Date(this.ws),
      window_seconds: this.seconds,
      topic: 'bench.snapshots.v1',
      partition,
      first_offset: offset,
      last_offset: offset + this.snapshots - 1,
      version: 1,
      writer: this.tier === '1h' ? 'rollup' : 'bench',
      late: 0,
      snapshots: this.snapshots,
      packets: this.packets,
      bytes: this.bytes,
      cms_packets: sketch.encodeCountMinSketch(this.cmsP),
      cms_bytes: sketch.encodeCountMinSketch(this.cmsB),
      hll_flows: sketch.encodeHyperLogLog(this.hll[0]),
      hll_sources: sketch.encodeHyperLogLog(this.hll[1]),
      hll_destinations: sketch.encodeHyperLogLog(this.hll[2]),
      hll_ports: sketch.encodeHyperLogLog(this.hll[3]),
      candidates: sketch.encodeCandidates(candidates, undefined, { frequent }),
      protocols: protos,
      protocol_packets: protos.map((p) => this.proto.get(p).packets),
      protocol_bytes: protos.map((p) => this.proto.get(p).bytes),
      hosts,
      host_boot: hosts.map(() => 'bench-boot'),
      host_last_seq: hosts.map(() => 0),
      host_packets: hosts.map((h) => this.host.get(h).packets),
      host_bytes: hosts.map((h) => this.host.get(h).bytes),
      host_snapshots: hosts.map((h) => this.host.get(h).snapshots),
      host_gaps: hosts.map(() => 0),
      gaps: 0,
      written_at: new Date(),
      expires_at: new Date(Date.now() + 30 * 86_400_000),
    };
  }
}

/** One window's rows: host h goes to partition h % parts (one row per partition; one row for the fleet by default). */
function windowAccs(fleet, ws, index, parts = 1) {
  const accs = Array.from({ length: parts }, () => new Acc('1m', ws, 60));
  let acc = accs[0];
  const rnd = prng(1000 + index);
  const add = (f, p, hostSrc) => {
    const b = p * f.size;
    acc.cmsP.add(f.f[0], f.f[1], p);
    acc.cmsB.add(f.f[0], f.f[1], b);
    acc.hll[0].add(f.f[0], f.f[1]);
    acc.hll[1].add(hostSrc[0], hostSrc[1]);
    acc.hll[2].add(f.d[0], f.d[1]);
    acc.hll[3].add(f.p[0], f.p[1]);
    const t = acc.proto.get(f.proto) || { packets: 0, bytes: 0 };
    t.packets += p;
    t.bytes += b;
    acc.proto.set(f.proto, t);
    if (p >= CAND_MIN) {
      const k = sketch.toHex(f.key);
      const c = acc.cand.get(k);
      if (c) {
        c.packets += p;
        c.bytes += b;
        c.sincePackets += p;
        c.sinceBytes += b;
      } else acc.cand.set(k, { key: f.key, packets: p, bytes: b, sincePackets: p, sinceBytes: b });
    }
    return b;
  };
  for (let hi = 0; hi < fleet.hosts.length; hi++) {
    const h = fleet.hosts[hi];
    acc = accs[hi % parts];
    const total = Math.round(2000 * h.rate * (0.8 + 0.4 * rnd()));
    const heavyShare = Math.round(total * 0.3);
    const off = Math.floor(rnd() * 128);
    let packets = 0;
    let bytes = 0;
    for (let j = 0; j < 32; j++) {
      const p = Math.max(1, Math.round(((total - heavyShare) * ZIPF[j]) / ZSUM));
      bytes += add(h.pool[(off + j * 4) % 128], p, h.src);
      packets += p;
    }
    for (let j = 0; j < fleet.heavy.length; j++) {
      const p = Math.round((heavyShare * ZIPF[j]) / ZIPF.slice(0, 16).reduce((a, b) => a + b, 0));
      if (p > 0) {
        bytes += add(fleet.heavy[j], p, h.src);
        packets += p;
      }
    }
    acc.packets += packets;
    acc.bytes += bytes;
    acc.snapshots += 6; // six 10 s snapshots per host per minute
    acc.host.set(h.id, { packets, bytes, snapshots: 6 });
  }
  return accs;
}

const windowAcc = (fleet, ws, index) => windowAccs(fleet, ws, index)[0];

async function buildData() {
  const metaFile = path.join(dataDir, 'bench-meta.json');
  if (!FRESH && fs.existsSync(metaFile)) {
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
    if (meta.hosts === HOSTS && meta.hours === HOURS && meta.format === DATA_FORMAT) return meta;
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.mkdirSync(dataDir, { recursive: true });
  const storage = await createStorage({ kind: 'chdb', path: path.join(dataDir, 'chdb'), database: 'tma' });
  await applyMigrations(storage);
  const fleet = buildFleet();
  const end = Math.floor(Date.now() / MIN) * MIN;
  const start = end - HOURS * HOUR;
  const t0 = Date.now();
  let pending = [];
  let hour = null;
  let offset = 0;
  let candidates = 0;
  let bytes = 0;
  const flush = async () => {
    const rows = pending.map((a) => a.row(offset++));
    for (const r of rows)
      bytes += r.cms_packets.length + r.cms_bytes.length + r.candidates.length + 4 * r.hll_flows.length;
    await storage.insertRows('agg_partials', rows);
    pending = [];
  };
  for (let i = 0, ws = start; ws < end; i++, ws += MIN) {
    const acc = windowAcc(fleet, ws, i);
    candidates += acc.cand.size;
    pending.push(acc);
    const hs = Math.floor(ws / HOUR) * HOUR;
    if (ws === hs) hour = new Acc('1h', hs, 3600);
    if (hour) hour.absorb(acc);
    // The aggregator builds the 1 h row once the hour is complete.
    if (hour && ws + MIN === hs + HOUR) {
      pending.push(hour);
      hour = null;
    }
    if (pending.length >= 10) await flush();
    if (i % 120 === 0)
      process.stderr.write(`  generated ${i}/${HOURS * 60} windows (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  }
  if (pending.length) await flush();
  await storage.close();
  const meta = {
    format: DATA_FORMAT,
    hosts: HOSTS,
    hours: HOURS,
    start,
    end,
    buildSeconds: (Date.now() - t0) / 1000,
    meanCandidates: Math.round(candidates / (HOURS * 60)),
    storedMiB: +(bytes / 2 ** 20).toFixed(1),
  };
  fs.writeFileSync(metaFile, JSON.stringify(meta));
  return meta;
}

// ---------------------------------------------------------------- server + load
async function load(url, connections) {
  const r = await new Promise((resolve, reject) => {
    autocannon({ url, connections, duration: DURATION, headers: { authorization: `Bearer ${TOKEN}` } }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
  // Requests autocannon gave up on are still being answered: wait until the server is idle before the next row.
  const origin = new URL(url).origin;
  for (let i = 0; i < 600; i++) {
    const t0 = performance.now();
    await fetch(`${origin}/health`).catch(() => undefined);
    if (performance.now() - t0 < 20) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  return r;
}

async function main() {
  console.log(
    `machine: ${os.cpus().length} × ${os.cpus()[0].model}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}`,
  );
  const meta = await buildData();
  if (options['build-only']) return console.log(JSON.stringify(meta));
  console.log(
    `data: ${meta.hosts} hosts × ${meta.hours} h of 1 min windows (+ 1 h tier), ~${meta.meanCandidates} candidate flows per window, ${meta.storedMiB} MiB of sketches; built in ${meta.buildSeconds.toFixed(0)} s`,
  );
  const { child, base, port } = await startServer();
  const iso = (ms) => new Date(ms).toISOString();
  const ranges = [
    ['15m', 15 * MIN],
    ['1h', HOUR],
    ['24h', 24 * HOUR],
  ].filter(([, ms]) => ms <= meta.hours * HOUR);
  const results = [];
  let slide = [];
  try {
    const health = {};
    for (const c of [1, 10]) health[c] = await load(`${base}/health`, c);
    for (const [name, ms] of ranges) {
      // The newest stretch of the stored data: absolute bounds so the windows are the same on every request.
      const q = `from=${encodeURIComponent(iso(meta.end - ms))}&to=${encodeURIComponent(iso(meta.end))}`;
      for (const [what, p] of [
        ['top-K (k=100)', `/v1/flows/top?${q}&k=100`],
        ['cardinality', `/v1/cardinality?${q}`],
      ]) {
        const t0 = performance.now();
        const first = await fetch(base + p, { headers: { authorization: `Bearer ${TOKEN}` } });
        const body = await first.json();
        const cold = performance.now() - t0;
        if (!first.ok) throw new Error(`${p}: ${first.status} ${JSON.stringify(body)}`);
        const tiers = Object.entries(body.scope.tiers)
          .map(([k, v]) => `${v}×${k}`)
          .join('+');
        for (const c of [1, 10]) {
          const r = await load(base + p, c);
          if (r.non2xx || r.errors) throw new Error(`${p}: ${r.non2xx} non-2xx, ${r.errors} errors`);
          results.push({
            what,
            range: name,
            tiers,
            c,
            p50: r.latency.p50,
            p99: r.latency.p99,
            rps: r.requests.average,
            cold,
            health: health[c].latency.p99,
          });
        }
      }
    }
    // A relative "last 24 h" sees a new set of 1 min rows every minute: each request here moves the range back by a
    // minute (new 1 min rows, the same 1 h rows except when an hour boundary is crossed), so none is a cache hit.
    slide = [];
    for (let i = 1; i <= 30; i++) {
      const to = meta.end - i * MIN;
      const p = `/v1/flows/top?from=${encodeURIComponent(iso(to - 24 * HOUR))}&to=${encodeURIComponent(iso(to))}&k=100`;
      const t0 = performance.now();
      const r = await fetch(base + p, { headers: { authorization: `Bearer ${TOKEN}` } });
      await r.json();
      if (!r.ok) throw new Error(`${p}: ${r.status}`);
      slide.push(performance.now() - t0);
    }
  } finally {
    await stopServer(child);
  }
  // The same queries with merged results not reused (TMA_API_MERGE_CACHE=off): every request merges its rows' decoded
  // sketches and re-ranks the candidates; only decoded rows stay cached.
  const raw = [];
  const { child: child2 } = await startServer({ port, env: { TMA_API_MERGE_CACHE: 'off' } });
  try {
    for (const [name, ms] of ranges) {
      const q = `from=${encodeURIComponent(iso(meta.end - ms))}&to=${encodeURIComponent(iso(meta.end))}`;
      for (const [what, p] of [
        ['top-K (k=100)', `/v1/flows/top?${q}&k=100`],
        ['cardinality', `/v1/cardinality?${q}`],
      ]) {
        await fetch(base + p, { headers: { authorization: `Bearer ${TOKEN}` } });
        for (const c of [1, 10]) {
          const r = await load(base + p, c);
          raw.push({
            what,
            range: name,
            c,
            p50: r.latency.p50,
            p99: r.latency.p99,
            rps: r.requests.average,
            timeouts: r.timeouts,
          });
        }
      }
    }
  } finally {
    await stopServer(child2);
  }
  console.log(
    `\nautocannon ${DURATION} s per row; latencies in ms (warm sketch cache; "first" = first request, cold cache)`,
  );
  console.log(
    'query            range  windows        clients   p50     p99   req/s   first   p99/100ms goal   p99 vs /health',
  );
  for (const r of results) {
    console.log(
      `${r.what.padEnd(16)} ${r.range.padEnd(6)} ${r.tiers.padEnd(14)} ${String(r.c).padStart(7)} ${String(r.p50).padStart(6)} ${String(r.p99).padStart(7)} ${r.rps.toFixed(0).padStart(7)} ${r.cold.toFixed(0).padStart(7)}   ${(r.p99 / 100).toFixed(2).padStart(14)}   ${(r.p99 / Math.max(r.health, 1)).toFixed(1).padStart(8)}×`,
    );
  }
  console.log(`\n/health p99: ${[...new Set(results.map((r) => `${r.c} client(s) ${r.health} ms`))].join(', ')}`);
  const ss = [...slide].sort((a, b) => a - b);
  const pct = (q) => ss[Math.min(ss.length - 1, Math.floor(q * ss.length))].toFixed(0);
  console.log(
    `\n24 h top-K with the range moved back a minute per request (new 1 min rows each time; 1 h rows reused), ${ss.length} requests, 1 client: p50 ${pct(0.5)} ms, p90 ${pct(0.9)} ms, max ${ss[ss.length - 1].toFixed(0)} ms`,
  );
  console.log('\nwithout the merge cache (every request merges and ranks):');
  console.log('query            range  clients   p50     p99   req/s   p99 ratio to cached   timeouts (10 s)');
  for (const r of raw) {
    const cached = results.find((x) => x.what === r.what && x.range === r.range && x.c === r.c);
    console.log(
      `${r.what.padEnd(16)} ${r.range.padEnd(6)} ${String(r.c).padStart(7)} ${String(r.p50).padStart(6)} ${String(r.p99).padStart(7)} ${r.rps.toFixed(0).padStart(7)}   ${(r.p99 / Math.max(cached.p99, 1)).toFixed(1).padStart(8)}×   ${String(r.timeouts).padStart(14)}`,
    );
  }
}

// scale.js builds its data with the same fleet model.
module.exports = { prng, buildFleet, windowAccs, Acc };

if (require.main === module)
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
