// Netlink attachments for the kernel tests: the loader's TC filters (clsact, ingress + egress) driven by interface
// name, XDP by bpf_xdp_attach (native or generic; the agent attaches XDP by links only), and running netlink calls
// inside another network namespace. Netlink attachments outlive the process, so tests must always detach.
import koffi from 'koffi';
import {
  XDP_FLAGS_DRV_MODE,
  XDP_FLAGS_SKB_MODE,
  attachTcFilter,
  check,
  detachTcFilter,
  ffi,
  queryTcFilter,
  type AttachDirection,
} from '../index';

const lib = koffi.load('libbpf.so.1');
const libc = koffi.load('libc.so.6');

const nl = {
  xdpAttach: lib.func('int bpf_xdp_attach(int ifindex, int prog_fd, uint32_t flags, void *opts)'),
  xdpDetach: lib.func('int bpf_xdp_detach(int ifindex, uint32_t flags, void *opts)'),
  ifIndex: libc.func('unsigned int if_nametoindex(const char *name)'),
  open: libc.func('int open(const char *path, int flags)'),
  setns: libc.func('int setns(int fd, int nstype)'),
};

const DIRECTIONS: AttachDirection[] = ['INGRESS', 'EGRESS'];

export function ifindex(name: string): number {
  const i = nl.ifIndex(name);
  if (!i) throw new Error(`no interface ${name}`);
  return i;
}

/** clsact on `dev` (created if missing) with our filter on ingress and egress, replacing a stale one of ours. */
export function attachTc(dev: string, progFd: number): void {
  for (const dir of DIRECTIONS) attachTcFilter(ifindex(dev), dev, dir, progFd);
}

/** Removes our filters (only ours: the clsact qdisc may carry other programs). Absent filters are not an error. */
export function detachTc(dev: string): void {
  for (const dir of DIRECTIONS) detachTcFilter(ifindex(dev), dev, dir);
}

/** Program id of our TC filter in one direction, or 0. */
export function queryTc(dev: string, dir: AttachDirection): number {
  return queryTcFilter(ifindex(dev), dir);
}

const xdpFlags = (mode: 'native' | 'generic') => (mode === 'native' ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE);

export function attachXdp(dev: string, progFd: number, mode: 'native' | 'generic'): void {
  check(`xdp attach ${dev}`, nl.xdpAttach(ifindex(dev), progFd, xdpFlags(mode), null));
}

export function detachXdp(dev: string, mode: 'native' | 'generic'): void {
  check(`xdp detach ${dev}`, nl.xdpDetach(ifindex(dev), xdpFlags(mode), null));
}

/** Runs fn with this thread in the network namespace /run/netns/<name> (netlink calls act there), then returns. */
export function inNetns<T>(name: string, fn: () => T): T {
  const CLONE_NEWNET = 0x40000000;
  const home = nl.open('/proc/thread-self/ns/net', 0);
  const target = nl.open(`/run/netns/${name}`, 0);
  if (home < 0 || target < 0) throw new Error(`cannot open network namespace ${name}: ${ffi.strerror(ffi.errno())}`);
  try {
    check(`setns ${name}`, nl.setns(target, CLONE_NEWNET) === 0 ? 0 : -ffi.errno());
    try {
      return fn();
    } finally {
      check('setns back', nl.setns(home, CLONE_NEWNET) === 0 ? 0 : -ffi.errno());
    }
  } finally {
    ffi.closeFd(target);
    ffi.closeFd(home);
  }
}
