// Interval lengths and scheduling on the monotonic clock, with a fake clock whose wall time steps.
import { INTERVAL_MAX_MS, INTERVAL_MIN_MS } from '@tma/sketch';
import { IntervalClock, type ClosedInterval, type Clocks } from './interval-clock';

class FakeClocks implements Clocks {
  monoMs = 5_000;
  wallMs = Date.UTC(2026, 0, 1);
  mono = () => this.monoMs;
  wall = () => this.wallMs;
  advance(ms: number): void {
    this.monoMs += ms;
    this.wallMs += ms;
  }
}

describe('interval clock', () => {
  it('chains intervals of their true length while the wall clock runs steadily', () => {
    const c = new FakeClocks();
    const clock = new IntervalClock(10_000, c);
    const t0 = c.wallMs;
    c.advance(10_003);
    const a = clock.close();
    c.advance(9_998);
    const b = clock.close();
    expect(a).toEqual({ startMs: t0, endMs: t0 + 10_003, steppedMs: 0, cutMs: 0 });
    expect(b).toEqual({ startMs: a.endMs, endMs: a.endMs + 9_998, steppedMs: 0, cutMs: 0 });
  });

  it('keeps the true length when the wall clock steps forward or back, and stamps with the corrected clock', () => {
    for (const step of [3_600_000, -3_600_000, -9_000, 5_000]) {
      const c = new FakeClocks();
      const clock = new IntervalClock(10_000, c);
      c.advance(4_000);
      c.wallMs += step; // NTP (or an operator) sets the clock mid-interval
      c.advance(6_000);
      const a = clock.close();
      expect(a.endMs - a.startMs).toBe(10_000); // never 0, negative, or an hour
      expect(a.endMs).toBe(c.wallMs);
      expect(a.steppedMs).toBe(step);
      c.advance(10_000);
      const b = clock.close();
      expect(b).toEqual({ startMs: a.endMs, endMs: a.endMs + 10_000, steppedMs: 0, cutMs: 0 });
    }
  });

  it('schedules ticks on the monotonic grid: a wall step neither fires the next tick at once nor delays it', () => {
    const c = new FakeClocks();
    const clock = new IntervalClock(10_000, c);
    c.advance(2_500);
    expect(clock.delayToClose()).toBe(7_500);
    c.wallMs += 3_600_000;
    expect(clock.delayToClose()).toBe(7_500);
    c.wallMs -= 7_200_000;
    expect(clock.delayToClose()).toBe(7_500);
    c.advance(8_000); // a late tick does not shift the grid
    expect(clock.delayToClose()).toBe(0);
    clock.close();
    expect(clock.delayToClose()).toBe(9_500);
  });

  // What the agent's tick does: wait for the scheduled end, fired `late` ms after it (negative: early, as Node's
  // timers can be by the monotonic clock), re-arm while the interval is still short (each re-arm fired `early`, a
  // fraction of its wait, early), then close.
  function tick(c: FakeClocks, clock: IntervalClock, late: number, early = 0): ClosedInterval {
    c.advance(Math.max(0, clock.delayToClose() + late));
    for (let short; (short = clock.shortByMs()) > 0;) c.advance(Math.ceil(short) * (1 - early));
    return clock.close();
  }

  it('a late tick followed by an on-schedule one makes no interval shorter than the minimum (1 s interval)', () => {
    const c = new FakeClocks();
    const clock = new IntervalClock(1_000, c);
    const lengths = [700, 0, 0, 0].map((late) => tick(c, clock, late)).map((i) => i.endMs - i.startMs);
    // the tick after the late one would have ended a 300 ms interval; its time goes into the next grid point's
    expect(lengths).toEqual([1_700, 1_300, 1_000, 1_000]);
  });

  it('a tick fired a little early by the monotonic clock does not end the interval before the minimum', () => {
    const c = new FakeClocks();
    const clock = new IntervalClock(1_000, c);
    c.advance(0.3); // the first interval starts between whole milliseconds
    const first = tick(c, clock, -0.4, 0.5);
    expect(first.endMs - first.startMs).toBeGreaterThanOrEqual(1_000);
    expect(clock.shortByMs()).toBe(1_000);
  });

  it('a stall skips the grid points it missed instead of catching up with short intervals', () => {
    const c = new FakeClocks();
    const clock = new IntervalClock(10_000, c);
    const lengths = [34_000, 0, 0].map((late) => tick(c, clock, late)).map((i) => i.endMs - i.startMs);
    expect(lengths).toEqual([44_000, 6_000, 10_000]);
  });

  it('a stall past the maximum is stamped as the maximum ending when it was read, and the rest chains on', () => {
    const c = new FakeClocks();
    const clock = new IntervalClock(INTERVAL_MAX_MS, c);
    const t0 = c.wallMs;
    const a = tick(c, clock, 5_000);
    expect(a).toEqual({
      startMs: t0 + 4_000,
      endMs: t0 + INTERVAL_MAX_MS + 4_000,
      steppedMs: 0,
      cutMs: 4_000,
    });
    const b = tick(c, clock, 0);
    expect(b.startMs).toBe(a.endMs);
    expect(b.endMs - b.startMs).toBeLessThanOrEqual(INTERVAL_MAX_MS);
    expect(b.cutMs).toBe(0);
  });

  it('keeps every interval within the schema bounds and chained under random delays, and keeps the grid', () => {
    let seed = 12345;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (const intervalMs of [INTERVAL_MIN_MS, 1_500, 10_000, INTERVAL_MAX_MS]) {
      const c = new FakeClocks();
      c.advance(random()); // fractional monotonic start
      const clock = new IntervalClock(intervalMs, c);
      const origin = c.monoMs;
      let prev: ClosedInterval | null = null;
      for (let i = 0; i < 2_000; i++) {
        // mostly a few ms early or late, sometimes a loaded machine's second, now and then a long stall
        const r = random();
        const late = r < 0.7 ? random() * 4 - 2 : r < 0.97 ? random() * 1_500 : random() * intervalMs * 3;
        const iv = tick(c, clock, late, random() * 0.9);
        expect(iv.endMs - iv.startMs).toBeGreaterThanOrEqual(INTERVAL_MIN_MS);
        expect(iv.endMs - iv.startMs).toBeLessThanOrEqual(INTERVAL_MAX_MS);
        if (prev && !iv.cutMs) expect(iv.startMs).toBe(prev.endMs);
        prev = iv;
      }
      if (intervalMs === 10_000) {
        // on time again: the next end is a grid point
        const iv = tick(c, clock, 0);
        const sinceOrigin = c.monoMs - origin;
        expect(Math.abs(sinceOrigin - Math.round(sinceOrigin / intervalMs) * intervalMs)).toBeLessThan(1e-6);
        expect(iv.cutMs).toBe(0);
      }
    }
  });
});
