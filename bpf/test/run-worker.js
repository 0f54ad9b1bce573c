// Worker thread for the epoch test: runs BPF_PROG_TEST_RUN in a loop (as traffic would) until told to stop, and
// reports how many packets it pushed through. Plain JS so the worker needs no TypeScript loader.
const { parentPort, workerData } = require('node:worker_threads');
const koffi = require('koffi');

const lib = koffi.load('libbpf.so.1');
const Opts = koffi.struct({
  sz: 'size_t',
  data_in: 'uint8_t *',
  data_out: 'uint8_t *',
  data_size_in: 'uint32_t',
  data_size_out: 'uint32_t',
  ctx_in: 'uint8_t *',
  ctx_out: 'uint8_t *',
  ctx_size_in: 'uint32_t',
  ctx_size_out: 'uint32_t',
  retval: 'uint32_t',
  repeat: 'int',
  duration: 'uint32_t',
  flags: 'uint32_t',
  cpu: 'int',
  batch_size: 'uint32_t',
});
const testRun = lib.func('bpf_prog_test_run_opts', 'int', ['int', koffi.inout(koffi.pointer(Opts))]);

const { progFd, frames, repeat, stop } = workerData;
// threads inherit the test's CPU pin: let this one run anywhere, so the kernel writes from whatever CPU it lands on
koffi.load('libc.so.6').func('int sched_setaffinity(int pid, size_t size, const uint8_t *mask)')(
  0,
  128,
  new Uint8Array(128).fill(0xff),
);
const stopFlag = new Int32Array(stop);
let packets = 0;
let i = 0;
while (Atomics.load(stopFlag, 0) === 0) {
  const frame = frames[i++ % frames.length];
  const opts = {
    sz: koffi.sizeof(Opts),
    data_in: frame,
    data_out: null,
    data_size_in: frame.length,
    data_size_out: 0,
    ctx_in: null,
    ctx_out: null,
    ctx_size_in: 0,
    ctx_size_out: 0,
    retval: 0,
    repeat,
    duration: 0,
    flags: 0,
    cpu: 0,
    batch_size: 0,
  };
  if (testRun(progFd, opts) !== 0) throw new Error('test run failed');
  packets += repeat;
}
parentPort.postMessage(packets);
