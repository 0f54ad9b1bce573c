// BPF_PROG_TEST_RUN and CPU affinity through libbpf / libc, in plain JS so the epoch test's worker thread (which has
// no TypeScript loader) and the TypeScript tests share one declaration.
'use strict';
const koffi = require('koffi');

const lib = koffi.load('libbpf.so.1');
const libc = koffi.load('libc.so.6');

// struct bpf_test_run_opts of libbpf 1.x (sz first, so newer libbpf versions accept it unchanged). Anonymous struct
// type: Jest evaluates this module once per test file in one process, and koffi's type names are process-wide.
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
const OPTS_SIZE = koffi.sizeof(Opts);
const run = lib.func('bpf_prog_test_run_opts', 'int', ['int', koffi.inout(koffi.pointer(Opts))]);
const setAffinity = libc.func('int sched_setaffinity(int pid, size_t size, const uint8_t *mask)');

// ctx: optional struct __sk_buff (TC) the runner copies in (gso_segs, gso_size, ifindex, ... are honoured).
function bpfTestRun(progFd, frame, repeat, ctx) {
  const opts = {
    sz: OPTS_SIZE,
    data_in: frame.length ? frame : null,
    data_out: null,
    data_size_in: frame.length,
    data_size_out: 0,
    ctx_in: ctx ?? null,
    ctx_out: null,
    ctx_size_in: ctx ? ctx.length : 0,
    ctx_size_out: 0,
    retval: 0,
    repeat,
    duration: 0,
    flags: 0,
    cpu: 0,
    batch_size: 0,
  };
  const rc = run(progFd, opts);
  return { rc, retval: opts.retval, duration: opts.duration };
}

/** `cpus` null: every CPU; else a list of CPU numbers. Returns sched_setaffinity's result (0 or -1). */
function setThreadAffinity(cpus) {
  const mask = new Uint8Array(128);
  if (cpus === null) mask.fill(0xff);
  else for (const cpu of cpus) mask[cpu >> 3] |= 1 << (cpu & 7);
  return setAffinity(0, mask.length, mask);
}

module.exports = { bpfTestRun, setThreadAffinity };
