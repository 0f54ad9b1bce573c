// Threat detection end to end on real parts, benign traffic only: simulated hosts → real Kafka → aggregator
// (rollups, then the detectors once per window) → embedded chDB. Nothing may be alerted.
import { detectAll, publish, ROUNDS_PER_WINDOW } from './support/threats';
import { useTestBed } from './support/test-bed';

jest.setTimeout(240_000);

const bed = useTestBed({ name: 'threats-benign', partitions: 4, hosts: 6, seed: 71, minutesAgo: 16 });

describe('threat detection end to end, benign', () => {
  it('a benign mix over 14 windows: every window evaluated once, 0 alerts', async () => {
    await publish(bed, 14 * ROUNDS_PER_WINDOW);
    expect(await detectAll(bed, 14)).toEqual([]);
  });
});
