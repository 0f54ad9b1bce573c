// Real processes for the fault-injection suite: the built aggregator or query API as a child on its own embedded
// chDB directory, its metrics over HTTP, a paced stream of simulated rounds, and the checks every case ends with.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import type { Producer } from 'kafkajs';
import type { FleetSimulator } from '@tma/fleet-sim';
import { sendMessages } from '@tma/fleet-sim';
import type { Storage } from '@tma/storage';
import { waitFor } from './kafka';

export const root = resolve(__dirname, '../../../..');
export const AGGREGATOR = join(root, 'apps/aggregator/dist/main.js');
export const QUERY_API = join(root, 'apps/query-api/dist/main.js');

export interface Child {
  proc: ChildProcess;
  /** Resolves with the first match of the ready pattern's group 1 in stdout (e.g. the HTTP base URL). */
  ready: Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: string[];
}

/** Brings the built entry points (dist/) up to date: incremental, fast when nothing changed. */
export function buildDist(...projects: string[]): void {
  execFileSync(join(root, 'node_modules/.bin/tsc'), ['-b', ...projects.map((p) => `${p}/tsconfig.json`)], {
    cwd: root,
    stdio: 'inherit',
  });
}

export function spawnNode(args: string[], env: NodeJS.ProcessEnv, readyPattern: RegExp): Child {
  const proc = spawn(join(root, 'node_modules/.bin/node'), args, {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  let seen = '';
  const ready = new Promise<string>((res, rej) => {
    proc.stdout!.on('data', (d: Buffer) => {
      output.push(d.toString());
      seen += d.toString();
      const m = readyPattern.exec(seen);
      if (m) res(m[1] ?? m[0]);
    });
    proc.once('exit', () => rej(new Error(`${args[0]} exited before it was ready:\n${output.join('')}`)));
  });
  ready.catch(() => undefined);
  proc.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    proc.once('exit', (code, signal) => res({ code, signal })),
  );
  return { proc, ready, exited, output };
}

/** SIGKILL and wait for the exit. */
export async function kill9(child: Child): Promise<void> {
  child.proc.kill('SIGKILL');
  const e = await child.exited;
  if (e.signal !== 'SIGKILL') throw new Error(`expected death by SIGKILL, got ${JSON.stringify(e)}`);
}

/** Environment of an aggregator child on `dataDir`/`database` and the topics under `prefix`, windows closing fast. */
export function aggregatorEnv(
  o: { prefix: string; dataDir: string; database: string; partitions: number },
  extra: NodeJS.ProcessEnv = {},
): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TMA_CHDB_PATH: o.dataDir,
    TMA_CLICKHOUSE_DATABASE: o.database,
    TMA_TOPIC_PREFIX: o.prefix,
    TMA_AGG_GROUP_ID: `${o.prefix}-group`,
    TMA_AGG_TOPIC_PARTITIONS: String(o.partitions),
    TMA_AGG_ALLOWED_LATENESS: '5s',
    TMA_AGG_IDLE_CLOSE: '1s',
    TMA_AGG_FLUSH_INTERVAL: '100ms',
    ...extra,
  };
}

/** A killed member keeps its partitions until its session expires: kill tests keep that short. */
export const SHORT_SESSION = { TMA_AGG_SESSION_TIMEOUT: '6s' };
/** The aggregator's HTTP endpoint on a free loopback port (its URL is logged as "on http://..."). */
export const LOOPBACK_HTTP = { TMA_AGG_HTTP_PORT: '0', TMA_AGG_HTTP_HOST: '127.0.0.1' };

/** SIGTERM and expect a clean exit. */
export async function stopGracefully(child: Child): Promise<void> {
  child.proc.kill('SIGTERM');
  const e = await child.exited;
  if (e.code !== 0) throw new Error(`exit ${JSON.stringify(e)}:\n${child.output.join('').slice(-4000)}`);
}

/** Sum of the samples of the lines matching `pattern` (group 1 = value) at `url`/metrics. */
export async function metricSum(url: string, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = pattern.exec(line);
    if (m) sum += Number(m[1]);
  }
  return sum;
}

/** Snapshots this process has taken from Kafka (merged, or skipped as already stored). */
export const SNAPSHOTS_TAKEN = /^tma_aggregator_snapshots_total\{outcome="(?:accepted|skipped)"[^}]*\} (\d+)/;
export const OPEN_WINDOWS = /^tma_aggregator_open_windows(?:\{[^}]*\})? (\d+)/;

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Sends rounds `from`..`to`-1 of the simulator, `gapMs` apart, in the background; resolves when all are acked. */
export async function streamRounds(p: Producer, topic: string, sim: FleetSimulator, rounds: number, gapMs: number) {
  for (let r = 0; r < rounds; r++) {
    await sendMessages(p, topic, sim.nextRound());
    await new Promise((res) => setTimeout(res, gapMs));
  }
}

/** Pairs of stored 1 min rows of one partition whose offset ranges overlap: a message merged twice. */
export async function overlappingOffsetRanges(storage: Storage): Promise<number> {
  const rows = await storage.query<{ n: string }>(
    `SELECT count() AS n FROM {database}.agg_partials AS a FINAL
     INNER JOIN (SELECT window_start, topic, partition, first_offset, last_offset FROM {database}.agg_partials FINAL WHERE tier = '1m') AS b
       ON a.window_start = b.window_start AND a.topic = b.topic AND a.partition = b.partition
     WHERE a.tier = '1m' AND a.first_offset < b.first_offset AND a.last_offset >= b.first_offset`,
  );
  return Number(rows[0].n);
}

/** One line per measured recovery, in a form the docs table copies. */
export function report(caseName: string, what: string, ms: number): void {
  process.stdout.write(`[fault] ${caseName}: ${what} ${(ms / 1000).toFixed(1)} s\n`);
}

/**
 * kill -9 of the process under test `kills` times at arbitrary moments while it takes snapshots, each time started
 * again by `start` (on the same data directory). Reports the time from each kill until the restarted process takes
 * snapshots; returns the last process (running) with its URL and the time of the last kill.
 */
export async function killRepeatedly(
  caseName: string,
  kills: number,
  start: () => Promise<{ child: Child; url: string }>,
): Promise<{ child: Child; url: string; killedAt: number }> {
  let killedAt: number | undefined;
  for (let kill = 1; ; kill++) {
    const { child, url } = await start();
    await waitFor('snapshots taken', async () => ((await metricSum(url, SNAPSHOTS_TAKEN)) > 0 ? true : undefined));
    if (killedAt !== undefined)
      report(caseName, `restart ${kill - 1}: kill to first snapshot taken`, Date.now() - killedAt);
    if (kill > kills) return { child, url, killedAt: killedAt ?? Date.now() };
    await new Promise((r) => setTimeout(r, 300 + Math.random() * 1500));
    killedAt = Date.now();
    await kill9(child);
  }
}
