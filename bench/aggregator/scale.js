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
const { randomBytes } = require('node:crypto');
const { cpus } = require('node:os');
const path = require('node:path');
const {
  benchSetup,
  root,
  fleetFlags,
  fleetMessages,
  benchKafka,
  publish,
  committedSum,
  aggregatorEnv,
  answers,
  answerDiff,
  stable,
  fmt,
  sleep,
} = require('./setup');

const args = benchSetup(['apps/aggregator/tsconfig.json', 'tools/fleet-sim/tsconfig.json']);
const COUNTS = String(args.instances ?? '1,2,3')
  .split(',')
  .map(Number);
const { busy: BUSY, hosts: HOSTS, rounds: ROUNDS, partitions: PARTITIONS } = fleetFlags(args, 24);

const { ensureTopics } = require('@tma/kafka');
const { snapshotTopic, deadLetterTopic } = require('@tma/schema');

const kafka = benchKafka('tma-bench-scale');
const log = (s) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const TICK = 100; // clock ticks per second in /proc
const topics = []; // deleted at the end

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

async function runCount(k, messages, lastWindowCount, admin, producer) {
  const prefix = `scale${randomBytes(3).toString('hex')}`;
  const topic = snapshotTopic(prefix);
  const groupId = `${prefix}-agg`;
  await ensureTopics(admin, [
    { topic, numPartitions: PARTITIONS },
    { topic: deadLetterTopic(prefix), numPartitions: 1 },
  ]);
  const env = aggregatorEnv(prefix, PARTITIONS);
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
  const publishing = publish(producer, topic, messages, PARTITIONS).then(() => performance.now());
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
  const { messages, lastWindowCount, avgBytes: avg } = fleetMessages({ hosts: HOSTS, rounds: ROUNDS, busy: BUSY });
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
  const rowCount = (r) => r.answers.reduce((n, a) => n + a.partials, 0);
  const same = (r) =>
    r.answers.length === base.answers.length &&
    r.answers.every((a, i) => stable(a.digest) === stable(base.answers[i].digest));
  console.log(
    `\nmachine: ${cpus().length} × ${cpus()[0].model}, Node ${process.versions.node}; ${fmt(base.N)} snapshots; the broker and the instances share these cores\n`,
  );
  console.log(
    '| instances | committed as the watermark passes, snapshots/s | vs 1 | until every offset, snapshots/s | vs 1 | publish, snapshots/s | per instance: snapshots merged, CPU µs per snapshot (cores used) | CPU s: instances / broker / publisher / rest of the machine (cores busy) | stored | answers vs 1 |',
  );
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | --- |');
  for (const r of results) {
    const inst = r.perInstance
      .map(
        (p) =>
          `${fmt(p.merged)}: ${fmt((p.cpuMs * 1000) / p.merged)} (${(p.cpuMs / 1000 / r.seconds).toFixed(2)} cores)`,
      )
      .join(', ');
    const rest = r.cpu.machine - r.cpu.instances - (r.cpu.broker || 0) - r.cpu.self;
    console.log(
      `| ${r.k} | ${fmt(r.steadyRate)} | ${(r.steadyRate / base.steadyRate).toFixed(2)} | ${fmt(r.allRate)} | ${(r.allRate / base.allRate).toFixed(2)} | ${fmt(r.publishRate)} | ${inst} | ${r.cpu.instances.toFixed(1)} / ${r.cpu.broker.toFixed(1)} / ${r.cpu.self.toFixed(1)} / ${rest.toFixed(1)} (${(r.cpu.machine / r.seconds).toFixed(2)}) | ${fmt(r.stored)} | ${r === base ? `(baseline; ${rowCount(r)} partial rows)` : same(r) ? `identical (${rowCount(r)} partial rows)` : 'DIFFERENT'} |`,
    );
  }
  for (const r of results.slice(1))
    if (!same(r)) {
      for (let i = 0; i < Math.max(r.answers.length, base.answers.length); i++) {
        const [a, b] = [r.answers[i], base.answers[i]];
        if (!a || !b) console.log(`${r.k} instances, window ${i}: present in one run only`);
        else if (stable(a.digest) !== stable(b.digest))
          console.log(`${r.k} instances, window ${i} (${a.window}): ${answerDiff(a, b)}`);
      }
      process.exitCode = 1;
    }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
