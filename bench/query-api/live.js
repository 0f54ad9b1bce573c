#!/usr/bin/env node
// How soon an interval shows in the API: simulated hosts publish each interval's snapshots to the real Kafka broker
// the moment the interval ends (as edge agents do), the query API hosting the aggregator (`main.js
// --with-aggregator`, the single-machine stack of `./tma start`) on a fresh embedded chDB consumes them, and the
// driver polls /v1/traffic/series until the fleet's exact packet total includes that interval.
//   bash bench/query-api/live.sh [--hosts 50] [--interval 5s] [--rounds 48] [--poll 100]
// Prints, per interval, end → produce acknowledged → visible (the provisional path), and per window the time until
// it was final (the path without provisional rows: window end + allowed lateness), measured in the same run; then the
// aggregator's provisional write time and the API's answer time.
'use strict';
const { spawn } = require('node:child_process');
const { mkdtempSync, rmSync } = require('node:fs');
const { createServer } = require('node:net');
const { tmpdir } = require('node:os');
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const { Kafka, logLevel } = require('kafkajs');

const root = path.resolve(__dirname, '../..');
const { FleetSimulator, sendMessages } = require(path.join(root, 'tools/fleet-sim/dist'));
const { snapshotTopic } = require(path.join(root, 'libs/schema/dist'));

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const HOSTS = Number(args.hosts ?? 50);
const INTERVAL = /^(\d+)s$/.test(args.interval ?? '5s') ? Number((args.interval ?? '5s').slice(0, -1)) * 1000 : NaN;
const ROUNDS = Number(args.rounds ?? 48);
const POLL = Number(args.poll ?? 100);
if (!(INTERVAL >= 1000) || !(HOSTS > 0) || !(ROUNDS > 0))
  throw new Error('usage: live.js [--hosts N] [--interval Ns] [--rounds N]');
