// Which partial rows exist: an in-memory index of every row (no sketches) that picks up newly written rows every
// refresh interval (answers lag the newest write by at most that), so a warm request needs no ClickHouse round trip;
// host-filtered requests, and any request while the index is stale, list rows in ClickHouse instead.
// Rows an ownership epoch fences (libs/rollup fence.ts: a late write of an instance that had lost its partition) are
// never selected; the owner chain is read after the rows on every refresh and listing, so a row is never read
// without the owners row that fences it.
// New rows are found by the MergeTree block number of their data part, which the table assigns when an insert
// commits, in commit order: a row's written_at is stamped before a write that may retry for minutes, so a cursor on
// written_at would skip such a row until restart; a block number never lags behind one already seen. Block numbers
// count per table on a single server but per partition in Replicated*MergeTree (starting at 0) and per shard behind
// a Distributed table, so the cursor is kept per (shard, partition).
import {
  DAY_MS as DAY,
  DAY_TIER,
  FLEET_MINUTE_TIER,
  HOUR_MS as HOUR,
  HOUR_TIER,
  MINUTE_TIER,
  OWNERS_SELECT,
  OwnerChain,
  ownerChainOf,
  type StoredOwner,
} from '@tma/rollup';
import type { Storage } from '@tma/storage';
import type { TimeRange } from '../common/params';
import { LIST_COLUMNS, type ListRow, type PartialRef, toRef } from './partial-row';
import type { StoreMetrics } from './store-metrics';

export interface RowSelection {
  rows: PartialRef[];
  tiers: Record<string, number>;
  /** Distinct windows merged (a 1 h row counts once). */
  windows: number;
  /** Ids of the rows in the range the ownership fence dropped (SQL readers of the same range exclude them). */
  fenced: string[];
  /**
   * The fleet rows of the range's 1 min windows (whole-fleet selections only); PartialStore.select puts each in place
   * of its window's rows where it merged exactly them (withFleetRows).
   */
  fleet?: PartialRef[];
  /** Windows that lost rows stored under another hash seed (PartialStore.select), when any did. */
  otherSeedWindows?: number;
}

interface IndexedRow extends PartialRef {
  expiresAt: number;
}

export class RowIndex {
  private readonly index = new Map<string, IndexedRow>();
  /** The owner chains as read after the index's rows. */
  private owners = new OwnerChain();
  /**
   * Highest block number of the data parts read so far, per `<shard>:<partition id>` (parts merged later keep their
   * blocks' highest number); a (shard, partition) not in it is read from its first block.
   */
  private readonly indexedBlocks = new Map<string, bigint>();
  private indexOkAt = 0;
  private timer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;

  constructor(
    private readonly storage: Storage,
    /** 0 = no index: list rows in ClickHouse on every request. */
    private readonly refreshMs: number,
    private readonly metrics?: StoreMetrics,
    /** List 1 min windows' fleet rows for whole-fleet selections. */
    private readonly fleetRows = true,
  ) {}

