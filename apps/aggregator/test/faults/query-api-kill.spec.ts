// Fault: kill -9 of the query API process hosting the aggregator (`dist/main.js --with-aggregator`, single-machine
// mode: one process owns the embedded chDB directory) while snapshots stream in, three times at arbitrary moments,
// each time restarted on the same data directory. Ground truth: the fleet simulator's totals per
// 1 min window. Nothing lost, nothing counted twice; the time from each kill until the restarted process takes
// snapshots again is printed.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStorage, type Storage } from '@tma/storage';
import { snapshotTopic } from '@tma/schema';
import { FleetSimulator } from '@tma/fleet-sim';
import { committedToEnd, createTopics, deleteTopics, producer, uniquePrefix, waitFor } from '../support/kafka';
import {
  aggregatorEnv,
  buildDist,
  freePort,
  killRepeatedly,
  metricSum,
  OPEN_WINDOWS,
  overlappingOffsetRanges,
  QUERY_API,
  report,
  SHORT_SESSION,
  spawnNode,
  stopGracefully,
  streamRounds,
} from '../support/processes';
import { storedWindows, truthWindows } from '../support/test-bed';

jest.setTimeout(240_000);

const MINUTE = 60_000;
const prefix = uniquePrefix('fkapi');
const dataDir = mkdtempSync(join(tmpdir(), 'tma-fault-api-'));
const database = `tma_fkapi_${randomBytes(4).toString('hex')}`;
const sim = new FleetSimulator({
  hosts: 16,
  seed: 711,
  startMs: Math.floor(Date.now() / MINUTE) * MINUTE - 20 * MINUTE,
  intervalMs: 10_000,
});
let storage: Storage | undefined;

let port = 0;
const queryApi = () =>
  spawnNode(
    [QUERY_API, '--with-aggregator'],
    aggregatorEnv(
      { prefix, dataDir, database, partitions: 4 },
      {
        ...SHORT_SESSION,
        TMA_API_HOST: '127.0.0.1',
        TMA_API_PORT: String(port),
        TMA_API_AUTH: 'off',
        TMA_LOG_LEVEL: 'info',
      },
    ),
    /query API listening/,
  );

const base = () => `http://127.0.0.1:${port}`;

beforeAll(async () => {
  buildDist('apps/query-api');
  port = await freePort();
  await createTopics(prefix, 4);
});

afterAll(async () => {
  await storage?.close();
  rmSync(dataDir, { recursive: true, force: true });
  await deleteTopics(prefix);
});

it('kill -9 of the query API hosting the aggregator mid-stream, three times: 0 lost, 0 counted twice', async () => {
  const p = await producer();
  const topic = snapshotTopic(prefix);
  const stream = streamRounds(p, topic, sim, 48, 400);

  const {
    child: last,
    url,
    killedAt,
  } = await killRepeatedly('query API kill -9', 3, async () => {
    const child = queryApi();
    await child.ready;
    return { child, url: base() };
  });
  await stream;
  await p.disconnect();
  // Offsets are committed only after their rows are in ClickHouse: committed = end of log means all is written.
  await waitFor('every offset committed', () => committedToEnd(`${prefix}-group`, topic), 120_000, 500);
  report('query API kill -9', 'last kill to every offset committed', Date.now() - killedAt);
  expect(await metricSum(url, OPEN_WINDOWS)).toBe(0);
  // The API's answers per window equal the truth although the killed processes' provisional rows are still stored.
  const truth = truthWindows(sim);
  const from = truth[0][0];
  const to = truth[truth.length - 1][0] + MINUTE;
  const series = await waitFor('answers from the final rows only', async () => {
    const r = (await (await fetch(`${url}/v1/traffic/series?from=${from}&to=${to}&step=1m`)).json()) as {
      scope: { provisionalFrom: string | null };
      times: string[];
      total: { packets: number[]; bytes: number[] };
    };
    // The row index refreshes every second: wait until it lists every final row (a window may briefly be neither
    // provisional nor listed yet). Counting a provisional row twice would never reach the truth.
    const total = r.total.packets.reduce((n, x) => n + x, 0);
    return r.scope.provisionalFrom === null && total === sim.truth.totals().packets ? r : undefined;
  });
  expect(series.times.map((t, i) => [Date.parse(t), series.total.packets[i], series.total.bytes[i]])).toEqual(
    truth.map(([w, packets, bytes]) => [w, packets, bytes]),
  );
  await stopGracefully(last);

  storage = await createStorage({ kind: 'chdb', path: dataDir, database });
  expect(await storedWindows(storage)).toEqual(truth);
  expect(await overlappingOffsetRanges(storage)).toBe(0);
  const [provisional] = await storage.query<{ n: string }>('SELECT count() AS n FROM {database}.agg_provisional');
  process.stdout.write(`[fault] query API kill -9: ${provisional.n} provisional rows stored beside the final ones\n`);
});
