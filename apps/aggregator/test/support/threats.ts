// What the threat detection specs share: publishing simulated rounds, running the aggregator until the detectors
// evaluated every window, and reading the alert rows back.
import { snapshotTopic } from '@tma/schema';
import { sendMessages } from '@tma/fleet-sim';
import { producer, waitFor } from './kafka';
import type { TestBed } from './test-bed';

export const ROUNDS_PER_WINDOW = 6; // 10 s intervals, 1 min windows

export interface AlertRow {
  window_start: string;
  alert_id: string;
  kind: string;
  subject: string;
  event: string;
  score: number;
  evidence: string;
  hosts: string[];
}

export async function publish(bed: TestBed, rounds: number): Promise<void> {
  const p = await producer();
  const msgs = [];
  for (let r = 0; r < rounds; r++) msgs.push(...bed.sim.nextRound());
  await sendMessages(p, snapshotTopic(bed.prefix), msgs, 100);
  await p.disconnect();
}

/** Runs the aggregator until every window with rows has a stored threat state; returns the alert rows. */
export async function detectAll(bed: TestBed, windows: number): Promise<AlertRow[]> {
  const agg = await bed.start({
    env: bed.env({ TMA_AGG_WRITER_ID: `${bed.prefix}-a` }),
    httpPort: 0,
    logger: ['error'],
  });
  await waitFor(
    'a threat state for every window',
    async () => {
      const [r] = await bed.query<{ n: string }>(`SELECT count() AS n FROM {database}.threat_state FINAL`);
      return Number(r.n) >= windows ? true : undefined;
    },
    180_000,
  );
  const metrics = await (await fetch(`${agg.url}/metrics`)).text();
  expect(metrics).toMatch(
    new RegExp(`tma_threats_windows_evaluated_total\\{writer="${bed.prefix}-a"\\} ${windows}\\b`),
  );
  await bed.close(agg);
  return bed.query<AlertRow>(
    `SELECT toUnixTimestamp(window_start) * 1000 AS window_start, alert_id, kind, subject, event, score, evidence, hosts
     FROM {database}.threat_alerts FINAL ORDER BY window_start, kind, subject`,
  );
}

export const windowIndex = (bed: TestBed, a: AlertRow) => (Number(a.window_start) - bed.startMs) / 60_000;
