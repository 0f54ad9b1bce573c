#!/usr/bin/env node
// Scaling out: 1, 2, 3 … aggregator instances in one consumer group on the same input, in one run.
//   node bench/aggregator/scale.js [--instances 1,2,3] [--hosts 1000] [--rounds 24] [--partitions 12] [--busy 1]
// Each instance is its own process on its own embedded ClickHouse (chDB is one process per data directory). For each
// count the instances start on a fresh, empty topic and join one group; once the group is stable with every
// instance holding partitions, the same pre-generated snapshots are published and timed until the group has
// committed them (so no rebalance happens while data flows, and the rate includes nothing but the work). Printed:
// the rate per count and its ratio to one instance, each instance's CPU per snapshot, the CPU of the broker, of this
// process (publishing) and of everything else on the machine over the same time, and whether the answers are
// identical: every window's partial rows from all instances merged (as the rollup rebuild merges them) give the same
// readable rollups (totals, top flows, hosts, protocols, native sketches) as with one instance.

'use strict';
const { fork } = require('node:child_process');
const { readFileSync, existsSync } = require('node:fs');
const { createHash, randomBytes } = require('node:crypto');
const { cpus } = require('node:os');
const path = require('node:path');
const { benchSetup, root } = require('./setup');

const args = benchSetup(['apps/aggregator/tsconfig.json', 'tools/fleet-sim/tsconfig.json']);
const COUNTS = String(args.instances ?? '1,2,3')
  .split(',')
  .map(Number);
const BUSY = args.busy !== undefined;
const HOSTS = Number(args.hosts ?? (BUSY ? 100 : 1000));
const ROUNDS = Number(args.rounds ?? 24);
const PARTITIONS = Number(args.partitions ?? 12);

const { Kafka, logLevel } = require('kafkajs');
const { loadKafkaSettings, ensureTopics } = require('@tma/kafka');
const { snapshotTopic, deadLetterTopic } = require('@tma/schema');
const { emptyMerged, mergeStoredPartial, readableRows, windowOf } = require('@tma/rollup');
const { FleetSimulator, sendMessages } = require('../../tools/fleet-sim/dist');

const kafka = new Kafka({ ...loadKafkaSettings(process.env, 'tma-bench-scale'), logLevel: logLevel.NOTHING });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (n, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const MINUTE = 60_000;
const log = (s) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const TICK = 100;
const topics = []; // clock ticks per second in /proc

/** Busy CPU seconds of the whole machine (all cores) from /proc/stat. */
function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  return (f.reduce((a, b) => a + b, 0) - idle) / TICK;
}

/** CPU seconds of a process (user + system), or NaN when unknown. */
function processCpu(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch {
    return NaN;
  }
}

/** The local broker's pid, when it is the project's own (infra/kafka/kafka.sh keeps it in its state folder). */
function brokerPid() {
  const file = path.join(process.env.TMA_STATE_DIR ?? path.join(root, '.state'), 'kafka', 'kafka.pid');
  return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : NaN;
}

async function committedSum(admin, groupId, topic) {
  const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
  return committed[0].partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
}

/** The group is stable with `children.length` members and they hold every partition of `topic` between them. */
async function groupStable(admin, groupId, topic, children) {
  const { groups } = await admin.describeGroups([groupId]);
  if (groups[0].state !== 'Stable' || groups[0].members.length !== children.length) return false;
  const held = await Promise.all(
    children.map(
      ({ child }) =>
        new Promise((resolve) => {
          const on = (m) => {
            if (m.type !== 'assignment') return;
            child.off('message', on);
            resolve(m.n);
          };
          child.on('message', on);
          child.send({ type: 'assignment', topic });
        }),
    ),
  );
  return held.every((n) => n > 0) && held.reduce((a, b) => a + b, 0) === PARTITIONS;
}

/** Readable rollups of every window from the partial rows of all instances, as the rollup rebuild merges them. */
function answers(rows) {
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
    // What a reader sees; the version counts partial rows, which may differ with how windows were cut.
    const clean = (t) =>
      readable[t].map((row) => Object.fromEntries(Object.entries(row).filter(([k]) => k !== 'version'))).map(stable);
    const tables = Object.keys(readable).map((t) => [t, clean(t).sort()]);
    out.push({
      window: w,
      snapshots: m.snapshots,
      packets: m.packets,
      digest: Object.fromEntries(tables.map(([t, v]) => [t, createHash('sha256').update(v.join('\n')).digest('hex')])),
    });
  }
  return out;
}

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

