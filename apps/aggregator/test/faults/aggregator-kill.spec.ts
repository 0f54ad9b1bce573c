// Fault: kill -9 of the standalone aggregator process (dist/main.js) while snapshots stream in, three times at
// arbitrary moments, each time restarted on the same chDB directory. Ground truth: the fleet simulator's totals per
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
  AGGREGATOR,
  aggregatorEnv,
  buildDist,
  killRepeatedly,
  LOOPBACK_HTTP,
  metricSum,
  OPEN_WINDOWS,
  overlappingOffsetRanges,
  report,
  SHORT_SESSION,
  spawnNode,
  stopGracefully,
  streamRounds,
} from '../support/processes';
import { storedWindows, truthWindows } from '../support/test-bed';

jest.setTimeout(240_000);

const MINUTE = 60_000;
const prefix = uniquePrefix('fkagg');
const dataDir = mkdtempSync(join(tmpdir(), 'tma-fault-agg-'));
const database = `tma_fkagg_${randomBytes(4).toString('hex')}`;
const sim = new FleetSimulator({
  hosts: 16,
  seed: 711,
  startMs: Math.floor(Date.now() / MINUTE) * MINUTE - 20 * MINUTE,
  intervalMs: 10_000,
});
let storage: Storage | undefined;

const aggregator = () =>
  spawnNode(
    [AGGREGATOR],
    aggregatorEnv({ prefix, dataDir, database, partitions: 4 }, { ...SHORT_SESSION, ...LOOPBACK_HTTP }),
    /on (http:\/\/[\d.:]+)/,
  );

beforeAll(async () => {
  buildDist('apps/aggregator');
  await createTopics(prefix, 4);
});

afterAll(async () => {
  await storage?.close();
  rmSync(dataDir, { recursive: true, force: true });
  await deleteTopics(prefix);
});

it('kill -9 of the aggregator mid-stream, three times: 0 lost, 0 counted twice', async () => {
  const p = await producer();
  const topic = snapshotTopic(prefix);
  const stream = streamRounds(p, topic, sim, 48, 400);

  const {
    child: last,
    url,
    killedAt,
  } = await killRepeatedly('aggregator kill -9', 3, async () => {
    const child = aggregator();
    return { child, url: await child.ready };
  });
  await stream;
  await p.disconnect();
  // Offsets are committed only after their rows are in ClickHouse: committed = end of log means all is written.
  await waitFor('every offset committed', () => committedToEnd(`${prefix}-group`, topic), 120_000, 500);
  report('aggregator kill -9', 'last kill to every offset committed', Date.now() - killedAt);
  expect(await metricSum(url, OPEN_WINDOWS)).toBe(0);
  await stopGracefully(last);

  storage = await createStorage({ kind: 'chdb', path: dataDir, database });
  expect(await storedWindows(storage)).toEqual(truthWindows(sim));
  expect(await overlappingOffsetRanges(storage)).toBe(0);
});
