// Types of test-run.js (plain JS so worker threads can load it).
export interface TestRunResult {
  /** libbpf's return code: 0, or -errno */
  rc: number;
  retval: number;
  /** average ns per repetition, as measured by the kernel */
  duration: number;
}
/** BPF_PROG_TEST_RUN of one frame, `repeat` times; `ctx`: a struct __sk_buff for TC programs. */
export function bpfTestRun(progFd: number, frame: Uint8Array, repeat: number, ctx?: Uint8Array): TestRunResult;
/** Binds the calling thread to `cpus` (null: every CPU); sched_setaffinity's result. */
export function setThreadAffinity(cpus: number[] | null): number;
