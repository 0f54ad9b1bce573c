// Interval lengths and scheduling on the monotonic clock, with a fake clock whose wall time steps.
import { IntervalClock, type Clocks } from './interval-clock';

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
    expect(a).toEqual({ startMs: t0, endMs: t0 + 10_003, steppedMs: 0 });
    expect(b).toEqual({ startMs: a.endMs, endMs: a.endMs + 9_998, steppedMs: 0 });
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
      expect(b).toEqual({ startMs: a.endMs, endMs: a.endMs + 10_000, steppedMs: 0 });
    }
  });

  it('schedules ticks on the monotonic grid: a wall step neither fires the next tick at once nor delays it', () => {
    const c = new FakeClocks();
    const clock = new IntervalClock(10_000, c);
    c.advance(2_500);
    expect(clock.delayToTick(1)).toBe(7_500);
    c.wallMs += 3_600_000;
    expect(clock.delayToTick(1)).toBe(7_500);
    c.wallMs -= 7_200_000;
    expect(clock.delayToTick(1)).toBe(7_500);
    c.advance(8_000); // a late tick does not shift the grid
    expect(clock.delayToTick(2)).toBe(9_500);
    expect(clock.elapsedMs()).toBe(10_500);
  });
});
