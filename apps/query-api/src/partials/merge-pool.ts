// Merges off the event loop: a fixed set of worker threads (merge-worker.ts) running merge tasks (merge-tasks.ts)
// on decoded sketches copied to them (sketch-wire.ts; results come back moved, not copied). One task
// per worker at a time; the rest wait in one bounded queue (full: 503, so a burst is refused rather than queued
// for minutes). A task still waiting when its request's client goes away is dropped (request-signal.ts); a running
// one finishes (a merge is short) and its result is discarded. close() refuses new and waiting tasks, lets the
// running ones finish and stops the threads. A worker that dies fails its task and is replaced.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ServiceUnavailableException } from '@nestjs/common';
import type { HashSeed } from '@tma/sketch';
import { RequestCancelledError, requestSignal } from '../common/request-signal';
import type { MergeKind, MergeTasks } from './merge-tasks';

export interface MergePoolOptions {
  workers: number;
  /** Most tasks waiting for a worker; more are refused with 503. */
  queue: number;
  seed: HashSeed;
}

interface Task {
  kind: MergeKind;
  args: unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

interface Slot {
  worker: Worker;
  task?: Task;
}

/**
 * The compiled worker script. Run from the TypeScript sources (the test runner), the build output is used: a
 * worker thread runs JavaScript.
 */
export function workerScript(): string {
  const here = join(__dirname, 'merge-worker.js');
  if (existsSync(here)) return here;
  const built = join(__dirname, '../../dist/partials/merge-worker.js');
  if (existsSync(built)) return built;
  throw new Error(`merge worker script not found (${here}); build the query API (tsc -b apps/query-api)`);
}

export class MergePool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Task[] = [];
  private nextId = 1;
  private closing = false;
  private readonly script = workerScript();
  /** Tasks run and refused, for /metrics. */
  readonly counts = { run: 0, refused: 0, cancelled: 0 };

  constructor(private readonly options: MergePoolOptions) {
    for (let i = 0; i < options.workers; i++) this.slots.push(this.spawn());
  }

  get size(): number {
    return this.slots.length;
  }

  get queued(): number {
    return this.waiting.length;
  }

  get busy(): number {
    return this.slots.filter((s) => s.task).length;
  }

  private spawn(): Slot {
    const worker = new Worker(this.script, { workerData: { seed: this.options.seed } });
    const slot: Slot = { worker };
    worker.on('message', (m: { result?: unknown; error?: { name: string; message: string; stack?: string } }) => {
      const task = slot.task;
      slot.task = undefined;
      if (task) {
        task.signal?.removeEventListener('abort', task.onAbort!);
        if (m.error)
          task.reject(Object.assign(new Error(m.error.message), { name: m.error.name, stack: m.error.stack }));
        else if (task.signal?.aborted) task.reject(new RequestCancelledError());
        else task.resolve(m.result);
      }
      this.dispatch();
    });
    const fail = (e: Error) => {
      const task = slot.task;
      slot.task = undefined;
      task?.reject(e);
      const i = this.slots.indexOf(slot);
      if (i >= 0 && !this.closing) {
        this.slots[i] = this.spawn();
        this.dispatch();
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (!this.closing) fail(new Error(`merge worker exited (code ${code})`));
    });
    // Idle workers do not keep the process alive.
    worker.unref();
    return slot;
  }

  /** Runs one merge task on a worker; rejects with 503 when the queue is full, or when the pool is closing. */
  run<K extends MergeKind>(kind: K, args: MergeTasks[K][0]): Promise<MergeTasks[K][1]> {
    if (this.closing) return Promise.reject(new ServiceUnavailableException('the query API is stopping'));
    const signal = requestSignal();
    if (signal?.aborted) return Promise.reject(new RequestCancelledError());
    if (this.waiting.length >= this.options.queue && !this.slots.some((s) => !s.task)) {
      this.counts.refused++;
      return Promise.reject(
        new ServiceUnavailableException(`merge queue full (${this.options.queue} waiting): retry shortly`),
      );
    }
    return new Promise((resolve, reject) => {
      const task: Task = { kind, args, resolve: resolve as (v: unknown) => void, reject, signal };
      if (signal) {
        task.onAbort = () => {
          const i = this.waiting.indexOf(task);
          if (i >= 0) {
            this.waiting.splice(i, 1);
            this.counts.cancelled++;
            reject(new RequestCancelledError());
          }
        };
        signal.addEventListener('abort', task.onAbort, { once: true });
      }
      this.waiting.push(task);
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.task) continue;
      const task = this.waiting.shift();
      if (!task) return;
      slot.task = task;
      this.counts.run++;
      slot.worker.ref();
      slot.worker.postMessage({ id: this.nextId++, kind: task.kind, args: task.args });
    }
    for (const slot of this.slots) if (!slot.task) slot.worker.unref();
  }

  /** Refuses waiting and new tasks, waits for the running ones (at most `graceMs`), then stops the threads. */
  async close(graceMs = 10_000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const task of this.waiting.splice(0))
      task.reject(new ServiceUnavailableException('the query API is stopping'));
    const deadline = Date.now() + graceMs;
    while (this.slots.some((s) => s.task) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    for (const s of this.slots) s.task?.reject(new ServiceUnavailableException('the query API is stopping'));
  }
}