async function runCount(k, messages, lastWindowCount, admin, producer) {
  const prefix = `scale${randomBytes(3).toString('hex')}`;
  const topic = snapshotTopic(prefix);
  const groupId = `${prefix}-agg`;
  await ensureTopics(admin, [
    { topic, numPartitions: PARTITIONS },
    { topic: deadLetterTopic(prefix), numPartitions: 1 },
  ]);
  const env = {
    ...process.env,
    TMA_TOPIC_PREFIX: prefix,
    TMA_AGG_GROUP_ID: groupId,
    TMA_AGG_TOPIC_PARTITIONS: String(PARTITIONS),
    TMA_AGG_ALLOWED_LATENESS: '30s',
    TMA_AGG_IDLE_CLOSE: '2s',
    TMA_AGG_FLUSH_INTERVAL: '1s',
    TMA_AGG_ROLLUP_DELAY: '5s',
  };
  const children = [];
  for (let i = 0; i < k; i++) {
    const child = fork(path.join(__dirname, 'instance.js'), [], {
      env: { ...env, TMA_AGG_WRITER_ID: `bench-${k}-${i}` },
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const joined = new Promise((resolve, reject) => {
      child.on('message', (m) => m.type === 'joined' && resolve());
      child.once('exit', (code) => reject(new Error(`instance ${i} exited with ${code} before joining`)));
    });
    let reported = false;
    const done = new Promise((resolve) =>
      child.on('message', (m) => {
        if (m.type !== 'done') return;
        reported = true;
        resolve(m);
      }),
    );
    // Ended without its report (a grace period: the exit may be seen before the last message is read).
    const ended = new Promise((_, reject) =>
      child.once('exit', (code, signal) =>
        setTimeout(
          () => reported || reject(new Error(`instance ${i} of ${k} ended (${code ?? signal}) without its report`)),
          5000,
        ),
      ),
    );
    ended.catch(() => undefined);
    children.push({ child, joined, done, ended });
  }
  // An instance that ends before it reported stops the run with its exit status instead of waiting for it.
  const lost = Promise.race(children.map((c) => c.ended));
  lost.catch(() => undefined);
  await Promise.all(children.map((c) => c.joined));
  log(`${k} instance(s) joined`);
  const t = Date.now();
  while (!(await Promise.race([groupStable(admin, groupId, topic, children), lost]))) {
    if (Date.now() - t > 120_000) throw new Error(`group of ${k} not stable after 120 s`);
    await sleep(200);
  }

  const N = messages.length;
  const broker = brokerPid();
  const before = { machine: machineCpu(), broker: processCpu(broker), self: process.cpuUsage() };
  const t0 = performance.now();
  const wall0 = Date.now();
  // Sends of ~256 KiB per partition on average: a partition's batch must stay below the broker's message.max.bytes
  // (1 MiB) however the hosts' keys fall.
  const avg = messages.reduce((t, m) => t + m.value.length, 0) / N;
  const chunk = Math.max(1, Math.min(2000, Math.floor((PARTITIONS * 256 * 1024) / avg)));
  const publishing = sendMessages(producer, topic, messages, chunk).then(() => performance.now());
  let steadyAt = 0;
  for (let done = 0; done < N;) {
    await sleep(100);
    done = await committedSum(admin, groupId, topic);
    if (!steadyAt && done >= N - lastWindowCount) steadyAt = performance.now();
  }
  const allAt = performance.now();
  const publishedAt = await publishing;
  const after = { machine: machineCpu(), broker: processCpu(broker), self: process.cpuUsage(before.self) };
  for (const c of children) c.child.send({ type: 'stop' });
  const reports = await Promise.race([Promise.all(children.map((c) => c.done)), lost]);
  topics.push(topic, deadLetterTopic(prefix)); // deleted at the end (the producer still knows them)

  const rows = reports.flatMap((r) => r.rows);
  const perInstance = reports.map((r) => {
    const merged = r.rows.reduce((n, row) => n + Number(row.snapshots), 0);
    return { merged, cpuMs: r.cpuMs, firstAfterMs: r.firstBatchAt ? r.firstBatchAt - wall0 : NaN };
  });
  const seconds = (allAt - t0) / 1000;
  return {
    k,
    N,
    steadyRate: (N - lastWindowCount) / ((steadyAt - t0) / 1000),
    allRate: N / seconds,
    publishRate: N / ((publishedAt - t0) / 1000),
    seconds,
    perInstance,
    cpu: {
      machine: after.machine - before.machine,
      broker: after.broker - before.broker,
      self: (after.self.user + after.self.system) / 1e6,
      instances: perInstance.reduce((s, p) => s + p.cpuMs, 0) / 1000,
    },
    stored: rows.reduce((n, r) => n + Number(r.snapshots), 0),
    answers: answers(rows),
  };
}

async function main() {
  const startMs = Math.floor(Date.now() / MINUTE) * MINUTE - Math.ceil((ROUNDS * 10_000) / MINUTE + 2) * MINUTE;
  const sim = new FleetSimulator({
    hosts: HOSTS,
    seed: 7,
    startMs,
    intervalMs: 10_000,
    truth: false,
    ...(BUSY ? { poolSize: 16_384, flowsPerInterval: 8_192, packetsPerInterval: 200_000_000 } : {}),
  });
  const messages = [];
  for (let r = 0; r < ROUNDS; r++) messages.push(...sim.nextRound());
  const lastWindow = Math.max(...messages.map((m) => windowOf(m.intervalEndMs, MINUTE)));
  const lastWindowCount = messages.filter((m) => windowOf(m.intervalEndMs, MINUTE) === lastWindow).length;
  const avg = messages.reduce((s, m) => s + m.value.length, 0) / messages.length;
  console.log(`${fmt(messages.length)} snapshots of ${HOSTS} hosts (avg ${fmt(avg)} B), ${PARTITIONS} partitions`);

  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const results = [];
  for (const k of COUNTS) {
    const r = await runCount(k, messages, lastWindowCount, admin, producer);
    results.push(r);
    console.log(
      `${k} instance(s): ${fmt(r.steadyRate)} snapshots/s committed as the watermark passes, ${fmt(r.allRate)}/s until every offset (${r.seconds.toFixed(1)} s), publish ${fmt(r.publishRate)}/s`,
    );
  }
  await producer.disconnect();
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect();

  const base = results[0];
  const same = (r) => stable(r.answers) === stable(base.answers);
  console.log(
    `\nmachine: ${cpus().length} × ${cpus()[0].model}, Node ${process.versions.node}; ${fmt(base.N)} snapshots; the broker and the instances share these cores\n`,
  );
  console.log(
    '| instances | committed as the watermark passes, snapshots/s | vs 1 | until every offset, snapshots/s | vs 1 | publish, snapshots/s | per instance: snapshots merged, CPU µs per snapshot | CPU s: instances / broker / publisher / rest of the machine (cores busy) | stored | answers vs 1 |',
  );
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | --- |');
  for (const r of results) {
    const inst = r.perInstance.map((p) => `${fmt(p.merged)}: ${fmt((p.cpuMs * 1000) / p.merged)}`).join(', ');
    const rest = r.cpu.machine - r.cpu.instances - (r.cpu.broker || 0) - r.cpu.self;
    console.log(
      `| ${r.k} | ${fmt(r.steadyRate)} | ${(r.steadyRate / base.steadyRate).toFixed(2)} | ${fmt(r.allRate)} | ${(r.allRate / base.allRate).toFixed(2)} | ${fmt(r.publishRate)} | ${inst} | ${r.cpu.instances.toFixed(1)} / ${r.cpu.broker.toFixed(1)} / ${r.cpu.self.toFixed(1)} / ${rest.toFixed(1)} (${(r.cpu.machine / r.seconds).toFixed(2)}) | ${fmt(r.stored)} | ${r === base ? '(baseline)' : same(r) ? 'identical' : 'DIFFERENT'} |`,
    );
  }
  for (const r of results.slice(1))
    if (!same(r)) {
      for (let i = 0; i < Math.max(r.answers.length, base.answers.length); i++)
        if (stable(r.answers[i]) !== stable(base.answers[i]))
          console.log(`${r.k} instances, window ${i}: ${stable(r.answers[i])} vs ${stable(base.answers[i])}`);
      process.exitCode = 1;
    }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
