// Interval lengths and the tick grid run on a monotonic clock; the wall clock only stamps. A wall clock step (NTP,
// an operator, a VM resumed) would otherwise make an interval short, negative or hours long, which the aggregator
// refuses, and would fire the next tick at once or far too late.

export interface Clocks {
  /** monotonic milliseconds (never steps) */
  mono(): number;
  /** wall-clock milliseconds since the epoch */
  wall(): number;
}

export const systemClocks: Clocks = { mono: () => performance.now(), wall: () => Date.now() };

/** How far the wall clock may drift from the monotonic one within an interval before it counts as a step. */
export const STEP_MS = 1000;

export interface ClosedInterval {
  startMs: number;
  endMs: number;
  /** how far the wall clock stepped during the interval (0 when it did not) */
  steppedMs: number;
}

export class IntervalClock {
  private readonly originMono: number;
  private startMono: number;
  /** wall stamp of the current interval's start (unrounded, so consecutive intervals chain exactly) */
  private startWall: number;

  constructor(
    readonly intervalMs: number,
    private readonly clocks: Clocks = systemClocks,
  ) {
    this.originMono = this.startMono = clocks.mono();
    this.startWall = clocks.wall();
  }

  /** Milliseconds until tick number `n` (1-based) of the fixed grid from the start: a slow tick shifts nothing. */
  delayToTick(n: number): number {
    return Math.max(0, this.originMono + n * this.intervalMs - this.clocks.mono());
  }

  /** Milliseconds the current interval has lasted. */
  elapsedMs(): number {
    return this.clocks.mono() - this.startMono;
  }

  /**
   * Ends the current interval now and starts the next. Its length is the monotonic time that passed; it ends where
   * the previous one did plus that length, unless the wall clock stepped, in which case it ends at the new wall time
   * (and starts its true length before), so later stamps follow the corrected clock.
   */
  close(): ClosedInterval {
    const mono = this.clocks.mono();
    const length = mono - this.startMono;
    let end = this.startWall + length;
    const wall = this.clocks.wall();
    const steppedMs = Math.abs(wall - end) > STEP_MS ? Math.round(wall - end) : 0;
    if (steppedMs) end = wall;
    const closed = { startMs: Math.round(end - length), endMs: Math.round(end), steppedMs };
    this.startMono = mono;
    this.startWall = end;
    return closed;
  }
}
