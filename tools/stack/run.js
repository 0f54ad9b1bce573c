// The main job on one machine: Kafka, the edge agent on generated traffic, the aggregator + query API in one
// process on embedded ClickHouse, and the dashboard. Ctrl-C (or SIGTERM) stops everything this started, by PID.
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { localToken } = require('./local-token');

const root = path.resolve(__dirname, '../..');
const kafkaScript = path.join(root, 'infra/kafka/kafka.sh');
const children = [];
let startedKafka = false;
let stopping = false;

function log(msg) {
  process.stdout.write(`[tma] ${msg}\n`);
}

function kafka(cmd, stdio = 'inherit') {
  execFileSync('bash', [kafkaScript, cmd], { cwd: root, stdio });
}

// The broker this script starts (or reuses) listens on TMA_KAFKA_PORT, as in infra/kafka/kafka.sh.
const brokers = process.env.TMA_KAFKA_BROKERS ?? `127.0.0.1:${process.env.TMA_KAFKA_PORT ?? '9092'}`;

const token = process.env.TMA_API_TOKENS ? undefined : localToken('read');
// The admin token lets `./tma sql` reach POST /v1/sql while this stack holds the store.
const apiEnv = token ? { TMA_API_TOKENS: `local:${token},local-admin:${localToken('admin')}:admin` } : {};
// The address the query API listens on (its TMA_API_HOST / TMA_API_PORT, defaults as in apps/query-api config).
const api = `http://${process.env.TMA_API_HOST ?? '127.0.0.1'}:${process.env.TMA_API_PORT ?? '8080'}`;
const dashboard = `${api}/dashboard/${token ? `#token=${token}` : ''}`;

const USAGE = `usage: ./tma start [--no-demo]
  Starts Kafka, an edge agent on this machine's own interfaces (as root), the aggregator and the query API with the
  dashboard, and two demo hosts with generated traffic in network namespaces (after six quiet minutes, a port scan
  and a SYN flood against the first demo host for two minutes every ten). --no-demo leaves the demo hosts out:
  a real single-node installation of this machine.`;
const argv = process.argv.slice(2);
if (argv.includes('--help')) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
for (const a of argv) {
  if (a !== '--no-demo') {
    process.stderr.write(`tma start: unknown argument ${a}\n${USAGE}\n`);
    process.exit(2);
  }
}
const demo = !argv.includes('--no-demo');
const isRoot = process.getuid?.() === 0;

/** Components of the single-machine stack, in start order. Each is a Node entry point built by `tsc -b`. */
const components = [
  // This machine's own traffic, under its hostname (the agent's default host id), on every interface that is up.
  isRoot && {
    name: 'edge agent on this machine',
    entry: 'apps/edge-agent/dist/main.js',
    args: ['--interval', '5s'],
  },
  demo && {
    name: 'demo hosts: edge agents + traffic testbed',
    entry: 'tools/testbed/dist/main.js',
    args: ['--hosts', '2', '--interval', '5s', '--attacks'],
  },
  {
    name: 'aggregator + query API (embedded ClickHouse)',
    entry: 'apps/query-api/dist/main.js',
    args: ['--with-aggregator'],
    env: apiEnv,
    urls: [`${dashboard} (dashboard)`, `${api}/docs (REST API)`, `${api}/graphql`],
  },
].filter(Boolean);

function start(component) {
  const entry = path.join(root, component.entry);
  if (!fs.existsSync(entry)) {
    log(`${component.name}: not part of this build yet (${component.entry} missing)`);
    return;
  }
  log(`starting ${component.name}`);
  const child = spawn(process.execPath, [entry, ...component.args], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, TMA_KAFKA_BROKERS: brokers, ...component.env },
  });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      log(`${component.name} exited (${signal ?? code}); stopping the stack`);
      stop(1);
    }
  });
  children.push(child);
  for (const url of component.urls ?? []) log(`  ${url}`);
}

async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  log('stopping');
  await Promise.all(
    children.map(
      (child) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
  if (startedKafka) kafka('stop');
  log('stopped; nothing left running');
  process.exit(code);
}

process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

try {
  kafka('status', 'pipe');
  log('reusing the Kafka broker already running');
} catch {
  kafka('start');
  startedKafka = true;
}
if (!isRoot) log('not root: no edge agent on this machine (loading eBPF needs root or CAP_BPF + CAP_NET_ADMIN)');
for (const c of components) start(c);
if (children.length === 0) log('Kafka is up; no apps are built yet. Ctrl-C stops it.');
log('running; press Ctrl-C to stop');
setInterval(() => undefined, 1 << 30);
