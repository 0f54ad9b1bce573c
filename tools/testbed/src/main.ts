#!/usr/bin/env node
// Testbed CLI: N hosts as network namespaces, an edge agent in each, synthetic traffic with exact ground truth.
//
//   node tools/testbed/dist/main.js --hosts 2 --interval 5s
//
// Every interval each host receives a fresh pcap (its own seed); cumulative ground truth per host is written beside
// the agent's state so anyone can compare what Kafka received with what was sent. Ctrl-C / SIGTERM stops the agents
// by PID and removes the namespaces.
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentProcess, defaultAgentMain } from './agents';
import { isExiting, onCleanup, runAll } from './cleanup';
import { defaultStateDir, Testbed } from './netns';
import { KafkaRelay } from './relay';
import { attacking, roundAttacks } from './scenario';
import { combineTruths, generateTraffic, type GroundTruth, writeTraffic } from './traffic';
import { SnapshotWatch } from './watch';
import { parseDuration } from '@tma/config';

export interface CliOptions {
  hosts: number;
  intervalMs: number;
  interval: string;
  hook?: 'tc' | 'xdp';
  flows: number;
  packets: number;
  zipf: number;
  pps?: number;
  durationMs?: number;
  agent: boolean;
  agentMain: string;
  agentArgs: string[];
  seed: number;
  keepPcaps: boolean;
  /** An agent killed by a signal (not by the testbed) is started again on its state directory instead of failing. */
  restartAgents: boolean;
  /** The demo's attack scenario (scenario.ts) instead of a small scan and flood in every round. */
  attacks: boolean;
}

const USAGE = `usage: testbed [--hosts N] [--interval 5s] [--hook tc|xdp] [--flows 2000] [--packets 20000] [--zipf 1.1]
               [--pps N] [--duration 60s] [--seed N] [--no-agent] [--agent PATH] [--agent-arg ARG]... [--keep-pcaps]
               [--restart-agents] [--attacks]`;

/** Integer flags: the option each sets and its range. */
const INTEGER_FLAGS = new Map<string, ['hosts' | 'flows' | 'packets' | 'pps' | 'seed', number, number]>([
  ['--hosts', ['hosts', 1, 250]],
  ['--flows', ['flows', 1, 1_000_000]],
  ['--packets', ['packets', 1, 50_000_000]],
  ['--pps', ['pps', 1, 100_000_000]],
  ['--seed', ['seed', 0, 2 ** 31]],
]);

