#!/usr/bin/env node
// Uncached query API latency at fleet scale, the same data served with merges on the event loop (TMA_API_MERGE_WORKERS=0,
// the single-thread path) and on worker threads, side by side in one run, with ratios.
//
//   ./bench/query-api/run.sh --scale [--hosts 10000] [--partitions 12] [--workers 0,1,2] [--fleet-rows off,on]
//                                   [--day-rows on] [--duration 10] [--fresh]
//   node bench/query-api/scale.js …        (after tsc -b apps/query-api)
//
// Data (kept in $TMA_STATE_DIR/bench-query-api-scale, rebuilt when the shape changes or with --fresh): `--hosts`
// simulated hosts (bench.js's model: 32 Zipf flows of a 128-flow pool per host and minute, 16 fleet-wide heavy
// hitters) split over `--partitions` Kafka partitions, one partial row per partition and minute as the aggregator
// writes them. Only what the measured ranges read is stored, built fast: `--templates` distinct minutes are
// simulated (10,000 hosts: ~1.2 s each) and written as the newest minutes; ClickHouse copies them (INSERT … SELECT)
// to the other minutes the ranges need; one 1 h row (the shortlisted union of those minutes, as the aggregator
// builds it) is copied to every hour of `--days`. Each minute also has its fleet row (all partitions merged, as the
// aggregator writes it once a window's rows are stored), read by whole-fleet answers when TMA_API_FLEET_ROWS=on
// (`--fleet-rows`: each configuration is run with and without them; the answers must be the same). Each whole UTC day
// of the `--days` range has its 1 d row, built from the stored hours by the aggregator's own code (PartialRowStore
// buildDay); `--day-rows off` deletes them from agg_partials before the server starts (`on` puts them back from a
// copy), so a run can compare both. The ranges end at half past an hour, so 24 h = 23 hour rows + 60 minutes ×
// partitions, and 30 d = 29 day rows + 23 hour rows + the same minutes (719 hour rows without day rows).
//
// Every server runs with TMA_API_MERGE_CACHE=off (each request merges and ranks everything; decoded rows stay
// cached, TMA_API_CACHE_MB, default here 2048 so the ranges' rows fit). Per configuration: the first request of each
// query (cold: reads and decodes), 1 and 10 closed-loop clients for 24 h top-K and cardinality (with /health
// probed every 50 ms meanwhile: is the event loop free?), the same for 30 d, the process's CPU time per request (all
// threads: /proc/<pid>/stat) and its RSS (VmRSS, peak VmHWM). The answers of every configuration are compared: they
// must be identical, except between day rows on and off, where a top-K may differ within its stated bounds (the day
// summaries' error): there the totals and cardinalities must be equal and every listed flow's bounds must overlap.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { root, TOKEN, startServer, stopServer } = require('./server');
const { buildFleet, windowAccs, Acc } = require('./bench');

const { createStorage, applyMigrations } = require(path.join(root, 'libs/storage/dist'));
const rollup = require(path.join(root, 'libs/rollup/dist'));
const { fleetRow, PartialRowStore } = require(path.join(root, 'libs/aggregation/dist'));

const { values: options } = parseArgs({
  options: {
    hosts: { type: 'string', default: '10000' },
    partitions: { type: 'string', default: '12' },
    templates: { type: 'string', default: '30' },
    days: { type: 'string', default: '30' },
    workers: { type: 'string', default: '0,1,2' },
    'fleet-rows': { type: 'string', default: 'off,on' },
    'day-rows': { type: 'string', default: 'on' },
    duration: { type: 'string', default: '10' },
    repeat: { type: 'string', default: '5' },
    'cache-mb': { type: 'string', default: '2048' },
    fresh: { type: 'boolean', default: false },
    'build-only': { type: 'boolean', default: false },
    scale: { type: 'boolean', default: false }, // run.sh's switch, passed along
  },
});
const HOSTS = Number(options.hosts);
const PARTS = Number(options.partitions);
const TEMPLATES = Number(options.templates);
const DAYS = Number(options.days);
const WORKERS = options.workers.split(',').map(Number);
const FLEET = options['fleet-rows'].split(',');
const DAYROWS = options['day-rows'].split(',');
const DURATION = Number(options.duration);
const REPEAT = Number(options.repeat);
const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const DATA_FORMAT = 4;
const dataDir = path.join(process.env.TMA_STATE_DIR || path.join(root, '.state'), 'bench-query-api-scale');

