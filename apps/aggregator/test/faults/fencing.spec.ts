// A write in flight past the session timeout: instance A's ClickHouse insert stalls and A is cut off from Kafka
// (its group session expires); B takes every partition over, merges the same messages again and writes them; then
// A's stalled insert lands. Without the ownership fence the overlap counts twice; through the fence rule (one
// definition, libs/rollup fence.ts) every window equals the ground truth. Two in-process instances on one shared
// embedded chDB (one process per data directory), the real broker, real chDB.
import { snapshotTopic } from '@tma/schema';
import { sendMessages, type SimMessage } from '@tma/fleet-sim';
import { OWNERS_SELECT, ownerChainOf, type StoredOwner } from '@tma/rollup';
import type { Storage } from '@tma/storage';
import { committedToEnd, producer, waitFor } from '../support/kafka';
import { kafkaPartition, stalledPartialWrites } from '../support/faults';
import { report, SHORT_SESSION } from '../support/processes';
import { storedWindows, truthWindows, useTestBed } from '../support/test-bed';

jest.setTimeout(300_000);

const HOSTS = 16;
const bed = useTestBed({ name: 'fence', partitions: 2, hosts: HOSTS, seed: 404, minutesAgo: 20 });
const { sim } = bed;
const cut = kafkaPartition('tma-fence-a');
afterAll(() => cut.restore());

interface Row {
  ws: string;
  topic: string;
  partition: number;
  epoch: number;
  first: string;
  last: string;
  writer: string;
  packets: string;
  bytes: string;
  snapshots: string;
}

/** Every stored 1 min row with its place in the owner chain, and the owner chain. */
async function rowsAndOwners(storage: Storage) {
  const rows = await storage.query<Row>(
    `SELECT toUnixTimestamp(window_start) * 1000 AS ws, topic, partition, epoch, toString(first_offset) AS first,
            toString(last_offset) AS last, writer, packets, bytes, snapshots
     FROM {database}.agg_partials FINAL WHERE tier = '1m' ORDER BY ws, partition, first_offset`,
  );
  const chain = ownerChainOf(await storage.query<StoredOwner>(OWNERS_SELECT));
  const key = (r: Row) => ({
    topic: r.topic,
    partition: Number(r.partition),
    epoch: Number(r.epoch),
    firstOffset: Number(r.first),
  });
  return { rows, kept: chain.unfenced(rows, key), fenced: rows.filter((r) => chain.fenced(key(r))) };
}

/** [window start, packets, bytes, snapshots] per window, summed over `rows`. */
function perWindow(rows: Row[]): number[][] {
  const by = new Map<number, number[]>();
  for (const r of rows) {
    const w = by.get(Number(r.ws)) ?? [Number(r.ws), 0, 0, 0];
    w[1] += Number(r.packets);
    w[2] += Number(r.bytes);
    w[3] += Number(r.snapshots);
    by.set(Number(r.ws), w);
  }
  return [...by.values()].sort((a, b) => a[0] - b[0]);
}