const MIN = 60_000;
const TOKEN = `bench-${randomBytes(8).toString('hex')}`;
const prefix = `tbenchlive${randomBytes(3).toString('hex')}`;
const brokers = process.env.TMA_KAFKA_BROKERS ?? `127.0.0.1:${process.env.TMA_KAFKA_PORT ?? '9092'}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? res(a.port) : rej(new Error('no port'))));
    });
  });
}

function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: quantile(s, 0.5), p99: quantile(s, 0.99), max: s[s.length - 1] };
};
const f = (ms) => (ms / 1000).toFixed(2);

async function main() {
  const work = mkdtempSync(path.join(tmpdir(), 'tma-bench-live-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let output = '';
  const child = spawn(process.execPath, [path.join(root, 'apps/query-api/dist/main.js'), '--with-aggregator'], {
    cwd: work,
    env: {
      ...process.env,
      TMA_CHDB_PATH: path.join(work, 'chdb'),
      TMA_API_PORT: String(port),
      TMA_API_TOKENS: `bench:${TOKEN}`,
      TMA_KAFKA_BROKERS: brokers,
      TMA_TOPIC_PREFIX: prefix,
      TMA_AGG_GROUP_ID: `${prefix}-group`,
      TMA_AGG_TOPIC_PARTITIONS: '4',
      TMA_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => (output = (output + d).slice(-8000)));
  child.stderr.on('data', (d) => (output = (output + d).slice(-8000)));
  const headers = { authorization: `Bearer ${TOKEN}` };
  const kafka = new Kafka({ brokers: brokers.split(','), clientId: 'tma-bench-live', logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  try {
    for (let t = Date.now(); ; await sleep(500)) {
      if (child.exitCode !== null) throw new Error(`the server exited:\n${output}`);
      if (
        await fetch(`${base}/ready`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (Date.now() - t > 120_000) throw new Error(`the server did not get ready:\n${output}`);
    }
    await producer.connect();
    // Intervals aligned to the interval, the first ending one interval from now: each is sent as it ends.
    const first = Math.ceil(Date.now() / INTERVAL) * INTERVAL;
    const sim = new FleetSimulator({ hosts: HOSTS, seed: 11, startMs: first, intervalMs: INTERVAL });
    const from = Math.floor(first / MIN) * MIN;
    const to = from + Math.ceil((ROUNDS * INTERVAL) / MIN + 2) * MIN;
    const apiMs = [];
    const series = async () => {
      const t0 = performance.now();
      const r = await fetch(`${base}/v1/traffic/series?from=${from}&to=${to}&step=1m`, { headers });
      if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
      const body = await r.json();
      apiMs.push(performance.now() - t0);
      return body;
    };
    const rows = [];
    const finalAt = new Map(); // window start → wall time its answer stopped being provisional
    const lastEnd = new Map(); // window start → end of its last interval
    let sent = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const messages = sim.nextRound();
      const end = first + (r + 1) * INTERVAL;
      const w = Math.floor((end - 1) / MIN) * MIN;
      lastEnd.set(w, end);
      await sleep(Math.max(0, end - Date.now()));
      await sendMessages(producer, snapshotTopic(prefix), messages);
      const acked = Date.now();
      sent = sim.truth.totals().packets;
      // Poll until the answer's exact total includes this interval (it cannot pass the next interval's end).
      let visible = NaN;
      while (Date.now() < end + INTERVAL - POLL) {
        const body = await series();
        const now = Date.now();
        const total = body.total.packets.reduce((a, b) => a + b, 0);
        const pf = body.scope.provisionalFrom ? Date.parse(body.scope.provisionalFrom) : Infinity;
        for (const ws of lastEnd.keys()) if (ws + MIN <= pf && !finalAt.has(ws) && total > 0) finalAt.set(ws, now);
        if (total === sent) {
          visible = now;
          break;
        }
        await sleep(POLL);
      }
      rows.push({ end, window: w, produce: acked - end, visible: visible - end });
      process.stdout.write(
        `interval ending ${new Date(end).toISOString().slice(11, 19)}: produced +${f(acked - end)} s, visible +${Number.isNaN(visible) ? 'not within the interval' : f(visible - end) + ' s'}\n`,
      );
    }
    // Windows final while traffic still flowed closed on the watermark (end + allowed lateness); the last ones would
    // close on the idle timer once traffic stops, which is not what a live fleet sees: not counted.
    const metrics = await (await fetch(`${base}/metrics`, { headers })).text();
    /** The value of `name`'s sample (labelled table="agg_provisional" where it has a table). */
    const metric = (name) => {
      const line = metrics
        .split('\n')
        .find((l) => l.startsWith(name + '{') && (!l.includes('table=') || l.includes('table="agg_provisional"')));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
    };
    const provBuild = metric('tma_aggregator_provisional_build_seconds_total');
    const provSum = metric('tma_aggregator_write_seconds_sum');
    const provCount = metric('tma_aggregator_write_seconds_count');
    const provRows = metric('tma_aggregator_rows_written_total');

    const seen = rows.filter((r) => !Number.isNaN(r.visible));
    const vis = stats(seen.map((r) => r.visible));
    const prod = stats(rows.map((r) => r.produce));
    const fin = [...finalAt].map(([ws, at]) => at - lastEnd.get(ws));
    const finS = stats(fin);
    // Without provisional rows an interval shows when its window is final: every interval of those windows.
    const before = stats(rows.filter((r) => finalAt.has(r.window)).map((r) => finalAt.get(r.window) - r.end));
    const api = stats(apiMs);
    console.log(
      `\n${HOSTS} hosts, ${INTERVAL / 1000} s interval, ${ROUNDS} intervals, 4 partitions, poll every ${POLL} ms`,
    );
    console.log('| path | n | p50 s | p99 s | max s |');
    console.log('| --- | --: | --: | --: | --: |');
    console.log(
      `| interval end → produce acknowledged | ${prod.n} | ${f(prod.p50)} | ${f(prod.p99)} | ${f(prod.max)} |`,
    );
    console.log(
      `| interval end → visible in the API (provisional) | ${vis.n}/${rows.length} | ${f(vis.p50)} | ${f(vis.p99)} | ${f(vis.max)} |`,
    );
    console.log(
      `| interval end → visible without provisional rows (its window final) | ${before.n} | ${f(before.p50)} | ${f(before.p99)} | ${f(before.max)} |`,
    );
    console.log(
      `| window's last interval end → window final (the path without provisional rows; windows closed while traffic flowed) | ${finS.n} | ${f(finS.p50)} | ${f(finS.p99)} | ${f(finS.max)} |`,
    );
    console.log(
      `\nprovisional writes: ${provCount} inserts, ${provRows} rows, ${((provSum / provCount) * 1000).toFixed(1)} ms per insert on average; building the rows ${((provBuild / provRows) * 1000).toFixed(1)} ms per row (consumer thread)`,
    );
    console.log(`API answer (/v1/traffic/series, polled): p50 ${api.p50.toFixed(1)} ms, p99 ${api.p99.toFixed(1)} ms`);
  } finally {
    await producer.disconnect().catch(() => undefined);
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(20_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    const admin = kafka.admin();
    await admin.connect().catch(() => undefined);
    await admin.deleteTopics({ topics: [snapshotTopic(prefix)] }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
