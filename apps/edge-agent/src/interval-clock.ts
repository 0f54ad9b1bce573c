// Interval lengths and the tick grid run on a monotonic clock; the wall clock only stamps. A wall clock step (NTP,
// an operator, a VM resumed) would otherwise make an interval short, negative or hours long, which the aggregator
// refuses, and would fire the next tick at once or far too late.
import { INTERVAL_MAX_MS, INTERVAL_MIN_MS } from '@tma/sketch';

export interface Clocks {
  /** monotonic milliseconds (never steps) */
  mono(): number;
  /** wall-clock milliseconds since the epoch */
  wall(): number;
}

export const systemClocks: Clocks = { mono: () => performance.now(), wall: () => Date.now() };

/** How far the wall clock may drift from the monotonic one within an interval before it counts as a step. */
export const STEP_MS = 1000;

/** How far below the schema's maximum an interval is scheduled to end, so a tick that late still fits. */
export const LATE_ROOM_MS = 1000;

export interface ClosedInterval {
  startMs: number;
  endMs: number;
  /** how far the wall clock stepped during the interval (0 when it did not) */
  steppedMs: number;
  /** how much longer than the schema's maximum it ran (the process stalled), cut from its start (ms, rounded up) */
  cutMs: number;
}

export class IntervalClock {
  private readonly originMono: number;
  private startMono: number;
  /** wall stamp of the current interval's start (unrounded, so consecutive intervals chain exactly) */
  private startWall: number;

  /** `startWallMs`: the first interval began then (earlier than now: one a killed predecessor started). */
  constructor(
    readonly intervalMs: number,
    private readonly clocks: Clocks = systemClocks,
    startWallMs?: number,
  ) {
    this.originMono = this.startMono = clocks.mono();
    this.startWall = clocks.wall();
    if (startWallMs !== undefined && startWallMs < this.startWall) {
      this.originMono = this.startMono = this.startMono - (this.startWall - startWallMs);
      this.startWall = startWallMs;
    }
  }

  /** Wall stamp of the current interval's start. */
  get startMs(): number {
    return this.startWall;
  }

  /**
   * Milliseconds until the current interval should end: at a point of the fixed grid from the start, so a slow tick
   * shifts nothing. The grid point is the one nearest a whole interval after the interval began, so a late tick's
   * interval ends at the next point but one (a point soon after it would make a short interval: with a 1 s
   * interval, every slightly late tick would), and points missed by a stall are skipped, not caught up. The end is
   * held within the schema's bounds from the start, whatever the grid says (LATE_ROOM_MS below the maximum).
   */
  delayToClose(): number {
    const sinceOrigin = this.startMono - this.originMono + this.intervalMs / 2;
    const grid = this.originMono + (Math.floor(sinceOrigin / this.intervalMs) + 1) * this.intervalMs;
    const end = Math.min(
      Math.max(grid, this.startMono + INTERVAL_MIN_MS),
      this.startMono + INTERVAL_MAX_MS - LATE_ROOM_MS,
    );
    return Math.max(0, end - this.clocks.mono());
  }

  /**
   * Milliseconds the current interval still lacks to reach the schema's minimum (0 when it has). A timer can fire a
   * little early by the monotonic clock (Node starts it from the event loop's cached time), so a tick checks this
   * before it closes.
   */
  shortByMs(): number {
    return Math.max(0, INTERVAL_MIN_MS - (this.clocks.mono() - this.startMono));
  }

  /**
   * Ends the current interval now and starts the next. Its length is the monotonic time that passed; it ends where
   * the previous one did plus that length, unless the wall clock stepped, in which case it ends at the new wall time
   * (and starts its true length before), so later stamps follow the corrected clock. Call it only once
   * shortByMs() is 0. An interval longer than the schema's maximum (the process did not run for minutes) would be
   * refused with all it counted: it is stamped as the maximum ending now, leaving a gap before it.
   */
  close(): ClosedInterval {
    const mono = this.clocks.mono();
    const trueLength = mono - this.startMono;
    let end = this.startWall + trueLength;
    const wall = this.clocks.wall();
    const steppedMs = Math.abs(wall - end) > STEP_MS ? Math.round(wall - end) : 0;
    if (steppedMs) end = wall;
    const length = Math.min(trueLength, INTERVAL_MAX_MS);
    // Both stamps are rounded from values exactly `length` apart, and the bounds are whole ms, so rounding keeps
    // the stamped length within them.
    const closed = {
      startMs: Math.round(end - length),
      endMs: Math.round(end),
      steppedMs,
      cutMs: Math.ceil(trueLength - length),
    };
    this.startMono = mono;
    this.startWall = end;
    return closed;
  }
}
