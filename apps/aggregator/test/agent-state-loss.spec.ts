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

it('counts every snapshot of a new agent id on the same host and boot after a restart, and still drops replays of the old one', async () => {
  const p = await producer();
  const topic = snapshotTopic(bed.prefix);
  const group = `${bed.prefix}-group`;
  const FIRST = 12; // rounds of the first agents: sequences 0..11
  const first: SimMessage[][] = Array.from({ length: FIRST }, () => sim.nextRound());
  const hosts = first[0].map((m) => m.hostId);
  const lost = new Set(hosts.slice(0, 2)); // these two hosts' agents lose their state; the other two go on

  const a = await start();
  await sendMessages(p, topic, first.flat());
  await waitUntilStored(bed.store.storage, sim.truth.totals().snapshots, 120_000);
  await waitFor('every offset committed', () => committedToEnd(group, topic), 60_000);
  await bed.close(a); // the restart: the next instance knows the streams from the stored rows only

  const b = await start();
  // 8 more rounds: the two hosts that lost their state send them as new agents from sequence 0.
  const second = Array.from({ length: 8 }, () =>
    sim.nextRound().map((m) => (lost.has(m.hostId) ? fromNewAgent(m, `${m.hostId}-new-agent`, FIRST) : m)),
  );
  expect(second[0].filter((m) => lost.has(m.hostId)).map((m) => m.sequence)).toEqual([0, 0]);
  // Then the old agents' snapshots of the first rounds arrive again (a spool replayed, a resend): duplicates.
  const replayed = first.slice(FIRST - 8).flatMap((r) => r.filter((m) => lost.has(m.hostId)));
  await sendMessages(p, topic, [...second.flat(), ...replayed]);
  await p.disconnect();

  const expected = sim.truth.totals();
  await waitUntilStored(bed.store.storage, expected.snapshots, 120_000);
  await waitFor('every offset committed', () => committedToEnd(group, topic), 60_000);
  await waitFor('the replays seen', async () =>
    (await counter(b, 'duplicate')) >= replayed.length ? true : undefined,
  );
  await new Promise((r) => setTimeout(r, 2000)); // anything extra (a double count) would land by now

  const t = await storedTotals(bed.store.storage);
  expect([t.snapshots, t.packets, t.bytes]).toEqual([expected.snapshots, expected.packets, expected.bytes]);
  expect(await storedWindows(bed.store.storage)).toEqual(truthWindows(sim));
  expect(await counter(b, 'accepted')).toBe(second.flat().length);
  expect(await counter(b, 'duplicate')).toBe(replayed.length);

  // The rows name each host's stream by its agent id; no sequence gap was counted for any stream.
  const streams = await bed.query<{ host: string; agent: string; snapshots: string; last: string; gaps: string }>(
    `SELECT host, agent, sum(s) AS snapshots, max(seq) AS last, sum(g) AS gaps
     FROM {database}.agg_partials FINAL
     ARRAY JOIN hosts AS host, host_agent AS agent, host_snapshots AS s, host_last_seq AS seq, host_gaps AS g
     WHERE tier = '1m' AND writer = 'agentid' GROUP BY host, agent ORDER BY host, agent`,
  );
  const agentOf = (h: string) => decode(first[0].find((m) => m.hostId === h)!.value).snapshot.agentId;
  const want = hosts
    .flatMap((h) =>
      lost.has(h)
        ? [
            [h, agentOf(h), FIRST, FIRST - 1],
            [h, `${h}-new-agent`, 8, 7],
          ]
        : [[h, agentOf(h), FIRST + 8, FIRST + 7]],
    )
    .sort((x, y) => (`${x[0]}\u0000${x[1]}` < `${y[0]}\u0000${y[1]}` ? -1 : 1));
  expect(streams.map((s) => [s.host, s.agent, Number(s.snapshots), Number(s.last)])).toEqual(want);
  expect(streams.every((s) => Number(s.gaps) === 0)).toBe(true);
});
