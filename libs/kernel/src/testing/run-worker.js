// Worker thread for the epoch test (TEST_RUN_WORKER): runs BPF_PROG_TEST_RUN in a loop (as traffic would) until told
// to stop, and reports how many packets it pushed through. Plain JS so the worker needs no TypeScript loader.
const { parentPort, workerData } = require('node:worker_threads');
const { bpfTestRun, setThreadAffinity } = require('./test-run');

const { progFd, frames, repeat, stop } = workerData;
// threads inherit the test's CPU pin: let this one run anywhere, so the kernel writes from whatever CPU it lands on
setThreadAffinity(null);
const stopFlag = new Int32Array(stop);
let packets = 0;
let i = 0;
while (Atomics.load(stopFlag, 0) === 0) {
  if (bpfTestRun(progFd, frames[i++ % frames.length], repeat).rc !== 0) throw new Error('test run failed');
  packets += repeat;
}
parentPort.postMessage(packets);