  /** Loads the row index and keeps it current (no-op without an index). */
  async start(): Promise<void> {
    if (this.refreshMs <= 0) return;
    await this.refresh();
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * Picks up rows in data parts committed since the last refresh. A part name is `<partition>_<min>_<max>_<level>…`;
   * a merge of already read parts may be read again (harmless: a row keeps its highest version).
   */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      const t0 = performance.now();
      try {
        const cursors = [...this.indexedBlocks];
        const rows = await this.storage.query<ListRow & { block: string; expires: string; cursor: string }>(
          `WITH concat(toString(shardNum()), ':', _partition_id) AS cursor, indexOf({keys:Array(String)}, cursor) AS i
           SELECT ${LIST_COLUMNS}, toString(toUInt64(splitByChar('_', _part)[3])) AS block, cursor,
                  toUnixTimestamp(expires_at) AS expires
           FROM {database}.agg_partials FINAL
           WHERE toInt64(splitByChar('_', _part)[3]) > if(i = 0, -1, {blocks:Array(Int64)}[i])`,
          { keys: cursors.map(([k]) => k), blocks: cursors.map(([, b]) => Number(b)) },
        );
        for (const r of rows) {
          const row = toRef(r) as IndexedRow;
          row.expiresAt = Number(r.expires) * 1000;
          const old = this.index.get(row.id);
          if (!old || BigInt(old.version) <= BigInt(row.version)) this.index.set(row.id, row);
          const block = BigInt(r.block);
          if (block > (this.indexedBlocks.get(r.cursor) ?? -1n)) this.indexedBlocks.set(r.cursor, block);
        }
        const now = Date.now();
        for (const [id, r] of this.index) if (r.expiresAt <= now) this.index.delete(id);
        this.owners = await this.ownerChain();
        this.indexOkAt = Date.now();
      } finally {
        this.metrics?.queryTime('index', (performance.now() - t0) / 1000);
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private async ownerChain(): Promise<OwnerChain> {
    return ownerChainOf(await this.storage.query<StoredOwner>(OWNERS_SELECT));
  }

  private fresh(): boolean {
    return this.refreshMs > 0 && Date.now() - this.indexOkAt < 5 * this.refreshMs + 5000;
  }

  /**
   * Rows covering [from, to): whole UTC days inside the range come from the 1 d tier where it has rows, other whole
   * hours from the 1 h tier where it has rows (when `hourTier`), everything else from the 1 min tier. Coarse rows
   * merge every partition, so host-filtered answers pass hourTier = false (no 1 h nor 1 d rows); `dayTier` (default
   * `hourTier`) false keeps days out (series whose steps are not whole days).
   */
  async select(
    range: TimeRange,
    options: { hourTier: boolean; dayTier?: boolean; withHosts?: boolean },
  ): Promise<RowSelection> {
    const hFrom = Math.ceil(range.from / HOUR) * HOUR;
    const hTo = Math.floor(range.to / HOUR) * HOUR;
    const useHours = options.hourTier && hTo > hFrom;
    const dFrom = Math.ceil(range.from / DAY) * DAY;
    const dTo = Math.floor(range.to / DAY) * DAY;
    const useDays = options.hourTier && (options.dayTier ?? true) && dTo > dFrom;
    // Fleet rows merge every partition: like the coarse tiers, never for host-filtered selections.
    const useFleet = this.fleetRows && options.hourTier;
    let list: PartialRef[];
    let owners: OwnerChain;
    if (!options.withHosts && this.fresh()) {
      owners = this.owners;
      list = [];
      for (const r of this.index.values()) {
        if (
          r.tier === FLEET_MINUTE_TIER
            ? useFleet && r.windowStart >= range.from && r.windowStart < range.to
            : r.tier === MINUTE_TIER
              ? r.windowStart >= range.from && r.windowStart < range.to
              : r.tier === HOUR_TIER
                ? useHours && r.windowStart >= hFrom && r.windowStart < hTo
                : useDays && r.tier === DAY_TIER && r.windowStart >= dFrom && r.windowStart < dTo
        )
          list.push(r);
      }
    } else {
      const t0 = performance.now();
      const rows = await this.storage.query<ListRow>(
        `SELECT ${LIST_COLUMNS} ${options.withHosts ? ', hosts' : ''}
         FROM {database}.agg_partials FINAL
         WHERE (tier = {minute:String} AND window_start >= {from:DateTime} AND window_start < {to:DateTime})
            ${useHours ? 'OR (tier = {hour:String} AND window_start >= {hfrom:DateTime} AND window_start < {hto:DateTime})' : ''}
            ${useDays ? 'OR (tier = {day:String} AND window_start >= {dfrom:DateTime} AND window_start < {dto:DateTime})' : ''}
            ${useFleet ? 'OR (tier = {fleet:String} AND window_start >= {from:DateTime} AND window_start < {to:DateTime})' : ''}`,
        {
          minute: MINUTE_TIER,
          fleet: FLEET_MINUTE_TIER,
          hour: HOUR_TIER,
          day: DAY_TIER,
          dfrom: new Date(dFrom),
          dto: new Date(dTo),
          from: new Date(range.from),
          to: new Date(range.to),
          hfrom: new Date(hFrom),
          hto: new Date(hTo),
        },
      );
      owners = await this.ownerChain();
      this.metrics?.queryTime('list', (performance.now() - t0) / 1000);
      list = rows.map(toRef);
    }
    const fenced: string[] = [];
    if (owners.size > 0)
      list = list.filter((r) => {
        const drop = r.tier === MINUTE_TIER && owners.fenced(r);
        if (drop) fenced.push(r.id);
        return !drop;
      });
    // A day row stands for its hours and minutes, an hour row for its minutes: each window is counted once.
    const coveredDays = new Set<number>();
    for (const r of list) if (r.tier === DAY_TIER) coveredDays.add(r.windowStart);
    const coveredHours = new Set<number>();
    for (const r of list) if (r.tier === HOUR_TIER) coveredHours.add(r.windowStart);
    const rows: PartialRef[] = [];
    const tiers: Record<string, number> = {};
    const windows = new Set<string>();
    const fleet: PartialRef[] = [];
    for (const r of list) {
      if (r.tier === FLEET_MINUTE_TIER) {
        const hour = Math.floor(r.windowStart / HOUR) * HOUR;
        if (!coveredHours.has(hour) && !coveredDays.has(Math.floor(r.windowStart / DAY) * DAY)) fleet.push(r);
        continue;
      }
      if (r.tier !== DAY_TIER && coveredDays.has(Math.floor(r.windowStart / DAY) * DAY)) continue;
      if (r.tier === MINUTE_TIER && coveredHours.has(Math.floor(r.windowStart / HOUR) * HOUR)) continue;
      const key = `${r.tier}|${r.windowStart}`;
      if (!windows.has(key)) {
        windows.add(key);
        tiers[r.tier] = (tiers[r.tier] ?? 0) + 1;
      }
      rows.push(r);
    }
    rows.sort((a, b) => a.windowStart - b.windowStart || (a.id < b.id ? -1 : 1));
    return { rows, tiers, windows: windows.size, fenced, ...(fleet.length ? { fleet } : {}) };
  }
}
