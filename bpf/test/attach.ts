// Attaching the TMA programs to interfaces through libbpf's netlink APIs: TC clsact (ingress + egress, the
// default) and XDP (native or generic). Netlink attachments outlive the process, so detach() (or detachAll at the
// next start) must always run. Test helper for now; the edge agent carries its own copy.
import koffi from 'koffi';
import { check, ffi } from './libbpf';

const lib = koffi.load('libbpf.so.1');
const libc = koffi.load('libc.so.6');

/** struct bpf_tc_hook and struct bpf_tc_opts of libbpf 1.x (sz first; trailing `size_t :0` pads to 8). */
const TcHook = koffi.struct({
  sz: 'size_t',
  ifindex: 'int',
  attach_point: 'int',
  parent: 'uint32_t',
  _pad: 'uint32_t',
});
const TcOpts = koffi.struct({
  sz: 'size_t',
  prog_fd: 'int',
  flags: 'uint32_t',
  prog_id: 'uint32_t',
  handle: 'uint32_t',
  priority: 'uint32_t',
  _pad: 'uint32_t',
});

const api = {
  hookCreate: lib.func('bpf_tc_hook_create', 'int', [koffi.pointer(TcHook)]),
  tcAttach: lib.func('bpf_tc_attach', 'int', [koffi.pointer(TcHook), koffi.inout(koffi.pointer(TcOpts))]),
  tcDetach: lib.func('bpf_tc_detach', 'int', [koffi.pointer(TcHook), koffi.pointer(TcOpts)]),
  tcQuery: lib.func('bpf_tc_query', 'int', [koffi.pointer(TcHook), koffi.inout(koffi.pointer(TcOpts))]),
  xdpAttach: lib.func('int bpf_xdp_attach(int ifindex, int prog_fd, uint32_t flags, void *opts)'),
  xdpDetach: lib.func('int bpf_xdp_detach(int ifindex, uint32_t flags, void *opts)'),
  ifIndex: libc.func('unsigned int if_nametoindex(const char *name)'),
  open: libc.func('int open(const char *path, int flags)'),
  close: libc.func('int close(int fd)'),
  setns: libc.func('int setns(int fd, int nstype)'),
};

export const TC_INGRESS = 1;
export const TC_EGRESS = 2;
const EEXIST = 17;
const ENOENT = 2;
export const XDP_FLAGS_SKB_MODE = 1 << 1;
export const XDP_FLAGS_DRV_MODE = 1 << 2;
/** Fixed handle/priority: our filter is recognisable (and replaceable) after a crash. */
export const TMA_TC_HANDLE = 0x746d;
export const TMA_TC_PRIORITY = 0x746d;

export function ifindex(name: string): number {
  const i = api.ifIndex(name);
  if (!i) throw new Error(`no interface ${name}`);
  return i;
}

const hook = (ifi: number, point: number) => ({
  sz: koffi.sizeof(TcHook),
  ifindex: ifi,
  attach_point: point,
  parent: 0,
  _pad: 0,
});
const opts = (progFd: number, flags = 0) => ({
  sz: koffi.sizeof(TcOpts),
  prog_fd: progFd,
  flags,
  prog_id: 0,
  handle: TMA_TC_HANDLE,
  priority: TMA_TC_PRIORITY,
  _pad: 0,
});

/** clsact on `dev` (created if missing) with our filter on ingress and egress, replacing a stale one of ours. */
export function attachTc(dev: string, progFd: number): void {
  const ifi = ifindex(dev);
  const rc = api.hookCreate(hook(ifi, TC_INGRESS));
  if (rc < 0 && rc !== -EEXIST) check(`clsact on ${dev}`, rc);
  for (const point of [TC_INGRESS, TC_EGRESS])
    check(`tc attach ${dev}`, api.tcAttach(hook(ifi, point), opts(progFd, 1 /* BPF_TC_F_REPLACE */)));
}

/** Removes our filters (only ours: the clsact qdisc may carry other programs). Absent filters are not an error. */
export function detachTc(dev: string): void {
  const ifi = ifindex(dev);
  for (const point of [TC_INGRESS, TC_EGRESS]) {
    const o = { ...opts(0), prog_fd: 0 };
    const rc = api.tcDetach(hook(ifi, point), o);
    if (rc < 0 && rc !== -ENOENT && rc !== -22 /* no clsact: EINVAL */) check(`tc detach ${dev}`, rc);
  }
}

/** Program id of our TC filter at `point`, or 0. */
export function queryTc(dev: string, point: number): number {
  const o = { ...opts(0), prog_fd: 0 };
  const rc = api.tcQuery(hook(ifindex(dev), point), o);
  return rc < 0 ? 0 : o.prog_id;
}

export function attachXdp(dev: string, progFd: number, mode: 'native' | 'generic'): void {
  check(
    `xdp attach ${dev}`,
    api.xdpAttach(ifindex(dev), progFd, mode === 'native' ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE, null),
  );
}

export function detachXdp(dev: string, mode: 'native' | 'generic'): void {
  check(
    `xdp detach ${dev}`,
    api.xdpDetach(ifindex(dev), mode === 'native' ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE, null),
  );
}

/** Runs fn with this thread in the network namespace /run/netns/<name> (netlink calls act there), then returns. */
export function inNetns<T>(name: string, fn: () => T): T {
  const CLONE_NEWNET = 0x40000000;
  const home = api.open('/proc/thread-self/ns/net', 0);
  const target = api.open(`/run/netns/${name}`, 0);
  if (home < 0 || target < 0) throw new Error(`cannot open network namespace ${name}: ${ffi.strerror(ffi.errno())}`);
  try {
    check(`setns ${name}`, api.setns(target, CLONE_NEWNET) === 0 ? 0 : -ffi.errno());
    try {
      return fn();
    } finally {
      check('setns back', api.setns(home, CLONE_NEWNET) === 0 ? 0 : -ffi.errno());
    }
  } finally {
    api.close(target);
    api.close(home);
  }
}
