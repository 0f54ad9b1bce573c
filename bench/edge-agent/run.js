#!/usr/bin/env node
// Edge agent user-space cost: CPU (share of one core) and RSS of the agent process at 1 s and 10 s intervals, side
// by side under the same steady UDP load on a veth pair in a namespace this script creates and removes, plus the
// per-interval read time (flip + barrier + read + sum + clear) and snapshot size from the agent's own logs.
// Usage (root, after ./tma setup): node bench/edge-agent/run.js [--seconds 60] [--warmup 30] [--rate 20000] [--flows 2000]
// Publishes to Kafka (TMA_KAFKA_BROKERS, default 127.0.0.1:9092) with topic prefix tma-bench; --stdout to skip Kafka.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const MAIN = path.join(ROOT, 'apps', 'edge-agent', 'dist', 'main.js');
// the kernel tests' UDP sender, in its steady-load mode
const UDP_SENDER = path.join(ROOT, 'libs', 'kernel', 'src', 'testing', 'udp-sender.py');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const SECONDS = Number(arg('seconds', '60'));
const WARMUP = Number(arg('warmup', '30')); // JIT warm-up: the first snapshots cost more
const RATE = Number(arg('rate', '20000'));
const FLOWS = Number(arg('flows', '2000'));
const STDOUT = process.argv.includes('--stdout');
const sh = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} missing: build with npx tsc -b apps/edge-agent`);
const id = crypto.randomBytes(3).toString('hex');
const octet = 1 + (crypto.randomBytes(1)[0] % 250);
const NS = `tma-ea-b${id}`;
const OUT = `eab${id}o`;
const IN = `eab${id}i`;
const OUTER = `198.18.${octet}.1`;
const INNER = `198.18.${octet}.2`;

function setup() {
  sh('ip', ['netns', 'add', NS]);
  sh('ip', ['link', 'add', OUT, 'type', 'veth', 'peer', 'name', IN]);
  sh('ip', ['link', 'set', IN, 'netns', NS]);
  sh('sysctl', ['-qw', `net.ipv6.conf.${OUT}.disable_ipv6=1`]);
  sh('ip', ['addr', 'add', `${OUTER}/32`, 'dev', OUT]);
  sh('ip', ['link', 'set', OUT, 'up']);
  const inNs = (...a) => sh('ip', ['netns', 'exec', NS, ...a]);
  inNs('sysctl', '-qw', `net.ipv6.conf.${IN}.disable_ipv6=1`);
  inNs('ip', 'addr', 'add', `${INNER}/24`, 'dev', IN);
  inNs('ip', 'link', 'set', IN, 'up');
  const mac = fs.readFileSync(`/sys/class/net/${OUT}/address`, 'utf8').trim();
  inNs('ip', 'neigh', 'replace', OUTER, 'lladdr', mac, 'dev', IN, 'nud', 'permanent');
  // no ICMP errors back: drop the load after the hooks counted it (local delivery to a closed port would answer)
  sh('ip', ['addr', 'del', `${OUTER}/32`, 'dev', OUT]);
  sh('sysctl', ['-qw', `net.ipv4.conf.${OUT}.forwarding=0`]);
}
function teardown() {
  try {
    sh('ip', ['netns', 'del', NS]);
  } catch {}
  try {
    sh('ip', ['link', 'del', OUT]);
  } catch {}
}

// CPU time from the scheduler (ns on CPU, summed over the agent's threads). Not /proc/<pid>/stat: its tick-sampled
// utime/stime charge a whole tick to a process whose timers fire on the tick, overstating an idle agent ~3x here.
function cpuNs(pid) {
  let ns = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {}
  }
  return ns;
}
const statusKiB = (pid, field) =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

async function measure(interval) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tma-ea-bench-'));
  const args = [
    MAIN,
    '--interfaces',
    OUT,
    '--interval',
    interval,
    '--host-id',
    `bench-${id}`,
    '--spool-dir',
    dir,
    '--metrics-port',
    '0',
    '--topic-prefix',
    'tma-bench',
  ];
  if (STDOUT) args.push('--stdout');
  const agent = spawn(process.execPath, args, { stdio: ['ignore', STDOUT ? 'ignore' : 'ignore', 'pipe'] });
  let log = '';
  agent.stderr.on('data', (d) => (log += d));
  while (!log.includes('agent_started')) {
    if (agent.exitCode !== null) throw new Error(`agent exited: ${log}`);
    await sleep(50);
  }
  const sender = spawn(
    'ip',
    [
      'netns',
      'exec',
      NS,
      'python3',
      UDP_SENDER,
      'steady',
      OUTER,
      String(RATE),
      String(SECONDS + WARMUP + 2),
      String(FLOWS),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let sent = '';
  sender.stdout.on('data', (d) => (sent += d));
  await sleep(WARMUP * 1000);
  const measureFrom = Date.now();
  const c0 = cpuNs(agent.pid);
  const t0 = process.hrtime.bigint();
  let rssMax = 0;
  let anonMax = 0;
  for (let s = 0; s < SECONDS; s++) {
    await sleep(1000);
    rssMax = Math.max(rssMax, statusKiB(agent.pid, 'VmRSS'));
    anonMax = Math.max(anonMax, statusKiB(agent.pid, 'RssAnon')); // private memory; the rest is the shared node binary
  }
  const c1 = cpuNs(agent.pid);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  await new Promise((r) => sender.on('exit', r));
  agent.kill('SIGTERM');
  await new Promise((r) => agent.on('exit', r));
  fs.rmSync(dir, { recursive: true, force: true });
  // full intervals after the warm-up only
  const snaps = log
    .split('\n')
    .filter((l) => l.includes('"event":"snapshot"'))
    .map((l) => JSON.parse(l))
    .filter((s) => Date.parse(s.ts) >= measureFrom)
    .slice(0, -1);
  const mean = (f) => (snaps.length ? snaps.reduce((a, s) => a + f(s), 0) / snaps.length : NaN);
  const failed = log.split('\n').filter((l) => l.includes('publish_failed')).length;
  return {
    interval,
    cpuPct: (100 * (c1 - c0)) / 1e9 / wall,
    rssMiB: rssMax / 1024,
    anonMiB: anonMax / 1024,
    readMs: mean((s) => s.readMs),
    barrierMs: mean((s) => s.barrierMs),
    msgKiB: mean((s) => s.messageBytes) / 1024,
    pktsPerSnap: mean((s) => s.packets),
    snapshots: snaps.length,
    readCpuMs: mean((s) => s.readCpuMs),
    buildCpuMs: mean((s) => s.buildCpuMs),
    sent: Number(sent.trim()),
    failed,
  };
}

(async () => {
  process.on('SIGINT', () => {
    teardown();
    process.exit(130);
  });
  setup();
  try {
    const rows = [];
    for (const interval of ['10s', '1s']) rows.push(await measure(interval));
    console.log(
      `machine: ${os.cpus().length} CPU ${os.cpus()[0].model}, kernel ${os.release()}, node ${process.version}`,
    );
    console.log(
      `load: ${RATE} pps UDP over ${FLOWS} flows, ${SECONDS} s measured after ${WARMUP} s warm-up, ${STDOUT ? 'stdout' : 'Kafka'} output`,
    );
    console.log(
      'interval  cpu%core  rssMiB (anon)  read wall ms (barrier)  read cpu ms  build cpu ms  snapshot KiB  packets/snapshot  publish failures',
    );
    for (const r of rows)
      console.log(
        `${r.interval.padEnd(8)}  ${r.cpuPct.toFixed(3).padStart(8)}  ${r.rssMiB.toFixed(1).padStart(6)} (${r.anonMiB.toFixed(1).padStart(5)})  ${r.readMs.toFixed(2).padStart(9)} (${r.barrierMs.toFixed(2).padStart(5)})     ${r.readCpuMs.toFixed(1).padStart(8)}  ${r.buildCpuMs.toFixed(1).padStart(11)}  ${r.msgKiB.toFixed(1).padStart(12)}  ${String(Math.round(r.pktsPerSnap)).padStart(16)}  ${String(r.failed).padStart(16)}`,
      );
    console.log(
      `ratio cpu 1s/10s: ${(rows[1].cpuPct / rows[0].cpuPct).toFixed(2)}; goal at 10s: <= 0.5 % of a core, RSS <= 100 MiB`,
    );
  } finally {
    teardown();
  }
})().catch((e) => {
  teardown();
  console.error(e);
  process.exit(1);
});
