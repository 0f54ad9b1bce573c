// The threat runner on the real engine (embedded chDB): each window evaluated once even when the evaluating member
// changes in the middle of a pass, a new runner (a restart) continuing from the stored state with the same alerts
// as one uninterrupted run (the low-and-slow union included: the new owner reads the earlier windows' spreads back),
// and a member that is not the leader writing nothing.
import { FleetSimulator } from '@tma/fleet-sim';
import { openTestStore, type TestStore } from '@tma/storage/testing';
import { DEFAULT_THREAT_CONFIG } from '@tma/threats';
import { Registry } from 'prom-client';
import type { AggregatorConfig } from './config';
import { PartialRowStore } from './partial-row-store';
import { partialRowFromAccumulator } from './rows';
import { ThreatRunner } from './threat-runner';
import { WindowMerger } from './window-merger';

// Each pass reads and evaluates windows on embedded ClickHouse: seconds on a busy machine.
jest.setTimeout(60_000);

const MIN = 60_000;
const WINDOWS = 14;
// Recent, minute-aligned: rows older than their TTL would be dropped on insert.
const T0 = Math.floor(Date.now() / MIN) * MIN - (WINDOWS + 2) * MIN;
const VICTIM = '198.51.100.7';
const SWEEPER = '192.0.2.200';
// low and slow over 14 windows: a union threshold the sweep's 420 hosts pass (lower bound) within the run
const THREATS = { ...DEFAULT_THREAT_CONFIG, lowSlowMinSpread: 100 };
const opts = { windowMs: MIN, allowedLatenessMs: 30_000, idleCloseMs: 5_000, maxFutureMs: 1e12, maxOpenWindows: 20 };
const config = { windowMs: MIN, allowedLatenessMs: 30_000 } as AggregatorConfig;
const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

let store: TestStore;

beforeAll(async () => {
  store = await openTestStore('threat-runner');
  const sink = new PartialRowStore(store.storage, { partials: 86_400 } as never, 20);
  const sim = new FleetSimulator({ hosts: 6, seed: 31, startMs: T0, intervalMs: 10_000 });
  sim.extraTraffic = (host, round) => [
    ...(host === 'sim-host-00003' && [48, 54].includes(Math.floor(round / 6) * 6)
      ? [1, 2].map((s) => ({ src: `203.0.113.${s}`, dst: VICTIM, sport: s, dport: 80, proto: 17, packets: 40_000 }))
      : []),
    // a slow sweep: 5 new hosts per interval (30 per window), 2 packets each
    ...(host === 'sim-host-00001'
      ? Array.from({ length: 5 }, (_, j) => ({
          src: SWEEPER,
          dst: `172.21.${(round * 5 + j) >> 8}.${(round * 5 + j) & 255}`,
          sport: 50_000,
          dport: 445,
          proto: 6,
          packets: 2,
        }))
      : []),
  ];
  const mergers = [new WindowMerger(opts), new WindowMerger(opts)];
  mergers.forEach((e, p) => e.assign({ topic: 'snap', partition: p, committed: 0, covered: [] }));
  const offsets = [0, 0];
  for (let r = 0; r < WINDOWS * 6; r++)
    sim.nextRound().forEach((m, i) => {
      const p = i % 2;
      mergers[p].ingest({ topic: 'snap', partition: p, offset: offsets[p]++, value: m.value }, Date.now());
    });
  for (const [p, e] of mergers.entries())
    await sink.writePartials(e.takeFlush(Date.now(), true).map((a) => partialRowFromAccumulator(a, `w-${p}`, 86_400)));
}, 120_000);

afterAll(async () => {
  await store?.close();
});

/** Windows (ms) whose rows were read in full, in order (readWindowData's select). */
const windowReads: number[] = [];

function runner(isLeader: () => boolean) {
  const registry = new Registry();
  // the store's storage, recording each full read of one window's rows
  const storage = new Proxy(store.storage, {
    get(target, prop, receiver) {
      if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown;
      return (sql: string, params?: Record<string, unknown>, opts?: unknown) => {
        if (sql.includes('AS topic') || sql.includes(', topic,')) windowReads.push(Number(params?.w) * 1000);
        return (target.query as (...a: unknown[]) => unknown).call(target, sql, params, opts);
      };
    },
  });
  const r = new ThreatRunner(config, THREATS, storage, registry, quiet, isLeader);
  const evaluated = async () =>
    (await registry.getSingleMetric('tma_threats_windows_evaluated_total')!.get()).values[0].value;
  return { r, evaluated };
}

const alerts = () =>
  store.storage.query<{ w: string; alert_id: string; kind: string; subject: string; event: string; evidence: string }>(
    `SELECT toUnixTimestamp(window_start) AS w, alert_id, kind, subject, event, evidence FROM {database}.threat_alerts FINAL
     ORDER BY w, alert_id`,
  );
const states = async () =>
  Number((await store.storage.query<{ n: string }>('SELECT count() AS n FROM {database}.threat_state FINAL'))[0].n);

