// kill -9 of the aggregator mid-stream, then a restart: the same totals, nothing counted twice. The aggregator runs
// as a child process (dist/main.js) on its own embedded chDB directory; first on a faulty storage
// (support/kill-after-writes.js) that SIGKILLs it right after a ClickHouse write and before the Kafka commit — the
// worst moment — then a second, plain kill -9 hits the
// restarted process at an arbitrary moment. The test reads ClickHouse only after the child has exited (one process
// per chDB directory).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createStorage, type Storage } from '@tma/storage';
import { snapshotTopic } from '@tma/schema';
import { FleetSimulator, sendMessages } from '@tma/fleet-sim';
import { committedToEnd, createTopics, deleteTopics, producer, uniquePrefix, waitFor } from './support/kafka';
import { aggregatorEnv, LOOPBACK_HTTP, metricSum, SHORT_SESSION } from './support/processes';
import { storedWindows, truthWindows } from './support/test-bed';

jest.setTimeout(300_000);

const root = resolve(__dirname, '../../..');
const MINUTE = 60_000;
const T0 = Math.floor(Date.now() / MINUTE) * MINUTE - 30 * MINUTE;
const prefix = uniquePrefix('crash');
const dataDir = mkdtempSync(join(tmpdir(), 'tma-crash-'));
const database = `tma_crash_${randomBytes(4).toString('hex')}`;
const sim = new FleetSimulator({ hosts: 24, seed: 303, startMs: T0, intervalMs: 10_000 });

interface Child {
  proc: ChildProcess;
  url: Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: string[];
}

/** The built aggregator (dist/main.js), or a test entry point given with its arguments. */
function runAggregator(entry: string[] = [join(root, 'apps/aggregator/dist/main.js')]): Child {
  const proc = spawn(join(root, 'node_modules/.bin/node'), entry, {
    cwd: root,
    env: aggregatorEnv({ prefix, dataDir, database, partitions: 4 }, { ...SHORT_SESSION, ...LOOPBACK_HTTP }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const url = new Promise<string>((res, rej) => {
    proc.stdout!.on('data', (d: Buffer) => {
      output.push(d.toString());
      const m = /on (http:\/\/[\d.:]+)/.exec(d.toString());
      if (m) res(m[1]);
    });
    proc.once('exit', () => rej(new Error(`aggregator exited before listening:\n${output.join('')}`)));
  });
  url.catch(() => undefined);
  proc.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    proc.once('exit', (code, signal) => res({ code, signal })),
  );
  return { proc, url, exited, output };
}

let storage: Storage | undefined;

beforeAll(async () => {
  // The child runs the built aggregator: bring dist/ up to date (incremental, fast when nothing changed).
  execFileSync(join(root, 'node_modules/.bin/tsc'), ['-b', 'apps/aggregator/tsconfig.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  await createTopics(prefix, 4);
});

afterAll(async () => {
  await storage?.close();
  rmSync(dataDir, { recursive: true, force: true });
  await deleteTopics(prefix);
});

it('after kill -9 mid-stream and restarts, totals equal the ground truth and nothing is counted twice', async () => {
  const p = await producer();
  const topic = snapshotTopic(prefix);
  for (let r = 0; r < 9; r++) await sendMessages(p, topic, sim.nextRound());

  // 1: killed by SIGKILL right after its second write, before committing it.
  const first = runAggregator([join(__dirname, 'support/kill-after-writes.js'), '2']);
  const died = await first.exited;
  expect(died.signal).toBe('SIGKILL');
  expect(first.output.join('')).toMatch(/fault injection: SIGKILL after write 2/);

  // 2: restarted; more traffic arrives; kill -9 from outside at an arbitrary moment mid-stream.
  const second = runAggregator();
  const url2 = await second.url;
  for (let r = 9; r < 15; r++) await sendMessages(p, topic, sim.nextRound());
  await waitFor('restarted aggregator skipping stored rows', async () =>
    (await metricSum(url2, /^tma_aggregator_snapshots_total\{outcome="skipped"[^}]*\} (\d+)/)) > 0 ? true : undefined,
  );
  second.proc.kill('SIGKILL');
  expect((await second.exited).signal).toBe('SIGKILL');

  // 3: restarted again; the rest of the stream; graceful stop once everything is read and written.
  const third = runAggregator();
  const url3 = await third.url;
  for (let r = 15; r < 18; r++) await sendMessages(p, topic, sim.nextRound());
  await p.disconnect();
  // Offsets are committed only after their rows are in ClickHouse: committed = end of log means all is written.
  await waitFor('every offset committed', () => committedToEnd(`${prefix}-group`, topic), 120_000, 500);
  expect(await metricSum(url3, /^tma_aggregator_open_windows\{[^}]*\} (\d+)/)).toBe(0);
  third.proc.kill('SIGTERM');
  expect((await third.exited).code).toBe(0);

  storage = await createStorage({ kind: 'chdb', path: dataDir, database });
  expect(await storedWindows(storage)).toEqual(truthWindows(sim));
  // Offset ranges of one partition's rows never overlap within a window: no message merged twice.
  const overlaps = await storage.query<{ n: string }>(
    `SELECT count() AS n FROM {database}.agg_partials AS a FINAL
     INNER JOIN (SELECT window_start, topic, partition, first_offset, last_offset FROM {database}.agg_partials FINAL WHERE tier = '1m') AS b
       ON a.window_start = b.window_start AND a.topic = b.topic AND a.partition = b.partition
     WHERE a.tier = '1m' AND a.first_offset < b.first_offset AND a.last_offset >= b.first_offset`,
  );
  expect(Number(overlaps[0].n)).toBe(0);
});
