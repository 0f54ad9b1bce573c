// Provisional rows (agg_provisional, migration 0108): what the aggregators hold for windows not yet written as final
// rows, rewritten every few seconds, so answers include the newest intervals seconds after they end. Listed (without
// sketches) every refresh interval, like the final rows, and laid over a selection of final rows by one rule:
//
//   a provisional row of (window, topic, partition) holding offsets [first, last] is merged only while no final
//   1 min row of the same window and partition starts at or before `last`, and no 1 h or 1 d row covers its window.
//
// A final row that shares a message with the provisional one starts at or before its last offset, so the rule never
// counts a message twice, whichever of the two listings is fresher; a provisional row is hidden as soon as the
// window's first final row is seen. Provisional refs have ids of their own (`p|…`) and versions that change with every
// write, so decoded sketches and merges cached for them are never taken for those of final rows.
import { DAY_MS as DAY, DAY_TIER, HOUR_MS as HOUR, HOUR_TIER, MINUTE_TIER } from '@tma/rollup';
import type { Storage } from '@tma/storage';
import type { TimeRange } from '../common/params';
import { LIST_COLUMNS, type ListRow, type PartialRef, toRef } from './partial-row';
import type { RowSelection } from './row-index';
import type { StoreMetrics } from './store-metrics';

export const PROVISIONAL_TABLE = 'agg_provisional';
/** The provisional row key as text, in SQL (the same as a provisional PartialRef.id). */
export const PROVISIONAL_ID_SQL =
  "concat('p|', tier, '|', toString(toUnixTimestamp(window_start)), '|', topic, '|', toString(partition))";

export interface ProvisionalRef extends PartialRef {
  provisional: true;
  lastOffset: number;
  expiresAt: number;
}

export const isProvisional = (r: PartialRef): r is ProvisionalRef =>
  (r as Partial<ProvisionalRef>).provisional === true;

/** window start|topic|partition of a final 1 min row, and its first offset. */
function finalKey(r: PartialRef): { key: string; first: number } {
  return { key: `${r.windowStart}|${r.topic}|${r.partition}`, first: r.firstOffset };
}

/** A selection of final rows with the provisional rows the rule lets in (rows sorted as RowIndex sorts them). */
export function overlayProvisional(
  selection: RowSelection,
  provisional: readonly ProvisionalRef[],
  range: TimeRange,
): RowSelection {
  const firstFinal = new Map<string, number>();
  const hours = new Set<number>();
  const days = new Set<number>();
  const minuteWindows = new Set<number>();
  for (const r of selection.rows) {
    if (r.tier === HOUR_TIER) {
      hours.add(r.windowStart);
      continue;
    }
    if (r.tier === DAY_TIER) {
      days.add(r.windowStart);
      continue;
    }
    minuteWindows.add(r.windowStart);
    const { key, first } = finalKey(r);
    const seen = firstFinal.get(key);
    if (seen === undefined || first < seen) firstFinal.set(key, first);
  }
  const added: ProvisionalRef[] = [];
  for (const p of provisional) {
    if (p.windowStart < range.from || p.windowStart >= range.to) continue;
    if (hours.has(Math.floor(p.windowStart / HOUR) * HOUR)) continue;
    if (days.has(Math.floor(p.windowStart / DAY) * DAY)) continue;
    const first = firstFinal.get(`${p.windowStart}|${p.topic}|${p.partition}`);
    if (first !== undefined && first <= p.lastOffset) continue;
    added.push(p);
  }
  if (added.length === 0) return selection;
  const tiers = { ...selection.tiers };
  let windows = selection.windows;
  for (const w of new Set(added.map((p) => p.windowStart))) {
    if (minuteWindows.has(w)) continue;
    tiers[MINUTE_TIER] = (tiers[MINUTE_TIER] ?? 0) + 1;
    windows++;
  }
  const rows = [...selection.rows, ...added];
  rows.sort((a, b) => a.windowStart - b.windowStart || (a.id < b.id ? -1 : 1));
  return { ...selection, rows, tiers, windows };
}

/** The start of the earliest window an answer merged provisional rows for (ISO), or null when all were final. */
export function provisionalFrom(rows: readonly PartialRef[]): string | null {
  let from = Infinity;
  for (const r of rows) if (isProvisional(r) && r.windowStart < from) from = r.windowStart;
  return from === Infinity ? null : new Date(from).toISOString();
}

export class ProvisionalIndex {
  private rows: ProvisionalRef[] = [];
  private okAt = 0;
  private timer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;

  constructor(
    private readonly storage: Storage,
    /** 0 = no index: list provisional rows in ClickHouse on every request. */
    private readonly refreshMs: number,
    private readonly metrics?: StoreMetrics,
  ) {}

  async start(): Promise<void> {
    if (this.refreshMs <= 0) return;
    await this.refresh();
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Lists every provisional row not yet expired (the table holds only the last hour or so of open windows). */
  refresh(): Promise<void> {
    this.refreshing ??= this.list()
      .then((rows) => {
        this.rows = rows;
        this.okAt = Date.now();
      })
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** Provisional rows, from the listing when it is fresh, else straight from ClickHouse. */
  async current(): Promise<readonly ProvisionalRef[]> {
    if (this.refreshMs > 0 && Date.now() - this.okAt < 5 * this.refreshMs + 5000) return this.rows;
    return this.list();
  }

  private async list(): Promise<ProvisionalRef[]> {
    const t0 = performance.now();
    try {
      const rows = await this.storage.query<ListRow & { last_offset: string; expires: string | number }>(
        `SELECT ${LIST_COLUMNS}, hosts, toString(last_offset) AS last_offset, toUnixTimestamp(expires_at) AS expires
         FROM {database}.${PROVISIONAL_TABLE} FINAL WHERE tier = {minute:String} AND expires_at > now()`,
        { minute: MINUTE_TIER },
      );
      return rows.map((r) => ({
        ...toRef(r),
        id: `p|${r.tier}|${r.ws}|${r.topic}|${r.partition}`,
        provisional: true,
        lastOffset: Number(r.last_offset),
        expiresAt: Number(r.expires) * 1000,
      }));
    } finally {
      this.metrics?.queryTime('provisional', (performance.now() - t0) / 1000);
    }
  }
}