describe('ThreatRunner', () => {
  it('evaluates each window once across a change of leader mid-pass; a fresh runner reproduces the same alerts', async () => {
    let calls = 0;
    const a = runner(() => ++calls <= 6); // leader for its first 5 windows, then the partition moves away
    await a.r.runDue('due', 0, () => false);
    expect(await a.evaluated()).toBe(5);
    expect(await states()).toBe(5);

    const idle = runner(() => false); // a member that does not own partition 0
    await idle.r.runDue('idle', 0, () => false);
    expect(await idle.evaluated()).toBe(0);
    expect(await states()).toBe(5);

    const b = runner(() => true); // the new owner continues from the stored state
    await b.r.runDue('idle', 0, () => false);
    expect(await b.evaluated()).toBe(WINDOWS - 5);
    expect(await states()).toBe(WINDOWS);
    const handedOver = await alerts();
    const flood = handedOver.filter((x) => x.kind === 'flood' && x.subject === VICTIM);
    expect(flood.map((x) => [x.event, (Number(x.w) * 1000 - T0) / MIN])).toEqual([
      ['opened', 8],
      ['updated', 9],
      ['resolved', 11],
    ]);
    // The slow sweep, over the union of the windows so far (the new owner read the earlier ones back from storage).
    const slow = handedOver.filter((x) => x.kind === 'low-and-slow' && x.subject === SWEEPER);
    expect(slow[0]?.event).toBe('opened');
    expect(handedOver.filter((x) => x.subject === SWEEPER && x.kind !== 'low-and-slow')).toEqual([]);
    const again = runner(() => true);
    await again.r.runDue('idle', 0, () => false);
    expect(await again.evaluated()).toBe(0); // nothing left to do: every window has its state

    // One uninterrupted run from scratch writes exactly the same alert rows.
    await store.storage.command('TRUNCATE TABLE {database}.threat_alerts');
    await store.storage.command('TRUNCATE TABLE {database}.threat_state');
    const c = runner(() => true);
    await c.r.runDue('idle', 0, () => false);
    expect(await c.evaluated()).toBe(WINDOWS);
    expect(await alerts()).toEqual(handedOver);
  });

  it('waits for windows still pending here and for a newer stored window unless idle or stopping', async () => {
    await store.storage.command('TRUNCATE TABLE {database}.threat_state');
    const d = runner(() => true);
    await d.r.runDue('due', 0, (w) => w >= T0 + 3 * MIN);
    expect(await d.evaluated()).toBe(3); // windows 0–2; 3 is pending, and later ones follow it in order
    await d.r.runDue('due', 0, () => false);
    expect(await d.evaluated()).toBe(WINDOWS - 1); // the newest waits: no newer window is stored yet
    await d.r.runDue('idle', 0, () => false);
    expect(await d.evaluated()).toBe(WINDOWS);
  });

  it('leaves a window an idle close wrote early until the clock or the written watermark passed it', async () => {
    await store.storage.command('TRUNCATE TABLE {database}.threat_state');
    const e = runner(() => true);
    const newest = T0 + (WINDOWS - 1) * MIN;
    // the wall clock inside the newest window: an idle pass takes the windows before it, whose ends passed long ago
    // (plus the lateness), but not the one still open (its rows are what the idle close wrote so far)
    const inNewest = newest + 10_000;
    await e.r.runDue('idle', 0, () => false, inNewest);
    // windows up to newest − 2: the one before the newest ended 10 s ago, inside its lateness (30 s)
    expect(await e.evaluated()).toBe(WINDOWS - 2);
    await e.r.runDue('due', 0, () => false, inNewest);
    expect(await e.evaluated()).toBe(WINDOWS - 2);
    // every partition here wrote its rows up to an event time past the window before the newest plus the lateness
    await e.r.runDue('due', newest + 30_000, () => false, inNewest);
    expect(await e.evaluated()).toBe(WINDOWS - 1);
    // still open by the clock, even on idle; a shutdown pass takes it (everything held was written first)
    await e.r.runDue('idle', newest + 30_000, () => false, inNewest);
    expect(await e.evaluated()).toBe(WINDOWS - 1);
    await e.r.runDue('shutdown', 0, () => false, inNewest);
    expect(await e.evaluated()).toBe(WINDOWS);
  });

  it('reuses the window before for the sketch differences, unless a row was added to it since (late data)', async () => {
    await store.storage.command('TRUNCATE TABLE {database}.threat_state');
    const f = runner(() => true);
    const at = (k: number) => T0 + k * MIN;
    const clock = at(0); // only the written watermark makes windows due here
    // windows 0–4 evaluated: each read once, and window 0's "before" (none stored) looked for once
    await f.r.runDue('due', at(5) + 30_000, () => false, clock);
    expect(await f.evaluated()).toBe(5);
    windowReads.length = 0;
    // window 5: the one before (4) is the one just evaluated, with the same rows
    await f.r.runDue('due', at(6) + 30_000, () => false, clock);
    expect(windowReads).toEqual([at(5)]);
    // a late row for window 5 (a host of another partition), then window 6: window 5 is read again with it
    const late = new WindowMerger(opts);
    late.assign({ topic: 'snap', partition: 7, committed: 0, covered: [] });
    const sim = new FleetSimulator({ hosts: 1, seed: 77, startMs: at(5), intervalMs: 10_000, hostPrefix: 'late-' });
    for (const m of sim.nextRound())
      late.ingest({ topic: 'snap', partition: 7, offset: 0, value: m.value }, Date.now());
    const sink = new PartialRowStore(store.storage, { partials: 86_400 } as never, 20);
    await sink.writePartials(
      late.takeFlush(Date.now(), true).map((a) => partialRowFromAccumulator(a, 'w-late', 86_400)),
    );
    windowReads.length = 0;
    await f.r.runDue('due', at(7) + 30_000, () => false, clock);
    expect(windowReads).toEqual([at(6), at(5)]);
    expect(await f.evaluated()).toBe(7);
  });
});
