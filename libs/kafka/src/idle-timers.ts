// kafkajs 2.2.4 re-arms a 1 ms timer in every connection's request queue even when nothing is pending or throttled:
// checkPendingRequests() always reschedules itself, and throttledUntil starts at -1, so the computed delay is negative
// and Node clamps it to 1 ms. Every idle connection of every client (producer, consumer, admin) spins that timer:
// ~3.5 % of a core for the edge agent's producer, 4.9 % and ~3,000 timers per second for an idle aggregator
// (bench/aggregator/idle.js).

/** The kafkajs internals this patch relies on (kafkajs/src/network/requestQueue, 2.2.x). */
interface RequestQueueProto {
  pending: unknown[];
  throttledUntil: number;
  scheduleCheckPendingRequests(): void;
  __tmaPatched?: boolean;
}

/**
 * Stops kafkajs' request queues from polling while idle: the pending-request check is scheduled only when a request
 * is pending or the broker is throttling the connection; push() and throttle responses still schedule it as before,
 * so requests flow exactly as without the patch.
 *
 * Patches the shared RequestQueue prototype, so it covers every kafkajs client in the process, including ones
 * created earlier. Idempotent; meant to be called by a process at start-up (apps/aggregator's main.ts does), not
 * by a library at import.
 */
export function patchKafkajsIdleTimers(): void {
  // A deep require: the class is not part of kafkajs' public API.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const RequestQueue = require('kafkajs/src/network/requestQueue') as { prototype: RequestQueueProto };
  const proto = RequestQueue.prototype;
  if (proto.__tmaPatched) return;
  const schedule = proto.scheduleCheckPendingRequests;
  proto.scheduleCheckPendingRequests = function (this: RequestQueueProto) {
    if (this.pending.length === 0 && !(this.throttledUntil > Date.now())) return;
    schedule.call(this);
  };
  proto.__tmaPatched = true;
}
