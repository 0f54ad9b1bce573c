// The kernel tests load and read the object through the edge agent's own libbpf binding (one declaration of every C
// signature). Only what tests alone need is declared here: netlink XDP attachment and network namespaces; BPF_PROG_TEST_RUN
// and CPU pinning come from test-run.js, which the epoch test's worker thread shares.
import koffi from 'koffi';
import { ffi as agentFfi, check } from '../../apps/edge-agent/src/kernel/libbpf';
import { bpfTestRun, setThreadAffinity } from './test-run';

export {
  BPF_TC_EGRESS,
  BPF_TC_F_REPLACE,
  BPF_TC_INGRESS,
  check,
  EEXIST,
  EINVAL,
  ENOENT,
  LibbpfError,
  possibleCpus,
  TC_HOOK_SIZE,
  TC_OPTS_SIZE,
  u32,
  XDP_FLAGS_DRV_MODE,
  XDP_FLAGS_SKB_MODE,
} from '../../apps/edge-agent/src/kernel/libbpf';

const lib = koffi.load('libbpf.so.1');
const libc = koffi.load('libc.so.6');

export const ffi = {
  ...agentFfi,
  // netlink XDP attachment and namespaces: the agent attaches by links, the attach tests also cover netlink
  xdpAttach: lib.func('int bpf_xdp_attach(int ifindex, int prog_fd, uint32_t flags, void *opts)'),
  xdpDetach: lib.func('int bpf_xdp_detach(int ifindex, uint32_t flags, void *opts)'),
  ifIndex: libc.func('unsigned int if_nametoindex(const char *name)'),
  open: libc.func('int open(const char *path, int flags)'),
  setns: libc.func('int setns(int fd, int nstype)'),
};

export interface RunResult {
  retval: number;
  /** average ns per repetition, as measured by the kernel */
  duration: number;
}

/** BPF_PROG_TEST_RUN of one frame, `repeat` times. */
export function testRun(progFd: number, frame: Uint8Array, repeat = 1): RunResult {
  const r = bpfTestRun(progFd, frame, repeat);
  check('bpf_prog_test_run_opts', r.rc);
  return { retval: r.retval, duration: r.duration };
}

/** Pins the calling thread to one CPU: BPF_PROG_TEST_RUN runs on the caller's CPU, and per-CPU state (the
 * candidate table, the CMS estimate that admits a flow) is only deterministic when every run lands on the same one. */
export function pinToCpu(cpu: number): void {
  if (setThreadAffinity([cpu]) !== 0) throw new Error(`sched_setaffinity: ${ffi.strerror(ffi.errno())}`);
}