// ---------------------------------------------------------------- data
async function buildData() {
  const metaFile = path.join(dataDir, 'bench-meta.json');
  const shape = { format: DATA_FORMAT, hosts: HOSTS, partitions: PARTS, templates: TEMPLATES, days: DAYS };
  if (!options.fresh && fs.existsSync(metaFile)) {
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
    if (Object.entries(shape).every(([k, v]) => meta[k] === v)) return meta;
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.mkdirSync(dataDir, { recursive: true });
  const storage = await createStorage({ kind: 'chdb', path: path.join(dataDir, 'chdb'), database: 'tma' });
  await applyMigrations(storage);
  const t0 = Date.now();
  const log = (m) => process.stderr.write(`  ${m} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  const fleet = buildFleet(HOSTS);
  log(`fleet of ${HOSTS} hosts`);
  // The newest hour starts at H; ranges end at H + 30 min.
  const H = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
  const end = H + TEMPLATES * MIN;
  const hour = new Acc('1h', 0, 3600);
  let candidates = 0;
  let offset = 0;
  for (let i = 0; i < TEMPLATES; i++) {
    const accs = windowAccs(fleet, H + i * MIN, i, PARTS);
    const rows = accs.map((a, p) => a.row(offset++, p));
    // The window's fleet row, as the aggregator builds it: the partition rows merged (@tma/rollup), version = the sum
    // of theirs (1 each).
    const m = rollup.emptyMerged(H + i * MIN, 60);
    for (const r of rows) rollup.mergeStoredPartial(m, { ...r, spread: new Uint8Array(0), prefixes: '' });
    m.inputVersions = rows.length;
    await storage.insertRows('agg_partials', [...rows, fleetRow(m, 30 * 86_400)]);
    for (const a of accs) {
      candidates += a.cand.size;
      // The hour row stands for 60 minutes: each template minute twice.
      hour.absorb(a);
      hour.absorb(a);
    }
    log(`minute ${i + 1}/${TEMPLATES}: ${PARTS} rows`);
  }
  // Everything a column list needs for INSERT … SELECT (no ephemeral, materialized or alias columns).
  const cols = (
    await storage.query(
      `SELECT name FROM system.columns WHERE database = 'tma' AND table = 'agg_partials' AND default_kind NOT IN ('EPHEMERAL', 'MATERIALIZED', 'ALIAS') ORDER BY position`,
    )
  ).map((r) => r.name);
  const copy = async (where, shifts) => {
    const list = cols.map((c) =>
      c === 'window_start'
        ? `window_start - toIntervalSecond(k) AS window_start`
        : c === 'first_offset'
          ? `first_offset + 1000000 * (k % 1000003) AS first_offset`
          : c === 'last_offset'
            ? `last_offset + 1000000 * (k % 1000003) AS last_offset`
            : c,
    );
    await storage.command(
      `INSERT INTO tma.agg_partials (${cols.join(', ')})
       SELECT ${list.join(', ')} FROM tma.agg_partials ARRAY JOIN {shifts:Array(UInt32)} AS k WHERE ${where}`,
      { shifts },
    );
  };
  // The minutes before the first whole hour of the 24 h and the 30 d range (exactly filled with 30 templates).
  await copy(`tier IN ('1m', '1m-fleet')`, [(DAY - TEMPLATES * MIN) / 1000, (DAYS * DAY - TEMPLATES * MIN) / 1000]);
  log('minutes copied');
  hour.ws = H - HOUR;
  const hr = hour.row(offset++, 0);
  hr.topic = '';
  await storage.insertRows('agg_partials', [hr]);
  const shifts = [];
  for (let h = 1; h < DAYS * 24; h++) shifts.push((h * HOUR) / 1000);
  await copy(`tier = '1h'`, shifts);
  log(`hour row copied to ${DAYS * 24} hours`);
  // The 1 d rows of the whole UTC days in the range, as the aggregator builds them from the stored hours (its
  // readable rollups too); kept aside in bench_day_rows for setDayRows().
  const ttl = 30 * 86_400;
  const rowStore = new PartialRowStore(
    storage,
    {
      partials: ttl,
      windowTotals: ttl,
      topFlows: ttl,
      hostTotals: ttl,
      protocolTotals: ttl,
      hourTier: ttl,
      dayTier: ttl,
    },
    100,
  );
  for (let d = Math.ceil((end - DAYS * DAY) / DAY) * DAY; d + DAY <= end; d += DAY) await rowStore.buildDay(d);
  await storage.command(
    `CREATE TABLE tma.bench_day_rows ENGINE = MergeTree ORDER BY window_start AS
     SELECT ${cols.join(', ')} FROM tma.agg_partials WHERE tier = '1d'`,
  );
  const [day] = await storage.query(`SELECT count() AS n, max(length(candidates)) AS bytes FROM tma.bench_day_rows`);
  log(`${day.n} day rows built`);
  const [size] = await storage.query(
    `SELECT count() AS rows, sum(data_compressed_bytes) AS compressed FROM system.parts WHERE database = 'tma' AND table = 'agg_partials' AND active`,
  );
  await storage.close();
  const meta = {
    ...shape,
    end,
    buildSeconds: (Date.now() - t0) / 1000,
    candidatesPerRow: Math.round(candidates / (TEMPLATES * PARTS)),
    hourCandidateBytes: hr.candidates.length,
    dayRows: Number(day.n),
    dayCandidateBytes: Number(day.bytes),
    storedMiB: +(Number(size.compressed) / 2 ** 20).toFixed(0),
  };
  fs.writeFileSync(metaFile, JSON.stringify(meta));
  return meta;
}

// ---------------------------------------------------------------- measuring
const auth = { authorization: `Bearer ${TOKEN}` };

function procStat(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]); // utime + stime, all threads
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)[1]);
  return { cpuMs: (ticks * 1000) / 100, rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
}

async function get(base, p) {
  const r = await fetch(base + p, { headers: auth });
  const body = await r.text();
  if (!r.ok) throw new Error(`${p}: ${r.status} ${body.slice(0, 300)}`);
  return body;
}

/**
 * `connections` clients, each sending its next request when its last one is answered, for `DURATION` seconds and
 * until every client had at least two answers (a merge of seconds still counts: no request is given up on), while
 * /health is probed every 50 ms (the event loop's latency under that load).
 */
async function load(base, p, connections) {
  const probes = [];
  let on = true;
  const probe = (async () => {
    while (on) {
      const t0 = performance.now();
      await fetch(`${base}/health`).catch(() => undefined);
      probes.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const latencies = [];
  const t0 = performance.now();
  const client = async () => {
    for (let n = 0; n < 2 || performance.now() - t0 < DURATION * 1000; n++) {
      const t = performance.now();
      await get(base, p);
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: connections }, client));
  const seconds = (performance.now() - t0) / 1000;
  on = false;
  await probe;
  return {
    p50: pct(latencies, 0.5),
    p99: pct(latencies, 0.99),
    rps: latencies.length / seconds,
    requests: latencies.length,
    healthP99: pct(probes, 0.99),
  };
}

const pct = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

/** Day rows in agg_partials or not: deleted, then (on) copied back from bench_day_rows (no insert deduplication). */
async function setDayRows(on) {
  const storage = await createStorage({ kind: 'chdb', path: path.join(dataDir, 'chdb'), database: 'tma' });
  try {
    await storage.command(`DELETE FROM tma.agg_partials WHERE tier = '1d'`);
    if (on) {
      const cols = (
        await storage.query(
          `SELECT name FROM system.columns WHERE database = 'tma' AND table = 'bench_day_rows' ORDER BY position`,
        )
      ).map((r) => r.name);
      await storage.command(
        `INSERT INTO tma.agg_partials (${cols.join(', ')}) SETTINGS insert_deduplicate = 0
         SELECT ${cols.join(', ')} FROM tma.bench_day_rows`,
      );
    }
  } finally {
    await storage.close();
  }
}

const loadavg = () => os.loadavg()[0].toFixed(1);

async function measure(meta, workers, fleet, days) {
  await setDayRows(days === 'on');
  const env = {
    TMA_API_MERGE_CACHE: 'off',
    TMA_API_MERGE_WORKERS: String(workers),
    TMA_API_FLEET_ROWS: fleet,
    TMA_API_CACHE_MB: options['cache-mb'],
    TMA_CHDB_PATH: path.join(dataDir, 'chdb'),
  };
  const { child, base } = await startServer({ env });
  const pid = child.pid;
  const iso = (ms) => encodeURIComponent(new Date(ms).toISOString());
  const q = (ms) => `from=${iso(meta.end - ms)}&to=${iso(meta.end)}`;
  const queries = [
    ['top-K (k=100)', '24h', `/v1/flows/top?${q(DAY)}&k=100`],
    ['cardinality', '24h', `/v1/cardinality?${q(DAY)}`],
    ['top-K (k=100)', `${meta.days}d`, `/v1/flows/top?${q(meta.days * DAY)}&k=100`],
    ['cardinality', `${meta.days}d`, `/v1/cardinality?${q(meta.days * DAY)}`],
  ];
  const out = {
    workers,
    days,
    label: `w=${workers} fleet=${fleet} days=${days}`,
    rows: [],
    answers: {},
    load: [loadavg()],
  };
  try {
    for (const [what, range, p] of queries) {
      let t0 = performance.now();
      out.answers[`${what} ${range}`] = await get(base, p);
      const cold = performance.now() - t0;
      const tiers = Object.entries(JSON.parse(out.answers[`${what} ${range}`]).scope.tiers)
        .sort()
        .map(([k, v]) => `${v}×${k}`)
        .join('+');
      // Sequential requests: latency at 1 client and the CPU time each costs (every thread of the process).
      const s0 = procStat(pid);
      const seq = [];
      for (let i = 0; i < REPEAT; i++) {
        t0 = performance.now();
        await get(base, p);
        seq.push(performance.now() - t0);
      }
      const s1 = procStat(pid);
      const row = {
        what,
        range,
        tiers,
        cold,
        seqP50: pct(seq, 0.5),
        seqMax: Math.max(...seq),
        cpuMs: (s1.cpuMs - s0.cpuMs) / REPEAT,
        rssMiB: s1.rssMiB,
        load: {},
      };
      for (const c of [1, 10]) row.load[c] = await load(base, p, c);
      row.hwmMiB = procStat(pid).hwmMiB;
      out.rows.push(row);
      process.stderr.write(`  ${out.label} ${what} ${range} done\n`);
    }
  } finally {
    await stopServer(child);
  }
  out.load.push(loadavg());
  return out;
}

/** Where two answers first differ: a path and both values. */
function firstDifference(a, b, at = '') {
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = firstDifference(a[k], b[k], `${at}.${k}`);
      if (d) return d;
    }
    return '';
  }
  return a === b ? '' : `${at}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
}

/**
 * An answer with day rows (b) against one without (a): a day row's frequent-items summary may keep other counts than
 * its hours (docs/sketch.md, "Coarse tiers"), so a top-K may differ, within bounds that both state. What must hold:
 * the same totals and cardinalities, and the bounds of a flow both list overlap (both contain its truth).
 */
function dayDifferences(a, b) {
  if (!Array.isArray(a.flows)) {
    const d = firstDifference({ ...a, scope: undefined }, { ...b, scope: undefined });
    return { violations: d ? [d] : [], note: d ? `differs: ${d}` : 'identical but for scope' };
  }
  const violations = [];
  for (const t of ['packets', 'bytes'])
    if (a[t].total !== b[t].total) violations.push(`${t} total ${a[t].total} vs ${b[t].total}`);
  const totalsEqual = violations.length === 0;
  const id = (f) => `${f.src}|${f.dst}|${f.srcPort}|${f.dstPort}|${f.protocol}`;
  const rankB = new Map(b.flows.map((f, i) => [id(f), i]));
  let both = 0;
  let sameRank = 0;
  let maxDiff = 0;
  a.flows.forEach((f, i) => {
    const j = rankB.get(id(f));
    if (j === undefined) return;
    both++;
    if (i === j) sameRank++;
    const g = b.flows[j];
    maxDiff = Math.max(maxDiff, Math.abs(f.packets - g.packets) / f.packets);
    for (const t of ['packets', 'bytes'])
      if (Math.max(f[`${t}Lower`], g[`${t}Lower`]) > Math.min(f[`${t}Upper`], g[`${t}Upper`]))
        violations.push(
          `${id(f)}: ${t} bounds [${f[`${t}Lower`]}, ${f[`${t}Upper`]}] and [${g[`${t}Lower`]}, ${g[`${t}Upper`]}] disjoint`,
        );
  });
  const n = (x) => (x === null ? 'none' : Number(x).toLocaleString('en'));
  return {
    violations,
    note: `totals equal: ${totalsEqual}; ${both} of ${a.flows.length} flows in both lists (${sameRank} at the same rank), estimates differ by at most ${(maxDiff * 100).toFixed(2)} %; complete above ${n(a.completeAbove)} / ${n(b.completeAbove)} packets, summary error ${n(a.summaryError)} / ${n(b.summaryError)}, k-th lower bound ${n(a.kthLower)} / ${n(b.kthLower)}, complete ${a.complete} / ${b.complete}`,
  };
}

async function main() {
  console.log(
    `machine: ${os.cpus().length} × ${os.cpus()[0].model}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  const meta = await buildData();
  console.log(
    `data: ${meta.hosts} hosts over ${meta.partitions} partitions, ~${meta.candidatesPerRow} candidates per 1 min row, a 1 h row with ${(meta.hourCandidateBytes / 2 ** 10).toFixed(0)} KiB of candidates (the shortlist), ${meta.days} days of 1 h rows, ${meta.dayRows} 1 d rows with ${(meta.dayCandidateBytes / 2 ** 10).toFixed(0)} KiB of candidates; ${meta.storedMiB} MiB stored; built in ${meta.buildSeconds.toFixed(0)} s`,
  );
  if (options['build-only']) return;
  const runs = [];
  for (const d of DAYROWS) for (const f of FLEET) for (const w of WORKERS) runs.push(await measure(meta, w, f, d));
  const baseRun = runs[0];
  // Compared with keys sorted (an object's key order, e.g. scope.tiers, follows the order rows were listed in).
  const canonical = (v) =>
    Array.isArray(v)
      ? v.map(canonical)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, canonical(v[k])]),
          )
        : v;
  const text = (body) => JSON.stringify(canonical(JSON.parse(body)));
  // Identical within a day-rows setting; between the settings only answers that read no day row.
  const differ = [];
  const dayNotes = [];
  for (const r of runs) {
    const ref = runs.find((x) => x.days === r.days);
    for (const [k, v] of Object.entries(ref.answers))
      if (text(r.answers[k]) !== text(v))
        differ.push(`${k} (${r.label}: ${firstDifference(JSON.parse(v), JSON.parse(r.answers[k]))})`);
    if (ref !== r || r === baseRun) continue;
    for (const [k, v] of Object.entries(baseRun.answers)) {
      const [a, b] = [JSON.parse(v), JSON.parse(r.answers[k])];
      if (!a.scope.tiers['1d'] && !b.scope.tiers['1d']) {
        if (text(v) !== text(r.answers[k])) differ.push(`${k} (${r.label}: ${firstDifference(a, b)})`);
        continue;
      }
      const d = dayDifferences(a, b);
      differ.push(...d.violations.map((x) => `${k} (${r.label}: ${x})`));
      dayNotes.push(`${k}, ${baseRun.label} / ${r.label}: ${d.note}`);
    }
  }
  console.log(
    `\nanswers identical across ${runs.map((r) => r.label).join(', ')} (with and without day rows: totals, cardinalities, overlapping bounds): ${differ.length ? `NO: ${differ.join(', ')}` : 'yes'}`,
  );
  for (const n of dayNotes) console.log(`  ${n}`);
  console.log(
    `merge cache off (every request merges and ranks); decoded rows cached (TMA_API_CACHE_MB=${options['cache-mb']}); ms`,
  );
  console.log(
    `query           range rows                     configuration   clients  requests     p50     p99   req/s  /health p99   p99: ${baseRun.label} / this`,
  );
  for (let i = 0; i < baseRun.rows.length; i++) {
    for (const c of [1, 10]) {
      if (!baseRun.rows[i].load[c]) continue;
      for (const run of runs) {
        const r = run.rows[i];
        const l = r.load[c];
        const ratio = baseRun.rows[i].load[c].p99 / Math.max(l.p99, 1);
        console.log(
          `${r.what.padEnd(15)} ${r.range.padEnd(5)} ${r.tiers.padEnd(24)} ${run.label.padEnd(24)} ${String(c).padStart(8)} ${String(l.requests).padStart(9)} ${l.p50.toFixed(0).padStart(7)} ${l.p99.toFixed(0).padStart(7)} ${l.rps.toFixed(1).padStart(7)} ${l.healthP99.toFixed(0).padStart(12)}   ${ratio.toFixed(2)}×`,
        );
      }
    }
  }
  console.log(`\nsequential (1 client, ${REPEAT} requests each), CPU time per request (all threads), memory`);
  console.log(
    'query           range rows                     configuration    first    p50     max   CPU/request   RSS MiB   peak RSS MiB',
  );
  for (let i = 0; i < baseRun.rows.length; i++)
    for (const run of runs) {
      const r = run.rows[i];
      console.log(
        `${r.what.padEnd(15)} ${r.range.padEnd(5)} ${r.tiers.padEnd(24)} ${run.label.padEnd(24)} ${r.cold.toFixed(0).padStart(6)} ${r.seqP50.toFixed(0).padStart(6)} ${r.seqMax.toFixed(0).padStart(7)} ${r.cpuMs.toFixed(0).padStart(13)} ${r.rssMiB.toFixed(0).padStart(9)} ${r.hwmMiB.toFixed(0).padStart(14)}`,
      );
    }
  console.log(
    `\nload average (1 min) at start / end: ${runs.map((r) => `${r.label} ${r.load.join(' / ')}`).join(', ')}`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
