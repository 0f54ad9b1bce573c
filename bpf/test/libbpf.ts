// The kernel tests load and read the object through the edge agent's own libbpf binding (one declaration of every C
// signature). Only what tests alone need is declared here: BPF_PROG_TEST_RUN and pinning the caller to a CPU.
import koffi from 'koffi';
import { ffi as agentFfi, check } from '../../apps/edge-agent/src/kernel/libbpf';

export { check, LibbpfError, possibleCpus, u32 } from '../../apps/edge-agent/src/kernel/libbpf';

const lib = koffi.load('libbpf.so.1');
const libc = koffi.load('libc.so.6');

/** struct bpf_test_run_opts of libbpf 1.x (sz first, so newer libbpf versions accept it unchanged). */
// Anonymous struct type: Jest evaluates this module once per test file in one process, and koffi's type names are
// process-wide.
const TestRunOpts = koffi.struct({
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

export const ffi = {
  ...agentFfi,
  testRun: lib.func('bpf_prog_test_run_opts', 'int', ['int', koffi.inout(koffi.pointer(TestRunOpts))]),
  setAffinity: libc.func('int sched_setaffinity(int pid, size_t size, const uint8_t *mask)'),
};

export const TEST_RUN_OPTS_SIZE = koffi.sizeof(TestRunOpts);

export interface RunResult {
  retval: number;
  /** average ns per repetition, as measured by the kernel */
  duration: number;
}

/** BPF_PROG_TEST_RUN of one frame, `repeat` times. */
export function testRun(progFd: number, frame: Uint8Array, repeat = 1): RunResult {
  const opts = {
    sz: TEST_RUN_OPTS_SIZE,
    data_in: frame.length ? frame : null,
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
  check('bpf_prog_test_run_opts', ffi.testRun(progFd, opts));
  return { retval: opts.retval, duration: opts.duration };
}

/** Pins the calling thread to one CPU: BPF_PROG_TEST_RUN runs on the caller's CPU, and per-CPU state (the
 * candidate table, the CMS estimate that admits a flow) is only deterministic when every run lands on the same one. */
export function pinToCpu(cpu: number): void {
  const mask = new Uint8Array(128);
  mask[cpu >> 3] |= 1 << (cpu & 7);
  if (ffi.setAffinity(0, mask.length, mask) !== 0) throw new Error(`sched_setaffinity: ${ffi.strerror(ffi.errno())}`);
}
