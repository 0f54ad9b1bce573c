// What the aggregator benchmarks share, each fact defined once: the start (run from the repository root, the projects
// built, `--name value` flags), the simulated fleet (quiet or busy hosts), the broker client, publishing, the
// aggregator's bench settings, and the answers compared between runs. Modules of the built projects are required
// inside the functions: they exist only once benchSetup() has built them.
'use strict';
const { execFileSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');
const MINUTE = 60_000;

/** Changes to the repository root, builds `projects` (tsconfig paths; incremental) and returns the flags given. */
function benchSetup(projects) {
  process.chdir(root);
  execFileSync(path.join(root, 'node_modules/.bin/tsc'), ['-b', ...projects], { stdio: 'inherit' });
  return Object.fromEntries(
    process.argv
      .slice(2)
      .reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
  );
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (n, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/**
 * Busy hosts: thousands of flows and ~20 Mpps each (every sketch dense, wide cells, a full candidate list), ~200 KiB
 * snapshots, the other end from the default quiet hosts (~6.6 KB, sparse sketches).
 */
const BUSY_TRAFFIC = { poolSize: 16_384, flowsPerInterval: 8_192, packetsPerInterval: 200_000_000 };

/** The flags every aggregator bench reads: --busy, --hosts (100 busy, 1,000 quiet), --rounds, --partitions. */
function fleetFlags(args, defaultRounds) {
  const busy = args.busy !== undefined;
  return {
    busy,
    hosts: Number(args.hosts ?? (busy ? 100 : 1000)),
    rounds: Number(args.rounds ?? defaultRounds),
    partitions: Number(args.partitions ?? 12),
  };
}

/**
 * `rounds` 10 s intervals of every host (seed 7), ending a minute or more before now (so every window can close),
 * in publishing order; with the last window's snapshot count (committed only by the idle close) and the average size.
 */
function fleetMessages({ hosts, rounds, busy }) {
  const { FleetSimulator } = require('../../tools/fleet-sim/dist');
  const { windowOf } = require('@tma/rollup');
  const startMs = Math.floor(Date.now() / MINUTE) * MINUTE - Math.ceil((rounds * 10_000) / MINUTE + 2) * MINUTE;
  const sim = new FleetSimulator({
    hosts,
    seed: 7,
    startMs,
    intervalMs: 10_000,
    truth: false,
    ...(busy ? BUSY_TRAFFIC : {}),
  });
  const messages = [];
  for (let r = 0; r < rounds; r++) messages.push(...sim.nextRound());
  const lastWindow = Math.max(...messages.map((m) => windowOf(m.intervalEndMs, MINUTE)));
  const lastWindowCount = messages.filter((m) => windowOf(m.intervalEndMs, MINUTE) === lastWindow).length;
  const avgBytes = messages.reduce((s, m) => s + m.value.length, 0) / messages.length;
  return { messages, lastWindowCount, avgBytes };
}

/** A kafkajs client on the broker of TMA_KAFKA_* (libs/kafka settings), quiet. */
function benchKafka(clientId) {
  const { Kafka, logLevel } = require('kafkajs');
  const { loadKafkaSettings } = require('@tma/kafka');
  return new Kafka({ ...loadKafkaSettings(process.env, clientId), logLevel: logLevel.NOTHING });
}

/**
 * Publishes `messages` with acks=all. A send's batch for one partition must stay below the broker's message.max.bytes
 * (1 MiB): large snapshots go a few at a time (whatever partition they fall in), small ones ~256 KiB per partition
 * on average.
 */
function publish(producer, topic, messages, partitions) {
  const { sendMessages } = require('../../tools/fleet-sim/dist');
  const avg = messages.reduce((t, m) => t + m.value.length, 0) / messages.length;
  const largest = messages.reduce((t, m) => Math.max(t, m.value.length), 0);
  const chunk =
    largest > 64 * 1024
      ? Math.max(1, Math.floor((900 * 1024) / largest))
      : Math.max(1, Math.min(2000, Math.floor((partitions * 256 * 1024) / avg)));
  return sendMessages(producer, topic, messages, chunk);
}

/** Offsets committed by the group on `topic`, summed over its partitions (not yet committed: 0). */
async function committedSum(admin, groupId, topic) {
  const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
  return committed[0].partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
}

/** The aggregator's settings in the benches: topics under `prefix`, short idle close so the last window is written. */
function aggregatorEnv(prefix, partitions, extra = {}) {
  return {
    ...process.env,
    TMA_TOPIC_PREFIX: prefix,
    TMA_AGG_GROUP_ID: `${prefix}-agg`,
    TMA_AGG_TOPIC_PARTITIONS: String(partitions),
    TMA_AGG_ALLOWED_LATENESS: '30s',
    TMA_AGG_IDLE_CLOSE: '2s',
    TMA_AGG_FLUSH_INTERVAL: '1s',
    TMA_AGG_ROLLUP_DELAY: '5s',
    ...extra,
  };
}

/** JSON with bigints as decimal and bytes as hex: one text per value, whatever form the bytes came in. */
function stable(v) {
  return JSON.stringify(v, (_, x) =>
    typeof x === 'bigint'
      ? x.toString()
      : x instanceof Uint8Array
        ? Buffer.from(x).toString('hex')
        : x && x.type === 'Buffer' && Array.isArray(x.data)
          ? Buffer.from(x.data).toString('hex')
          : x,
  );
}

/**
 * Columns that say how a window was cut into partial rows, not what they hold: the row count (`partials`, and the
 * `version` that counts them) and how many came late. An instance short of CPU may close a window at the idle close
 * and write the rest of it as a further row, so these differ between runs whose answers are the same.
 */
const CUT_COLUMNS = new Set(['version', 'partials', 'late_partials']);

/** The columns of two answers' rows that differ, table by table (for a report when digests differ). */
function answerDiff(a, b) {
  const out = [];
  for (const t of Object.keys(a.rows)) {
    if (a.digest[t] === b.digest[t]) continue;
    const ra = a.rows[t].map((r) => JSON.parse(r));
    const rb = b.rows[t].map((r) => JSON.parse(r));
    const cols = new Set();
    for (let i = 0; i < Math.max(ra.length, rb.length); i++)
      for (const k of Object.keys({ ...ra[i], ...rb[i] }))
        if (JSON.stringify(ra[i]?.[k]) !== JSON.stringify(rb[i]?.[k])) cols.add(k);
    out.push(`${t}: ${ra.length} vs ${rb.length} rows, columns ${[...cols].join(', ')}`);
  }
  return out.join('; ');
}

/**
 * Readable rollups of every window from partial rows (of one or several instances), as the rollup rebuild merges
 * them: per window its snapshots, packets and a digest per readable table. Independent of how windows were cut into
 * rows (CUT_COLUMNS are left out).
 */
function answers(rows) {
  const { emptyMerged, mergeStoredPartial, readableRows } = require('@tma/rollup');
  const byWindow = new Map();
  for (const r of rows) {
    const w = Number(r.window_start);
    if (!byWindow.has(w)) byWindow.set(w, []);
    byWindow.get(w).push(r);
  }
  const out = [];
  const now = new Date(0);
  const ttl = { windowTotals: 1, topFlows: 1, hostTotals: 1, protocolTotals: 1, sketches: 1 };
  for (const w of [...byWindow.keys()].sort((a, b) => a - b)) {
    const m = emptyMerged(w * 1000, Number(byWindow.get(w)[0].window_seconds));
    // in one order whatever the instance that wrote a row (partition, then offsets), as PartialRowStore.readMerged reads them
    const inOrder = byWindow
      .get(w)
      .sort((a, b) => Number(a.partition) - Number(b.partition) || Number(a.first_offset) - Number(b.first_offset));
    for (const r of inOrder) mergeStoredPartial(m, r);
    const readable = readableRows(m, '1m', 100, ttl, now);
    const clean = (t) =>
      readable[t]
        .map((row) => Object.fromEntries(Object.entries(row).filter(([k]) => !CUT_COLUMNS.has(k))))
        .map(stable);
    const tables = Object.keys(readable).map((t) => [t, clean(t).sort()]);
    out.push({
      window: w,
      snapshots: m.snapshots,
      packets: m.packets,
      digest: Object.fromEntries(tables.map(([t, v]) => [t, createHash('sha256').update(v.join('\n')).digest('hex')])),
      // what differs when a digest does (not compared: the digests are)
      rows: Object.fromEntries(tables),
      partials: m.partials,
    });
  }
  return out;
}

module.exports = {
  root,
  MINUTE,
  benchSetup,
  sleep,
  fmt,
  BUSY_TRAFFIC,
  fleetFlags,
  fleetMessages,
  benchKafka,
  publish,
  committedSum,
  aggregatorEnv,
  stable,
  answers,
  answerDiff,
};
