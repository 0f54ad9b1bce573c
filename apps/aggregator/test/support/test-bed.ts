// What every in-process aggregator test sets up: a fleet simulator with recent event times (older rows would be
// past their retention and dropped on insert), unique topics, a fresh embedded-chDB database, and the aggregator
// instances it started — all removed after the file's tests.
import { FleetSimulator } from '@tma/fleet-sim';
import type { QueryParams, Storage } from '@tma/storage';
import { openTestStore, type TestStore } from '@tma/storage/testing';
import { startAggregator, type AggregatorHandle, type StartAggregatorOptions } from '../../src/start';
import { createTopics, deleteTopics, uniquePrefix, waitFor } from './kafka';

const MINUTE = 60_000;

export interface TestBedOptions {
  name: string;
  partitions: number;
  hosts: number;
  seed: number;
  /** The first simulated interval starts this long before now (whole minutes). */
  minutesAgo: number;
}

export interface TestBed {
  readonly prefix: string;
  readonly startMs: number;
  readonly sim: FleetSimulator;
  readonly store: TestStore;
  /** Settings for an instance on this bed: short lateness, idle close, flush interval and rollup delay. */
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  /** Starts an instance on the bed's storage (unless `storage` is given); closed after the tests. */
  start(options?: StartAggregatorOptions): Promise<AggregatorHandle>;
  /** Closes one instance now. */
  close(handle: AggregatorHandle): Promise<void>;
  query<T>(sql: string, params?: QueryParams): Promise<T[]>;
}

export function useTestBed(o: TestBedOptions): TestBed {
  const prefix = uniquePrefix(o.name);
  const startMs = Math.floor(Date.now() / MINUTE) * MINUTE - o.minutesAgo * MINUTE;
  const sim = new FleetSimulator({ hosts: o.hosts, seed: o.seed, startMs, intervalMs: 10_000 });
  const handles: AggregatorHandle[] = [];
  let store: TestStore | undefined;

  beforeAll(async () => {
    store = await openTestStore(o.name);
    await createTopics(prefix, o.partitions);
  });

  afterAll(async () => {
    for (const h of handles) await h.close().catch(() => undefined);
    await store?.close();
    await deleteTopics(prefix);
  });

  const bed: TestBed = {
    prefix,
    startMs,
    sim,
    get store() {
      if (!store) throw new Error('the test bed opens its store in beforeAll');
      return store;
    },
    env: (extra = {}) => ({
      ...process.env,
      TMA_TOPIC_PREFIX: prefix,
      TMA_AGG_GROUP_ID: `${prefix}-group`,
      TMA_AGG_TOPIC_PARTITIONS: String(o.partitions),
      TMA_AGG_ALLOWED_LATENESS: '5s',
      TMA_AGG_IDLE_CLOSE: '1s',
      TMA_AGG_FLUSH_INTERVAL: '200ms',
      TMA_AGG_ROLLUP_DELAY: '500ms',
      ...extra,
    }),
    async start(options = {}) {
      const h = await startAggregator({ env: bed.env(), storage: bed.store.storage, ...options });
      handles.push(h);
      return h;
    },
    async close(handle) {
      handles.splice(handles.indexOf(handle), 1);
      await handle.close();
    },
    query: <T>(sql: string, params: QueryParams = {}) => bed.store.storage.query<T>(sql, params),
  };
  return bed;
}

/** Sums over every 1 min partial row (FINAL: each row once). */
export async function storedTotals(storage: Storage): Promise<{ packets: number; bytes: number; snapshots: number }> {
  const [t] = await storage.query<{ packets: string; bytes: string; snapshots: string }>(
    `SELECT sum(packets) AS packets, sum(bytes) AS bytes, sum(snapshots) AS snapshots
     FROM {database}.agg_partials FINAL WHERE tier = '1m'`,
  );
  return { packets: Number(t.packets), bytes: Number(t.bytes), snapshots: Number(t.snapshots) };
}

/** Waits until the 1 min partial rows hold at least `snapshots` snapshots. */
export async function waitUntilStored(storage: Storage, snapshots: number, timeoutMs?: number): Promise<void> {
  await waitFor(
    'every snapshot stored',
    async () => ((await storedTotals(storage)).snapshots >= snapshots ? true : undefined),
    timeoutMs,
  );
}

/** [window start, packets, bytes, snapshots] per 1 min window as stored, in window order. */
export async function storedWindows(storage: Storage): Promise<number[][]> {
  const rows = await storage.query<{ ws: string; packets: string; bytes: string; snapshots: string }>(
    `SELECT toUnixTimestamp(window_start) * 1000 AS ws, sum(packets) AS packets, sum(bytes) AS bytes, sum(snapshots) AS snapshots
     FROM {database}.agg_partials FINAL WHERE tier = '1m' GROUP BY ws ORDER BY ws`,
  );
  return rows.map((r) => [Number(r.ws), Number(r.packets), Number(r.bytes), Number(r.snapshots)]);
}

/** The same per window from the simulator's ground truth. */
export function truthWindows(sim: FleetSimulator): number[][] {
  return sim.truth.windowStarts().map((w) => {
    const t = sim.truth.windows.get(w)!;
    return [w, t.packets, t.bytes, t.snapshots];
  });
}
