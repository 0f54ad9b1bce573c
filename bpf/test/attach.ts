// Attaching the TMA programs to interfaces through libbpf's netlink APIs: TC clsact (ingress + egress, the
// default) and XDP (native or generic). Netlink attachments outlive the process, so detach() (or detachAll at the
// next start) must always run. Test helper: the edge agent attaches by links; both use its libbpf binding.
import {
  BPF_TC_EGRESS,
  BPF_TC_F_REPLACE,
  BPF_TC_INGRESS,
  check,
  EEXIST,
  EINVAL,
  ENOENT,
  ffi,
  TC_HOOK_SIZE,
  TC_OPTS_SIZE,
  XDP_FLAGS_DRV_MODE,
  XDP_FLAGS_SKB_MODE,
} from './libbpf';

export const TC_INGRESS = BPF_TC_INGRESS;
export const TC_EGRESS = BPF_TC_EGRESS;
/** Fixed handle/priority: our filter is recognisable (and replaceable) after a crash. */
export const TMA_TC_HANDLE = 0x746d;
export const TMA_TC_PRIORITY = 0x746d;

export function ifindex(name: string): number {
  const i = ffi.ifIndex(name);
  if (!i) throw new Error(`no interface ${name}`);
  return i;
}

const hook = (ifi: number, point: number) => ({ sz: TC_HOOK_SIZE, ifindex: ifi, attach_point: point, parent: 0 });
const opts = (progFd: number, flags = 0) => ({
  sz: TC_OPTS_SIZE,
  prog_fd: progFd,
  flags,
  prog_id: 0,
  handle: TMA_TC_HANDLE,
  priority: TMA_TC_PRIORITY,
});

/** clsact on `dev` (created if missing) with our filter on ingress and egress, replacing a stale one of ours. */
export function attachTc(dev: string, progFd: number): void {
  const ifi = ifindex(dev);
  const rc = ffi.tcHookCreate(hook(ifi, TC_INGRESS));
  if (rc < 0 && rc !== -EEXIST) check(`clsact on ${dev}`, rc);
  for (const point of [TC_INGRESS, TC_EGRESS])
    check(`tc attach ${dev}`, ffi.tcAttach(hook(ifi, point), opts(progFd, BPF_TC_F_REPLACE)));
}

/** Removes our filters (only ours: the clsact qdisc may carry other programs). Absent filters are not an error. */
export function detachTc(dev: string): void {
  const ifi = ifindex(dev);
  for (const point of [TC_INGRESS, TC_EGRESS]) {
    const o = { ...opts(0), prog_fd: 0 };
    const rc = ffi.tcDetach(hook(ifi, point), o);
    if (rc < 0 && rc !== -ENOENT && rc !== -EINVAL /* no clsact */) check(`tc detach ${dev}`, rc);
  }
}

/** Program id of our TC filter at `point`, or 0. */
export function queryTc(dev: string, point: number): number {
  const o = { ...opts(0), prog_fd: 0 };
  const rc = ffi.tcQuery(hook(ifindex(dev), point), o);
  return rc < 0 ? 0 : o.prog_id;
}

export function attachXdp(dev: string, progFd: number, mode: 'native' | 'generic'): void {
  check(
    `xdp attach ${dev}`,
    ffi.xdpAttach(ifindex(dev), progFd, mode === 'native' ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE, null),
  );
}

export function detachXdp(dev: string, mode: 'native' | 'generic'): void {
  check(
    `xdp detach ${dev}`,
    ffi.xdpDetach(ifindex(dev), mode === 'native' ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE, null),
  );
}

/** Runs fn with this thread in the network namespace /run/netns/<name> (netlink calls act there), then returns. */
export function inNetns<T>(name: string, fn: () => T): T {
  const CLONE_NEWNET = 0x40000000;
  const home = ffi.open('/proc/thread-self/ns/net', 0);
  const target = ffi.open(`/run/netns/${name}`, 0);
  if (home < 0 || target < 0) throw new Error(`cannot open network namespace ${name}: ${ffi.strerror(ffi.errno())}`);
  try {
    check(`setns ${name}`, ffi.setns(target, CLONE_NEWNET) === 0 ? 0 : -ffi.errno());
    try {
      return fn();
    } finally {
      check('setns back', ffi.setns(home, CLONE_NEWNET) === 0 ? 0 : -ffi.errno());
    }
  } finally {
    ffi.closeFd(target);
    ffi.closeFd(home);
  }
}
