// Thin koffi binding to libbpf.so.1: just what loading the TMA object, BPF_PROG_TEST_RUN and map reads need.
import koffi from 'koffi';

const lib = koffi.load('libbpf.so.1');
const libc = koffi.load('libc.so.6');

/** struct bpf_test_run_opts of libbpf 1.x (sz first, so newer libbpf versions accept it unchanged). */
// Anonymous struct types: Jest evaluates this module once per test file in one process, and koffi's type names are
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

const BatchOpts = koffi.struct({ sz: 'size_t', elem_flags: 'uint64_t', flags: 'uint64_t' });

export const ffi = {
  openFile: lib.func('void *bpf_object__open_file(const char *path, void *opts)'),
  load: lib.func('int bpf_object__load(void *obj)'),
  close: lib.func('void bpf_object__close(void *obj)'),
  findProgram: lib.func('void *bpf_object__find_program_by_name(void *obj, const char *name)'),
  programFd: lib.func('int bpf_program__fd(void *prog)'),
  findMap: lib.func('void *bpf_object__find_map_by_name(void *obj, const char *name)'),
  findMapFd: lib.func('int bpf_object__find_map_fd_by_name(void *obj, const char *name)'),
  mapValueSize: lib.func('uint32_t bpf_map__value_size(void *map)'),
  setInitialValue: lib.func('int bpf_map__set_initial_value(void *map, const void *data, size_t size)'),
  initialValue: lib.func('void *bpf_map__initial_value(void *map, _Out_ size_t *psize)'),
  numPossibleCpus: lib.func('int libbpf_num_possible_cpus(void)'),
  testRun: lib.func('bpf_prog_test_run_opts', 'int', ['int', koffi.inout(koffi.pointer(TestRunOpts))]),
  lookup: lib.func('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
  update: lib.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
  lookupBatch: lib.func('bpf_map_lookup_batch', 'int', [
    'int',
    'void *',
    'void *',
    'void *',
    'void *',
    koffi.inout(koffi.pointer('uint32_t')),
    koffi.pointer(BatchOpts),
  ]),
  strerror: libc.func('const char *strerror(int errnum)'),
  setAffinity: libc.func('int sched_setaffinity(int pid, size_t size, const uint8_t *mask)'),
  errno: () => koffi.errno(),
};

export const BATCH_OPTS = { sz: koffi.sizeof(BatchOpts), elem_flags: 0n, flags: 0n };
export const TEST_RUN_OPTS_SIZE = koffi.sizeof(TestRunOpts);

export class LibbpfError extends Error {
  constructor(what: string, code: number) {
    super(`${what}: ${code < 0 ? ffi.strerror(-code) : ffi.strerror(ffi.errno())} (${code})`);
  }
}

export function check(what: string, rc: number): void {
  if (rc < 0) throw new LibbpfError(what, rc);
}

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

export const possibleCpus = (): number => ffi.numPossibleCpus();

/** Pins the calling thread to one CPU: BPF_PROG_TEST_RUN runs on the caller's CPU, and per-CPU state (the
 * candidate table, the CMS estimate that admits a flow) is only deterministic when every run lands on the same one. */
export function pinToCpu(cpu: number): void {
  const mask = new Uint8Array(128);
  mask[cpu >> 3] |= 1 << (cpu & 7);
  if (ffi.setAffinity(0, mask.length, mask) !== 0) throw new Error(`sched_setaffinity: ${ffi.strerror(ffi.errno())}`);
}
