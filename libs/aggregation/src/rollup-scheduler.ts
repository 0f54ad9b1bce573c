// Readable rollups of written windows and the coarse tiers (1 h, then 1 d from the hours), rebuilt on their own chain, never under the consumption
// lock: rebuilding a busy window (or an hour) can take seconds of reading and re-ranking, and consumption, commits
// and heartbeats must not wait for it.
import { DAY_MS, HOUR_MS } from '@tma/rollup';
import type { AggregatorConfig } from './config';
import type { ConsumerLogger, ConsumerStats } from './consumer-stats';
import type { AggregatorMetrics } from './metrics';
import type { PartialRowStore } from './partial-row-store';
import type { ThreatRunner } from './threat-runner';
import type { WindowAccumulator } from './window-accumulator';

/** How often the threat detectors look for due windows when no rollup was rebuilt (a newer window, the watermark). */
const THREATS_RECHECK_MS = 10_000;

export class RollupScheduler {
  private running = false;
  private forceAgain = false;
  /** Shutdown asked for: every pass from then on evaluates every stored window (idle passes wait for the clock). */
  private final = false;
  private done: Promise<void> = Promise.resolve();
  /** Window start → when its rollups are due (debounced: every new row for the window pushes it back). */
  private readonly windowsDue = new Map<number, number>();
  /** Hour start → count of writes touching it; the count tells a rebuild whether rows arrived meanwhile. */
  private readonly hoursTouched = new Map<number, number>();
  /** Day start → count of hour rebuilds touching it. */
  private readonly daysTouched = new Map<number, number>();
  /** Window, hour or day start → failed rebuilds in a row and when to try again (backoff, even when forced). */
  private readonly failed = new Map<number, { count: number; retryAt: number }>();
  /** When the threat detectors last looked for due windows (they run after rebuilds, else at most this often). */
  private threatsCheckedAt = 0;

  constructor(
    private readonly config: AggregatorConfig,
    private readonly store: PartialRowStore,
    private readonly metrics: AggregatorMetrics,
    private readonly logger: ConsumerLogger,
    private readonly stats: ConsumerStats,
    /**
     * Event time every partition with data has reached and written (as of the last stored flush): an hour is built,
     * and a window evaluated, once it passed their end.
     */
    private readonly lowWatermark: () => number,
    /** Threat detectors, run after the rollups of each pass on the same chain (docs/threats.md). */
    private readonly threats?: ThreatRunner,
  ) {}

  /** Rows of these windows were stored: their rollups (and their hours') are due again. */
  noteWritten(accs: readonly WindowAccumulator[]): void {
    for (const a of accs) {
      this.windowsDue.set(a.windowStart, Date.now() + this.config.rollupDelayMs);
      const h = Math.floor(a.windowStart / HOUR_MS) * HOUR_MS;
      this.hoursTouched.set(h, (this.hoursTouched.get(h) ?? 0) + 1);
    }
  }

  /**
   * Runs what is due (every rollup when `force`: idle or shutdown; `shutdown` also evaluates every stored window); a
   * call while running asks for one more pass.
   */
  schedule(force: boolean, shutdown = false): void {
    this.final ||= shutdown;
    if (this.running) {
      this.forceAgain ||= force;
      return;
    }
    this.running = true;
    this.done = (async () => {
      try {
        let f = force;
        do {
          this.forceAgain = false;
          await this.runDue(f);
          f = this.forceAgain;
        } while (f);
      } catch (err) {
        this.logger.error(`rollups: ${(err as Error).message}`);
      } finally {
        this.running = false;
      }
    })();
  }

  private backingOff(key: number, now: number): boolean {
    const f = this.failed.get(key);
    return f !== undefined && f.retryAt > now;
  }

  /** Records a failed rebuild; returns the delay before the next try (1 s doubling up to 5 min). */
  private noteFailure(key: number, now: number): number {
    const count = (this.failed.get(key)?.count ?? 0) + 1;
    const delay = Math.min(300_000, 1000 * 2 ** (count - 1));
    this.failed.set(key, { count, retryAt: now + delay });
    return delay;
  }

  /** Resolves when the pass under way (if any) has finished. */
  settled(): Promise<void> {
    return this.done;
  }