it('a stalled write of an instance that lost its partitions lands after the takeover and is not counted', async () => {
  const p = await producer();
  const topic = snapshotTopic(bed.prefix);
  const group = `${bed.prefix}-group`;
  const rounds: SimMessage[][] = [];
  for (let r = 0; r < 24; r++) rounds.push(sim.nextRound());
  const env = (id: string) =>
    bed.env({ ...SHORT_SESSION, TMA_AGG_WRITER_ID: id, TMA_KAFKA_CLIENT_ID: `tma-fence-${id.slice(-1)}` });

  const stall = stalledPartialWrites(bed.store.storage);
  try {
    const a = await bed.start({ env: env('inst-a'), storage: stall.storage, httpPort: 0, logger: ['error'] });

    // A merges and stores the first 9 rounds (committed).
    await sendMessages(p, topic, rounds.slice(0, 9).flat());
    await waitFor('A commits the first rounds', () => committedToEnd(group, topic), 60_000);

    // A's next write stalls in flight; then A is cut off from Kafka.
    stall.arm();
    await sendMessages(p, topic, rounds.slice(9, 15).flat());
    const held = await stall.held;
    cut.freeze();
    const cutAt = Date.now();
    expect(held.every((r) => r.writer === 'inst-a')).toBe(true);
    const heldSnapshots = held.reduce((n, r) => n + Number(r.snapshots), 0);
    expect(heldSnapshots).toBeGreaterThan(0);

    // B joins; once A's session expired B owns every partition, merges rounds 9..14 again and commits them.
    const b = await bed.start({ env: env('inst-b'), httpPort: 0, logger: ['error'] });
    await waitFor('B commits what A could not', () => committedToEnd(group, topic), 120_000);
    report('fencing', 'A cut off → B committed every offset', Date.now() - cutAt);
    const owners = await bed.query<{ partition: number; epoch: number; owner: string }>(
      `SELECT partition, epoch, owner FROM {database}.agg_partition_owners FINAL ORDER BY partition, epoch`,
    );
    const epochOf = (owner: string) => owners.filter((o) => o.owner === owner).map((o) => Number(o.epoch));
    expect(epochOf('inst-b').length).toBeGreaterThanOrEqual(2);
    // The held rows were merged under A's epoch, below B's.
    expect(held.every((r) => Number(r.epoch) < Math.min(...epochOf('inst-b')))).toBe(true);

    // Now A's stalled insert lands, after B loaded what was stored and wrote the same messages.
    await stall.release();
    cut.thaw();
    await bed.close(a); // A's commits are refused (stale generation); whatever it still held is written and fenced
    await sendMessages(p, topic, rounds.slice(15).flat());
    await p.disconnect();
    await waitFor('B commits the rest', () => committedToEnd(group, topic), 120_000);
    await new Promise((r) => setTimeout(r, 2000)); // a late write of anyone would land by now

    const { rows, kept, fenced } = await rowsAndOwners(bed.store.storage);
    // Without the rule the overlap is counted twice: the raw sums exceed the truth by exactly the fenced rows.
    const truth = truthWindows(sim);
    const raw = perWindow(rows);
    const fencedSnapshots = fenced.reduce((n, r) => n + Number(r.snapshots), 0);
    // Every held row is fenced (A may write more after it: whatever it still held when it stopped).
    const fencedIds = new Set(fenced.map((r) => `${r.partition}|${r.first}|${r.epoch}`));
    for (const r of held) expect(fencedIds.has(`${r.partition}|${r.first_offset}|${r.epoch}`)).toBe(true);
    expect(fencedSnapshots).toBeGreaterThanOrEqual(heldSnapshots);
    expect(raw.reduce((n, w) => n + w[3], 0)).toBe(sim.truth.totals().snapshots + fencedSnapshots);
    expect(raw).not.toEqual(truth);
    expect(await storedWindows(bed.store.storage)).toEqual(raw);
    // Through the rule: every window exact (0 lost, 0 counted twice), and no message in two counted rows.
    expect(perWindow(kept)).toEqual(truth);
    for (const r of kept)
      for (const o of kept)
        if (r !== o && r.ws === o.ws && r.partition === o.partition && Number(r.first) < Number(o.first))
          expect(Number(r.last)).toBeLessThan(Number(o.first));
    process.stdout.write(
      `[fault] fencing: ${fenced.length} fenced row(s) of A holding ${fencedSnapshots} snapshots; raw sum ${raw.reduce((n, w) => n + w[1], 0)} packets, truth ${sim.truth.totals().packets}\n`,
    );

    // The readable rollups, rebuilt through the same rule, equal the truth too.
    await waitFor('rollups exact', async () => {
      const t = await bed.query<{ ws: string; packets: string; bytes: string; snapshots: string }>(
        `SELECT toUnixTimestamp(window_start) * 1000 AS ws, packets, bytes, snapshots FROM {database}.agg_window_totals FINAL
         WHERE tier = '1m' ORDER BY ws`,
      );
      const got = t.map((w) => [Number(w.ws), Number(w.packets), Number(w.bytes), Number(w.snapshots)]);
      return JSON.stringify(got) === JSON.stringify(truth) ? true : undefined;
    });
    await bed.close(b);
  } finally {
    // after a failure: nothing may stay held or cut off, or closing the instances would wait forever
    stall.open();
    cut.thaw();
  }
});
