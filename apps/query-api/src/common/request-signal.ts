// The signal of the request being answered: aborted when its client goes away before the answer is sent, so work
// queued for it (merge-pool.ts) is dropped instead of done for nobody. Carried by AsyncLocalStorage from the
// request hook (app.ts) to the merges, without threading it through every service.
import { AsyncLocalStorage } from 'node:async_hooks';

const requests = new AsyncLocalStorage<AbortSignal>();

/** Runs `fn` (and everything it starts) as the work of a request with this signal. */
export function withRequestSignal<T>(signal: AbortSignal, fn: () => T): T {
  return requests.run(signal, fn);
}

/** The current request's signal, or undefined outside a request (start-up, timers) or where the context was lost. */
export function requestSignal(): AbortSignal | undefined {
  return requests.getStore();
}

/** A request's work stopped because its client went away. */
export class RequestCancelledError extends Error {
  override name = 'RequestCancelledError';
  constructor() {
    super('the client went away before the answer was ready');
  }
}
