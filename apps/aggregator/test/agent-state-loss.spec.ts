// An edge agent that lost its state (new agent id, sequences from 0 again, same host and boot) after the aggregator
// restarted: the restarted aggregator reloads the stored sequence positions per (host, boot, agent id), so the new
// agent's stream is a stream of its own and every one of its snapshots counts, while a replay of the old agent's
// snapshots is still recognised as duplicates. Real broker, real chDB, the aggregator in process.
import { decode, encode, snapshotTopic } from '@tma/schema';
import { sendMessages, type SimMessage } from '@tma/fleet-sim';
import type { AggregatorHandle } from '../src/start';
import { committedToEnd, producer, waitFor } from './support/kafka';
import { storedTotals, storedWindows, truthWindows, useTestBed, waitUntilStored } from './support/test-bed';

jest.setTimeout(240_000);

const bed = useTestBed({ name: 'agentid', partitions: 2, hosts: 4, seed: 909, minutesAgo: 12 });
const { sim } = bed;
const start = () => bed.start({ env: bed.env({ TMA_AGG_WRITER_ID: 'agentid' }), httpPort: 0, logger: ['error'] });

async function counter(h: AggregatorHandle, outcome: string): Promise<number> {
  const m = new RegExp(`tma_aggregator_snapshots_total\\{outcome="${outcome}"[^}]*\\} (\\d+)`).exec(
    await h.service.metricsText(),
  );
  return m ? Number(m[1]) : 0;
}

/** The message as an agent that lost its state would send it: another agent id, sequences counted from `base`. */
function fromNewAgent(m: SimMessage, agentId: string, base: number): SimMessage {
  const s = decode(m.value).snapshot;
  s.agentId = agentId;
  s.sequence -= base;
  return { ...m, sequence: s.sequence, value: encode(s) };
}

it('counts every snapshot of a new agent id on the same host and boot across a restart, and still drops replays of the old one', async () => {
  const p = await producer();
  const topic = snapshotTopic(bed.prefix);
  const group = `${bed.prefix}-group`;
  // Minute windows of 10 s intervals: rounds 0..5 fill the first window, 6..11 the second. Two hosts' agents lose
  // their state after round 8 (sequence 8): their new agents' sequences 0..2 share the second window with the old
  // agents' 6..8, then the aggregator restarts, then the new agents go on (3..7).
  const OLD = 9;
  const lost = new Set(sim.hostIds.slice(0, 2));
  const rounds: SimMessage[][] = [];
  for (let r = 0; r < OLD + 8; r++)
    rounds.push(
      sim.nextRound().map((m) => (r >= OLD && lost.has(m.hostId) ? fromNewAgent(m, `${m.hostId}-new-agent`, OLD) : m)),
    );
  const hosts = rounds[0].map((m) => m.hostId);
  const BEFORE = OLD + 3; // rounds sent before the restart

  const a = await start();
  await sendMessages(p, topic, rounds.slice(0, BEFORE).flat());
  const stored = (r: number) => rounds.slice(0, r).flat().length;
  await waitUntilStored(bed.store.storage, stored(BEFORE), 120_000);
  await waitFor('every offset committed', () => committedToEnd(group, topic), 60_000);
  await bed.close(a); // the restart: the next instance knows the streams from the stored rows only

  const b = await start();
  const after = rounds.slice(BEFORE).flat();
  expect(after.filter((m) => lost.has(m.hostId)).map((m) => m.sequence)).toEqual([3, 3, 4, 4, 5, 5, 6, 6, 7, 7]);
  // Then the old agents' snapshots 3..8 arrive again (a spool replayed, a resend), and the new agents' 0..2: all
  // duplicates, though the old agents' 6..8 and the new agents' 0..2 were stored in one window of one row.
  const replayed = rounds.slice(3, BEFORE).flatMap((r) => r.filter((m) => lost.has(m.hostId)));
  expect(replayed).toHaveLength(18);
  await sendMessages(p, topic, [...after, ...replayed]);
  await p.disconnect();

  const expected = sim.truth.totals();
  await waitUntilStored(bed.store.storage, expected.snapshots, 120_000);
  await waitFor('every offset committed', () => committedToEnd(group, topic), 60_000);
  const merged = async () => (await counter(b, 'accepted')) + (await counter(b, 'late'));
  const seen = async () => (await merged()) + (await counter(b, 'duplicate'));
  await waitFor('every message taken', async () =>
    (await seen()) >= after.length + replayed.length ? true : undefined,
  );
  await new Promise((r) => setTimeout(r, 2000)); // anything extra (a double count) would land by now

  const t = await storedTotals(bed.store.storage);
  expect([t.snapshots, t.packets, t.bytes]).toEqual([expected.snapshots, expected.packets, expected.bytes]);
  expect(await storedWindows(bed.store.storage)).toEqual(truthWindows(sim));
  expect(await merged()).toBe(after.length);
  expect(await counter(b, 'duplicate')).toBe(replayed.length);

  // The rows name each host's stream by its agent id, the replaced ones included; no sequence gap was counted.
  const streams = await bed.query<{ host: string; agent: string; last: string }>(
    `SELECT host, agent, max(seq) AS last FROM (
       SELECT host, agent, seq FROM {database}.agg_partials FINAL
       ARRAY JOIN hosts AS host, host_agent AS agent, host_last_seq AS seq WHERE tier = '1m'
       UNION ALL
       SELECT host, agent, seq FROM {database}.agg_partials FINAL
       ARRAY JOIN earlier_stream_host AS host, earlier_stream_agent AS agent, earlier_stream_last_seq AS seq
       WHERE tier = '1m')
     GROUP BY host, agent ORDER BY host, agent`,
  );
  const agentOf = (h: string) => decode(rounds[0].find((m) => m.hostId === h)!.value).snapshot.agentId;
  const want = hosts
    .flatMap((h) =>
      lost.has(h)
        ? [
            [h, agentOf(h), OLD - 1],
            [h, `${h}-new-agent`, 7],
          ]
        : [[h, agentOf(h), OLD + 7]],
    )
    .sort((x, y) => (`${x[0]}\u0000${x[1]}` < `${y[0]}\u0000${y[1]}` ? -1 : 1));
  expect(streams.map((s) => [s.host, s.agent, Number(s.last)])).toEqual(want);
  const [g] = await bed.query<{ gaps: string }>(
    `SELECT sum(gaps) AS gaps FROM {database}.agg_partials FINAL WHERE tier = '1m'`,
  );
  expect(Number(g.gaps)).toBe(0);
});
