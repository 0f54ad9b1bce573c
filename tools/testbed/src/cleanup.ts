// One place that undoes what the testbed made, whatever way the process ends: tasks run last-registered first
// (agents stop before their namespaces go), asynchronously on SIGINT/SIGTERM/SIGHUP and synchronously on exit.

export interface CleanupTask {
  name: string;
  /** Graceful undo (e.g. SIGTERM an agent and wait for it). */
  run: () => void | Promise<void>;
  /** Last-resort undo that cannot wait (process 'exit' handlers must be synchronous). */
  runSync: () => void;
}

const tasks: CleanupTask[] = [];
let installed = false;
let exiting = false;

const SIGNALS: Array<[NodeJS.Signals, number]> = [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
];

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => runAllSync());
  for (const [sig, code] of SIGNALS) {
    process.on(sig, () => {
      if (exiting) return; // a second signal while cleaning up: let the current pass finish
      exiting = true;
      process.stderr.write(`\ntestbed: ${sig}, cleaning up\n`);
      void runAll().finally(() => process.exit(code));
    });
  }
}

/** Registers a task; returns a function that runs it now (gracefully) and unregisters it. */
export function onCleanup(task: CleanupTask): () => Promise<void> {
  install();
  tasks.push(task);
  return async () => {
    const i = tasks.indexOf(task);
    if (i < 0) return;
    tasks.splice(i, 1);
    await task.run();
  };
}

/** Drops a task without running it (its owner already undid the work). */
export function forgetCleanup(name: string): void {
  const i = tasks.findIndex((t) => t.name === name);
  if (i >= 0) tasks.splice(i, 1);
}

/** True once a signal started the cleanup: loops should stop starting new work. */
export function isExiting(): boolean {
  return exiting;
}

let pass: Promise<void> | null = null;

/** Runs every pending task, newest first; failures are reported and the next task still runs. Concurrent callers
 *  share one pass, so a signal and a failing main loop never undo the same thing twice or exit halfway. */
export function runAll(): Promise<void> {
  pass ??= runPass().finally(() => {
    pass = null;
  });
  return pass;
}

async function runPass(): Promise<void> {
  while (tasks.length > 0) {
    const t = tasks.pop()!;
    try {
      await t.run();
    } catch (err) {
      process.stderr.write(`testbed: cleanup "${t.name}" failed: ${(err as Error).message}; forcing\n`);
      try {
        t.runSync();
      } catch (err2) {
        process.stderr.write(`testbed: forced cleanup "${t.name}" failed: ${(err2 as Error).message}\n`);
      }
    }
  }
}

function runAllSync(): void {
  while (tasks.length > 0) {
    const t = tasks.pop()!;
    try {
      t.runSync();
    } catch (err) {
      process.stderr.write(`testbed: cleanup "${t.name}" failed: ${(err as Error).message}\n`);
    }
  }
}