  /** Readable rollups of written windows; the 1 h tier once the watermark passed the hour (or on idle/shutdown). */
  private async runDue(force: boolean): Promise<void> {
    const t0 = performance.now();
    const now = Date.now();
    let rebuilt = 0;
    // One window (or hour) that fails does not hold up the others: it is retried with backoff, the rest go on.
    for (const [w, due] of [...this.windowsDue].sort((a, b) => a[0] - b[0])) {
      if ((!force && due > now) || this.backingOff(w, now)) continue;
      try {
        const end = this.metrics.writeSeconds.startTimer({ table: 'rollups' });
        await this.store.finalizeWindow('1m', w, this.config.windowMs);
        end();
        this.failed.delete(w);
        rebuilt++;
        // A row written meanwhile moved the due time: keep it queued for another rebuild.
        if (this.windowsDue.get(w) === due) this.windowsDue.delete(w);
      } catch (err) {
        const retry = this.noteFailure(w, now);
        this.logger.warn(
          `rollups of window ${new Date(w).toISOString()} failed, will retry in ${retry / 1000}s: ${(err as Error).message}`,
        );
      }
    }
    for (const [h, touches] of [...this.hoursTouched].sort((a, b) => a[0] - b[0])) {
      if (!force && h + HOUR_MS + this.config.allowedLatenessMs > this.lowWatermark()) continue;
      // Hours are keyed apart from windows (an hour start is also a window start).
      if (this.backingOff(-h - 1, now)) continue;
      try {
        const end = this.metrics.writeSeconds.startTimer({ table: 'hour_tier' });
        await this.store.buildHour(h);
        end();
        this.failed.delete(-h - 1);
        if (this.hoursTouched.get(h) === touches) this.hoursTouched.delete(h);
        const d = Math.floor(h / DAY_MS) * DAY_MS;
        this.daysTouched.set(d, (this.daysTouched.get(d) ?? 0) + 1);
      } catch (err) {
        const retry = this.noteFailure(-h - 1, now);
        this.logger.warn(
          `1 h tier of ${new Date(h).toISOString()} failed, will retry in ${retry / 1000}s: ${(err as Error).message}`,
        );
      }
    }
    // Days from their hours, once the watermark passed the day (and no hour of it waits for a rebuild).
    for (const [d, touches] of [...this.daysTouched].sort((a, b) => a[0] - b[0])) {
      if (!force && d + DAY_MS + this.config.allowedLatenessMs > this.lowWatermark()) continue;
      if ([...this.hoursTouched.keys()].some((h) => h >= d && h < d + DAY_MS)) continue;
      // Keyed apart from windows and hours: −2^42 − d − 1 is below every hour key (−h − 1, h < 2^42 ms).
      const key = -(2 ** 42) - d - 1;
      if (this.backingOff(key, now)) continue;
      try {
        const end = this.metrics.writeSeconds.startTimer({ table: 'day_tier' });
        await this.store.buildDay(d);
        end();
        this.failed.delete(key);
        if (this.daysTouched.get(d) === touches) this.daysTouched.delete(d);
      } catch (err) {
        const retry = this.noteFailure(key, now);
        this.logger.warn(
          `1 d tier of ${new Date(d).toISOString()} failed, will retry in ${retry / 1000}s: ${(err as Error).message}`,
        );
      }
    }
    this.stats.finalizeMs += performance.now() - t0;
    // After rebuilds (a window may have become complete), else every THREATS_RECHECK_MS: an idle pass does not query.
    if (!this.threats || (rebuilt === 0 && now - this.threatsCheckedAt < THREATS_RECHECK_MS)) return;
    this.threatsCheckedAt = now;
    try {
      const pass = this.final ? 'shutdown' : force ? 'idle' : 'due';
      await this.threats.runDue(pass, this.lowWatermark(), (w) => this.windowsDue.has(w) || this.failed.has(w));
    } catch (err) {
      // Retried on the next pass: the windows not evaluated stay due (they follow the last stored state).
      this.logger.warn(`threat detection failed, will retry on the next pass: ${(err as Error).message}`);
    }
  }
}