export function parseArgs(argv: string[]): CliOptions {
  const o: CliOptions = {
    hosts: 2,
    intervalMs: 5000,
    interval: '5s',
    flows: 2000,
    packets: 20_000,
    zipf: 1.1,
    agent: true,
    agentMain: defaultAgentMain(),
    agentArgs: [],
    seed: Date.now() % 1_000_000,
    keepPcaps: false,
    restartAgents: false,
    attacks: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new RangeError(`${a} needs a value`);
      return v;
    };
    const integer = INTEGER_FLAGS.get(a);
    if (integer) {
      const [option, min, max] = integer;
      const v = next();
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max)
        throw new RangeError(`${a} needs an integer in ${min}..${max}, got ${v}`);
      o[option] = n;
      continue;
    }
    switch (a) {
      case '--interval':
        o.interval = next();
        o.intervalMs = parseDuration(o.interval);
        break;
      case '--hook': {
        const h = next();
        if (h !== 'tc' && h !== 'xdp') throw new RangeError(`--hook is tc or xdp, got ${h}`);
        o.hook = h;
        break;
      }
      case '--zipf':
        o.zipf = Number(next());
        if (!(o.zipf > 0)) throw new RangeError('--zipf must be > 0');
        break;
      case '--duration':
        o.durationMs = parseDuration(next());
        break;
      case '--no-agent':
        o.agent = false;
        break;
      case '--agent':
        o.agentMain = next();
        break;
      case '--agent-arg':
        o.agentArgs.push(next());
        break;
      case '--keep-pcaps':
        o.keepPcaps = true;
        break;
      case '--restart-agents':
        o.restartAgents = true;
        break;
      case '--attacks':
        o.attacks = true;
        break;
      case '-h':
      case '--help':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default:
        throw new RangeError(`unknown argument ${a}\n${USAGE}`);
    }
  }
  if (o.packets < o.flows) throw new RangeError(`--packets (${o.packets}) must be at least --flows (${o.flows})`);
  return o;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const tb = await Testbed.create({ hosts: o.hosts });
  const runDir = join(defaultStateDir(), 'testbed', `tma-${tb.id}`);
  const pcapDir = join(runDir, 'pcap');
  mkdirSync(pcapDir, { recursive: true });
  process.stdout.write(
    `testbed ${tb.id}: ${o.hosts} host(s) ${tb.hosts.map((h) => h.netns).join(', ')}; state in ${runDir}\n`,
  );

  const agents: AgentProcess[] = [];
  const truths: GroundTruth[][] = tb.hosts.map(() => []);
  const hostId = (i: number): string => `testbed-${tb.id}-h${i}`;
  let watch: SnapshotWatch | undefined;
  let startAgent: ((h: (typeof tb.hosts)[number]) => AgentProcess) | undefined;
  const received = (): string =>
    tb.hosts
      .map((h, i) => {
        const r = watch?.byHost.get(hostId(h.index));
        const sent = truths[i].reduce((a, t) => a + t.packets, 0);
        return `h${h.index} ${r?.snapshots ?? 0} snapshots, ${fmt(r?.packets ?? 0)} of ${fmt(sent)} pkts sent`;
      })
      .join(' | ');
  if (o.agent) {
    const brokers = process.env.TMA_KAFKA_BROKERS ?? '127.0.0.1:9092';
    await KafkaRelay.start(tb, brokers, join('/tmp', `tma-relay-${tb.id}`));
    // registered before the agents, so it is stopped after them and still sees their last snapshots
    watch = await SnapshotWatch.start(topicPrefix(o.agentArgs), `testbed-${tb.id}-`);
    onCleanup({
      name: 'snapshot watch',
      run: async () => {
        // the agents' last snapshots are on their way (a spool replayed after an outage may be long): wait until the
        // watch has read the whole topic and its counts hold still for 2 s (at most 60 s)
        let last = '';
        for (let waited = 0; waited < 60_000; waited += 2000) {
          const now = received();
          if (now === last && (await watch!.caughtUp().catch(() => false))) break;
          last = now;
          await sleep(2000);
        }
        process.stdout.write(`kafka, final: ${received()}\n`);
        await watch!.stop();
      },
      runSync: () => undefined,
    });
    startAgent = (h) =>
      AgentProcess.start(tb, h, {
        main: o.agentMain,
        interval: o.interval,
        hook: o.hook,
        hostId: hostId(h.index),
        stateDir: join(runDir, `h${h.index}`),
        extraArgs: o.agentArgs,
        env: { TMA_KAFKA_BROKERS: brokers },
      });
    for (const h of tb.hosts) {
      const agent = startAgent(h);
      agents.push(agent);
      process.stdout.write(`  agent ${agent.hostId} pid ${agent.pid} in ${h.netns} (log ${agent.log})\n`);
    }
    // traffic starts once every agent counts, so the ground truth is exactly what they should report
    await Promise.all(agents.map((a) => a.waitStarted()));
  }

  let failed: string | null = null;
  let finishing = false;
  const watchAgent = (a: AgentProcess, i: number): void => {
    void a.whenExited().then(() => {
      if (failed !== null || finishing || isExiting()) return;
      // --restart-agents: a kill from outside (the kill -9 fault case) restarts the agent on the same state
      // directory, at once and without holding the traffic back: what is sent meanwhile is in the ground truth
      if (o.restartAgents && a.exit?.signal) {
        const next = startAgent!(a.host);
        agents[i] = next;
        process.stdout.write(`  agent ${next.hostId} restarted pid ${next.pid} (was ${a.pid}, ${a.exit.signal})\n`);
        watchAgent(next, i);
        return;
      }
      failed = `agent ${a.hostId} exited (${JSON.stringify(a.exit)}); last log lines:\n${tail(a.log, 15)}`;
    });
  };
  agents.forEach(watchAgent);

  // SIGUSR2 ends the run after the current round, as if --duration had passed: a clean end (every packet sent is in
  // the ground truth) at a moment a caller chooses.
  let endRequested = false;
  process.on('SIGUSR2', () => {
    endRequested = true;
  });
  const started = Date.now();
  let underAttack = false;
  for (let round = 0; failed === null && !isExiting(); round++) {
    if (endRequested || (o.durationMs !== undefined && Date.now() - started >= o.durationMs)) break;
    const roundStart = Date.now();
    if (o.attacks && attacking(roundStart - started) !== underAttack) {
      underAttack = !underAttack;
      process.stdout.write(
        `[${new Date().toISOString()}] attack scenario: ${underAttack ? `port scan + SYN flood against h${tb.hosts[0].index}` : 'attack over, quiet traffic'}\n`,
      );
    }
    const results = await Promise.all(
      tb.hosts.map(async (h, i) => {
        const traffic = generateTraffic({
          seed: o.seed + round * o.hosts + i,
          flows: o.flows,
          packets: o.packets,
          zipf: o.zipf,
          ...(o.attacks ? roundAttacks(roundStart - started, i) : {}),
        });
        const files = writeTraffic(traffic, join(pcapDir, `h${h.index}-r${round}`));
        const replayStart = Date.now();
        const sent = await tb.replay(h, files.pcap, { pps: o.pps });
        const replayEnd = Date.now();
        if (!o.keepPcaps) rmSync(files.pcap, { force: true });
        // a replay cut short (tcpreplay stops early on the same Ctrl-C) sent less than its ground truth
        if (sent.packets !== traffic.truth.packets) {
          if (isExiting()) return { h, sent, total: combineTruths(truths[i].length ? truths[i] : [traffic.truth]) };
          throw new Error(
            `h${h.index}: tcpreplay sent ${sent.packets} of ${traffic.truth.packets} packets (${sent.failed} failed)`,
          );
        }
        truths[i].push(traffic.truth);
        const total = combineTruths(truths[i]);
        // each round's own truth and when its replay ran (wall clock, around tcpreplay), to tell which rounds an
        // agent can have missed; the cumulative truth is written after it
        appendFileSync(
          join(runDir, `h${h.index}.rounds.jsonl`),
          `${JSON.stringify({ round, startMs: replayStart, endMs: replayEnd, packets: traffic.truth.packets, bytes: traffic.truth.bytes })}\n`,
        );
        writeFileSync(join(runDir, `h${h.index}.truth.json`), `${JSON.stringify(total)}\n`);
        return { h, sent, total };
      }),
    );
    if (isExiting()) break;
    const line = results
      .map(
        ({ h, sent, total }) =>
          `h${h.index} +${fmt(sent.packets)} pkts @ ${fmt(sent.pps / 1000)} kpps (total ${fmt(total.packets)} pkts, ${fmt(total.distinct.flows)} flows)`,
      )
      .join(' | ');
    const alive = agents.length ? ` | agents ${agents.filter((a) => a.running).length}/${agents.length} up` : '';
    process.stdout.write(`[${new Date().toISOString()}] round ${round}: ${line}${alive}\n`);
    if (watch) process.stdout.write(`  kafka: ${received()}\n`);
    const wait = o.intervalMs - (Date.now() - roundStart);
    if (wait > 0) await sleep(wait);
  }
  if (isExiting()) return new Promise<number>(() => undefined); // the signal handler finishes and exits
  const failure: string | null = failed;
  finishing = true; // agents stopped from here on are stopped by us
  if (failure) process.stderr.write(`testbed: ${failure}\n`);
  await runAll();
  return failure ? 1 : 0;
}

/** The topic prefix the agents publish with: --agent-arg --topic-prefix P, else TMA_AGENT_TOPIC_PREFIX, else "tma". */
function topicPrefix(agentArgs: string[]): string {
  const i = agentArgs.indexOf('--topic-prefix');
  if (i >= 0 && agentArgs[i + 1]) return agentArgs[i + 1];
  const eq = agentArgs.find((a) => a.startsWith('--topic-prefix='));
  if (eq) return eq.slice('--topic-prefix='.length);
  return process.env.TMA_AGENT_TOPIC_PREFIX ?? 'tma';
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    async (err: Error) => {
      if (isExiting()) return; // a replay interrupted by the same Ctrl-C: the signal handler is cleaning up
      process.stderr.write(`testbed: ${err.message}\n`);
      await runAll();
      process.exit(1);
    },
  );
}
