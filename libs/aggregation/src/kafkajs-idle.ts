// kafkajs 2.2.4 re-arms a 1 ms timer in every connection's request queue even when nothing is pending or throttled
// (throttledUntil starts at -1, so the computed delay is negative): an idle aggregator (consumer, DLQ producer and
// admin connections) measured 4.9 % of a core and ~3,000 timers per second (bench/aggregator/idle.js). The check is
// scheduled only when there is something to check; push() and throttling still schedule it as before. The edge agent
// carries the same patch; the prototype is patched once per process whichever loads first.
interface RequestQueueProto {
  pending: unknown[];
  throttledUntil: number;
  scheduleCheckPendingRequests(): void;
  __tmaPatched?: boolean;
}

export function patchKafkajsIdleTimers(): void {
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
