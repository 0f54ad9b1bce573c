// A merge worker thread (merge-pool.ts): runs one merge task at a time (merge-tasks.ts) and answers with its
// result or its error. The deployment's hash seed comes with the thread's data: rankings hash candidate keys.
import { parentPort, workerData } from 'node:worker_threads';
import { useHashSeed } from '@tma/sketch';
import { type MergeKind, runTask, transferables } from './merge-tasks';

interface Request {
  id: number;
  kind: MergeKind;
  args: never;
}

useHashSeed((workerData as { seed: Parameters<typeof useHashSeed>[0] }).seed);
parentPort?.on('message', ({ id, kind, args }: Request) => {
  try {
    const result = runTask(kind, args);
    parentPort!.postMessage({ id, result }, transferables(result));
  } catch (e) {
    const err = e as Error;
    parentPort!.postMessage({ id, error: { name: err.name, message: err.message, stack: err.stack } });
  }
});
