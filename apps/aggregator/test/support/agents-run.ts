// Fault cases with real edge agents: the testbed (tools/testbed) runs hosts in network namespaces, an agent (eBPF)
// on each, and replays traffic whose ground truth it writes per host. What those cases share: the requirements
// (root, the testbed's tools), the build, the testbed child, the ground truth, the agents' own logs and spools.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './kafka';
import { buildDist, root, spawnNode, type Child } from './processes';

const TOOLS = ['ip', 'nsenter', 'tcpreplay', 'ethtool'];

/** Why agent cases cannot run here (empty: they can); TMA_FAULT_AGENTS=0 skips them. */
export function agentsUnavailable(): string[] {
  const why: string[] = [];
  if (process.env.TMA_FAULT_AGENTS === '0') why.push('TMA_FAULT_AGENTS=0');
  if (process.getuid?.() !== 0) why.push('needs root (network namespaces, BPF)');
  for (const t of TOOLS) {
    try {
      execFileSync('which', [t], { stdio: 'ignore' });
    } catch {
      why.push(`missing tool ${t}`);
    }
  }
  return why;
}

/** The kernel programs, the aggregator, the agent and the testbed, built. */
export function buildForAgents(): void {
  execFileSync('make', ['-s', '-C', join(root, 'bpf')], { stdio: 'inherit' });
  buildDist('apps/aggregator', 'apps/edge-agent', 'tools/testbed');
}

export interface AgentsRun {
  testbed: Child;
  /** The testbed's run directory (ground truth per host, each agent's state and log); known once it started. */
  runDir(): string;
}

/**
 * Starts the testbed: `hosts` agents publishing to `brokers` under `prefix` every `interval`, traffic for
 * `durationS` seconds; resolves once the first round was replayed (the agents count from there).
 */
export async function startAgents(o: {
  prefix: string;
  brokers: string;
  stateDir: string;
  hosts: number;
  durationS: number;
  interval?: string;
  /** More testbed flags, e.g. --restart-agents. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
}): Promise<AgentsRun> {
  const testbed = spawnNode(
    [
      join(root, 'tools/testbed/dist/main.js'),
      ...['--hosts', String(o.hosts), '--interval', o.interval ?? '2s', '--duration', `${o.durationS}s`],
      ...(o.args ?? []),
    ],
    {
      ...process.env,
      TMA_KAFKA_BROKERS: o.brokers,
      TMA_AGENT_TOPIC_PREFIX: o.prefix,
      TMA_STATE_DIR: o.stateDir,
      ...o.env,
    },
    /round 0:/,
  );
  await testbed.ready;
  return {
    testbed,
    runDir() {
      const runs = readdirSync(join(o.stateDir, 'testbed')).filter((d) => d.startsWith('tma-'));
      if (runs.length !== 1) throw new Error(`expected one testbed run in ${o.stateDir}, found ${runs.join(', ')}`);
      return join(o.stateDir, 'testbed', runs[0]);
    },
  };
}

/**
 * Waits until every agent's backlog is delivered (at most the snapshot of the current interval left in each spool),
 * then lets the traffic go on for `afterMs` and ends the testbed's run after its current round (SIGUSR2: every
 * packet sent is in the ground truth). Resolves with the time the backlogs took, from the call.
 */
export async function endWhenDelivered(run: AgentsRun, spoolDirs: string[], afterMs: number): Promise<number> {
  const t0 = Date.now();
  await waitFor(
    "the agents' spooled snapshots delivered",
    async () => (spoolDirs.every((d) => spooled(d) <= 1) ? true : undefined),
    180_000,
    200,
  );
  const took = Date.now() - t0;
  await new Promise((r) => setTimeout(r, afterMs));
  run.testbed.proc.kill('SIGUSR2');
  return took;
}

/** Waits for the testbed to finish its rounds and stop its agents; throws with its output when it failed. */
export async function finished(run: AgentsRun): Promise<void> {
  const exit = await run.testbed.exited;
  if (exit.code !== 0)
    throw new Error(`testbed exited ${JSON.stringify(exit)}:\n${run.testbed.output.join('').slice(-4000)}`);
}

/** Packets and bytes the testbed replayed, over every host (its ground truth files). */
export function groundTruth(runDir: string): { packets: number; bytes: number } {
  const truth = { packets: 0, bytes: 0 };
  for (const f of readdirSync(runDir).filter((n) => n.endsWith('.truth.json'))) {
    const t = JSON.parse(readFileSync(join(runDir, f), 'utf8')) as { packets: number; bytes: number };
    truth.packets += t.packets;
    truth.bytes += t.bytes;
  }
  return truth;
}

/** The JSON events of host `h`'s agent log (one object per line, `event` naming it). */
export function agentEvents(runDir: string, h: number): Record<string, unknown>[] {
  const log = join(runDir, `h${h}`, 'agent.log');
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The last `n` lines of host `h`'s agent log, for failure messages. */
export function agentLogTail(runDir: string, h: number, n = 40): string {
  const log = join(runDir, `h${h}`, 'agent.log');
  return existsSync(log) ? readFileSync(log, 'utf8').trimEnd().split('\n').slice(-n).join('\n') : '(no log)';
}

/** Snapshots still in an agent's spool directory (not acknowledged by Kafka when it stopped). */
export function spooled(spoolDir: string): number {
  return existsSync(spoolDir) ? readdirSync(spoolDir).filter((n) => n.endsWith('.snap')).length : 0;
}

/** The spool directory of host `h`'s agent under the testbed (the agent's default: state dir/edge-agent/host id). */
export function defaultSpoolDir(runDir: string, h: number): string {
  const base = join(runDir, `h${h}`, 'edge-agent');
  if (!existsSync(base)) return base;
  const [hostDir] = readdirSync(base);
  return hostDir ? join(base, hostDir) : base;
}

/** Removes a case's testbed state, or keeps it (agent logs, spools, ground truth) when TMA_FAULT_KEEP_STATE=1. */
export function keepOrRemove(stateDir: string): void {
  if (process.env.TMA_FAULT_KEEP_STATE === '1') process.stdout.write(`testbed state kept in ${stateDir}\n`);
  else rmSync(stateDir, { recursive: true, force: true });
}
