// Integration: the real broker started by the test run's global setup (or TMA_KAFKA_BROKERS). Jest gives each spec
// file its own module registry, so kafkajs starts unpatched here whatever other files did.
import { createHook } from 'node:async_hooks';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { loadKafkaSettings } from './config';
import { patchKafkajsIdleTimers } from './idle-timers';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const RequestQueue = require('kafkajs/src/network/requestQueue') as {
  prototype: { scheduleCheckPendingRequests(): void; __tmaPatched?: boolean };
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Timers armed in the process during `ms` of idle wall time (the sleep's own timer excluded). */
async function timersArmedDuring(ms: number): Promise<number> {
  let armed = 0;
  const hook = createHook({ init: (_id, type) => void (type === 'Timeout' && armed++) }).enable();
  await sleep(ms);
  hook.disable();
  return armed - 1;
}

describe('patchKafkajsIdleTimers', () => {
  let admin: Admin;

  beforeAll(async () => {
    const settings = loadKafkaSettings(process.env, 'tma-kafka-idle-spec');
    admin = new Kafka({ ...settings, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.listTopics();
  });
  afterAll(async () => {
    await admin?.disconnect();
  });

  it('stops an idle connection from re-arming a timer every millisecond, and requests still flow', async () => {
    expect(RequestQueue.prototype.__tmaPatched).toBeUndefined();
    await sleep(100);
    // Unpatched: the idle request queue polls itself (about once per ms, fewer on a busy machine).
    const before = await timersArmedDuring(1000);
    expect(before).toBeGreaterThan(100);

    patchKafkajsIdleTimers();
    await sleep(100); // the timer already armed fires once more, then the loop stops
    expect(await timersArmedDuring(1000)).toBeLessThanOrEqual(2);

    // A request still gets its pending check and its answer; afterwards the connection is quiet again.
    expect(Array.isArray(await admin.listTopics())).toBe(true);
    await sleep(100);
    expect(await timersArmedDuring(1000)).toBeLessThanOrEqual(2);
  });

  it('patches once however often it is called', () => {
    patchKafkajsIdleTimers();
    const patched = RequestQueue.prototype.scheduleCheckPendingRequests;
    patchKafkajsIdleTimers();
    expect(RequestQueue.prototype.__tmaPatched).toBe(true);
    expect(RequestQueue.prototype.scheduleCheckPendingRequests).toBe(patched);
  });

  it('still schedules the check while the broker throttles or a request is pending', () => {
    patchKafkajsIdleTimers();
    const schedule = RequestQueue.prototype.scheduleCheckPendingRequests;
    const queue = (pending: unknown[], throttledUntil: number) => ({
      pending,
      throttledUntil,
      throttleCheckTimeoutId: null as NodeJS.Timeout | null,
      checkPendingRequests() {},
    });
    const idle = queue([], -1);
    schedule.call(idle);
    expect(idle.throttleCheckTimeoutId).toBeNull();
    for (const q of [queue([], Date.now() + 60_000), queue([{}], -1)]) {
      schedule.call(q);
      expect(q.throttleCheckTimeoutId).not.toBeNull();
      clearTimeout(q.throttleCheckTimeoutId!);
    }
  });
});
