// The demo attack schedule: quiet through the detectors' warm-up, then attacks on host 0 only, on a fixed period.
import { ATTACK_SCHEDULE, attacking, roundAttacks } from './scenario';

const MIN = 60_000;

describe('demo attack scenario', () => {
  it('stays quiet through the warm-up, then attacks for two minutes every ten', () => {
    const on = (m: number): boolean => attacking(m * MIN);
    expect([0, 1, 5, 5.99].map(on)).toEqual([false, false, false, false]);
    expect([6, 7, 7.99].map(on)).toEqual([true, true, true]);
    expect([8, 12, 15.99].map(on)).toEqual([false, false, false]);
    expect([16, 17.5, 18, 26].map(on)).toEqual([true, true, false, true]);
  });

  it('puts the scan and the flood on host 0 only, and nothing outside an attack', () => {
    expect(roundAttacks(6.5 * MIN, 0)).toEqual({
      scanPorts: ATTACK_SCHEDULE.scanPorts,
      floodSources: ATTACK_SCHEDULE.floodSources,
    });
    expect(roundAttacks(6.5 * MIN, 1)).toEqual({ scanPorts: 0, floodSources: 0 });
    expect(roundAttacks(2 * MIN, 0)).toEqual({ scanPorts: 0, floodSources: 0 });
  });
});
