// Loads the TMA object (open -> set .rodata knobs -> load) and attaches its programs to interfaces.
// Attachments are links where the kernel has them (tcx for TC, bpf_link for XDP), so they vanish with the process,
// even on kill -9. The netlink TC path (kernels without tcx) survives a crash: filters carry a handle and priority of
// our own, and start-up removes any such filter whose program is ours before attaching again.
import * as fs from 'node:fs';
import {
  BPF_TC_EGRESS,
  BPF_TC_F_REPLACE,
  BPF_TC_INGRESS,
  BPF_TCX_EGRESS,
  BPF_TCX_INGRESS,
  BPF_XDP,
  EEXIST,
  ENODEV,
  ENOENT,
  LINK_CREATE_OPTS_SIZE,
  LibbpfError,
  TC_HOOK_SIZE,
  TC_OPTS_SIZE,
  XDP_FLAGS_DRV_MODE,
  XDP_FLAGS_SKB_MODE,
  check,
  ffi,
  possibleCpus,
  programIdByFd,
  programNameById,
} from './libbpf';
import { CAND_NOISE_SHIFT_DEFAULT, CAND_THRESHOLD_DEFAULT, STRUCTS, stateEntries } from './layout';
import { StateMap } from './state-map';

/** Where the programs run: TC (ingress + egress) or XDP (ingress). */
export type Hook = 'tc' | 'xdp';
/** XDP: the driver's native mode, the generic (skb) mode, or native falling back to generic. */
export type XdpMode = 'native' | 'generic' | 'auto';
/** TC: a tcx link, a netlink clsact filter, or tcx falling back to netlink. */
export type TcAttachMode = 'tcx' | 'netlink' | 'auto';
export type ProgramName = 'tma_xdp' | 'tma_tc';
export type AttachDirection = 'INGRESS' | 'EGRESS';

/** Handle and priority of the netlink TC filters this agent owns ("TMA"); nothing else should use them. */
export const TC_HANDLE = 0x544d41;
export const TC_PRIORITY = 0x544d;

export interface LoadOptions {
  objectPath: string;
  /** the hook whose program is loaded and attached; none: both programs are loaded, for BPF_PROG_TEST_RUN only */
  hook?: Hook;
  sampleRate?: number;
  candThreshold?: number;
  /** the candidate threshold is at least (IP packets in this copy on this CPU >> CMS width bits) << this; default 1 */
  candNoiseShift?: number;
  /** tests only: record each packet's parse result */
  trace?: boolean;
}

export interface Attachment {
  ifindex: number;
  ifname: string;
  hook: 'XDP' | 'TC';
  direction: AttachDirection;
  /** how it is held: a link fd (dies with the process) or a netlink filter (removed by detach) */
  via: 'link' | 'netlink';
  /** XDP only: the mode the kernel accepted */
  xdpMode?: 'native' | 'generic';
  linkFd?: number;
  /** kernel id of the attached program */
  progId: number;
}

const tcHook = (ifindex: number, dir: AttachDirection) => ({
  sz: TC_HOOK_SIZE,
  ifindex,
  attach_point: dir === 'INGRESS' ? BPF_TC_INGRESS : BPF_TC_EGRESS,
  parent: 0,
});
const tcOpts = (progFd = 0) => ({
  sz: TC_OPTS_SIZE,
  prog_fd: progFd,
  flags: 0,
  prog_id: 0,
  handle: TC_HANDLE,
  priority: TC_PRIORITY,
});

const programOf: Record<Hook, ProgramName> = { xdp: 'tma_xdp', tc: 'tma_tc' };

/** Attaches a program as a netlink TC filter of ours (creating clsact if needed); returns the attached program's id. */
export function attachTcFilter(ifindex: number, ifname: string, dir: AttachDirection, progFd: number): number {
  const hook = tcHook(ifindex, dir);
  const rc = ffi.tcHookCreate(hook);
  if (rc < 0 && -rc !== EEXIST) check(`clsact qdisc on ${ifname}`, rc);
  const opts = { ...tcOpts(progFd), flags: BPF_TC_F_REPLACE };
  check(`tc ${dir.toLowerCase()} attach to ${ifname}`, ffi.tcAttach(hook, opts));
  return opts.prog_id;
}

/** Program id of our netlink TC filter, or 0 when there is none (or no clsact). */
export function queryTcFilter(ifindex: number, dir: AttachDirection): number {
  const opts = tcOpts();
  return ffi.tcQuery(tcHook(ifindex, dir), opts) < 0 ? 0 : opts.prog_id;
}

/** Removes our netlink TC filter; one that is already gone (or its interface) is not an error. */
export function detachTcFilter(ifindex: number, ifname: string, dir: AttachDirection): void {
  const rc = ffi.tcDetach(tcHook(ifindex, dir), tcOpts());
  // ENOENT/ENODEV: the interface or filter went away with it
  if (rc < 0 && ![ENOENT, ENODEV].includes(-rc)) throw new LibbpfError(`tc detach from ${ifname}`, rc);
}

export class TmaKernel {
  readonly cpus = possibleCpus();
  readonly hook: Hook | undefined;
  private readonly fds = new Map<string, number>();
  private readonly attached = new Map<number, Attachment[]>();
  private stateMap: StateMap | null = null;
  private closed = false;

  private constructor(
    private readonly obj: unknown,
    hook: Hook | undefined,
  ) {
    this.hook = hook;
  }

  static load(options: LoadOptions): TmaKernel {
    if (!fs.existsSync(options.objectPath))
      throw new Error(`BPF object ${options.objectPath} does not exist (build it with make -C bpf)`);
    const obj = ffi.openFile(options.objectPath, null);
    if (!obj) throw new LibbpfError(`bpf_object__open_file(${options.objectPath})`, -1);
    const k = new TmaKernel(obj, options.hook);
    try {
      const rodata = ffi.findMap(obj, '.rodata');
      if (!rodata) throw new Error('.rodata not found in the BPF object');
      // sized by the object: a benchmark may load an older build whose struct tma_cfg ends before cand_noise_shift
      const m = STRUCTS.tma_cfg.members;
      const cfg = Buffer.alloc(ffi.mapValueSize(rodata));
      cfg.writeUInt32LE(options.sampleRate ?? 1, m.sample_rate);
      cfg.writeUInt32LE(options.trace ? 1 : 0, m.trace);
      cfg.writeBigUInt64LE(BigInt(options.candThreshold ?? CAND_THRESHOLD_DEFAULT), m.cand_threshold);
      if (cfg.length >= m.cand_noise_shift + 4)
        cfg.writeUInt32LE(options.candNoiseShift ?? CAND_NOISE_SHIFT_DEFAULT, m.cand_noise_shift);
      check('bpf_map__set_initial_value(.rodata)', ffi.setInitialValue(rodata, cfg, cfg.length));
      // one struct tma_state per (possible CPU, copy)
      const state = ffi.findMap(obj, 'tma_state');
      if (!state) throw new Error('map tma_state not found in the BPF object');
      check('bpf_map__set_max_entries(tma_state)', ffi.setMaxEntries(state, stateEntries(k.cpus)));
      // Only the programs of the chosen hook go through the verifier.
      const wanted = options.hook && programOf[options.hook];
      for (const name of ['tma_xdp', 'tma_tc'] as ProgramName[]) {
        const prog = ffi.findProgram(obj, name);
        if (!prog) throw new Error(`program ${name} not found in ${options.objectPath}`);
        check(`set_autoload(${name})`, ffi.setAutoload(prog, !wanted || name === wanted));
      }
      check('bpf_object__load', ffi.load(obj));
    } catch (e) {
      ffi.close(obj);
      throw e;
    }
    return k;
  }

  programFd(name: ProgramName): number {
    const prog = ffi.findProgram(this.obj, name);
    if (!prog) throw new Error(`program ${name} not found`);
    return check(`program ${name} fd`, ffi.programFd(prog));
  }

  /** Kernel id of a loaded program (bpf_prog_info.id). */
  programId(name: ProgramName): number {
    return programIdByFd(this.programFd(name));
  }

  mapFd(name: string): number {
    let fd = this.fds.get(name);
    if (fd === undefined) {
      fd = check(`map ${name}`, ffi.findMapFd(this.obj, name));
      this.fds.set(name, fd);
    }
    return fd;
  }

  /** The packet-path state, mapped into this process (once; unmapped by close()). */
  state(): StateMap {
    if (this.closed) throw new Error('kernel object closed');
    this.stateMap ??= new StateMap(this.mapFd('tma_state'), this.cpus);
    return this.stateMap;
  }

  attachments(): Attachment[] {
    return [...this.attached.values()].flat();
  }

  isAttached(ifindex: number): boolean {
    return this.attached.has(ifindex);
  }

  /**
   * Removes netlink TC filters left by an agent that died (our handle and priority, program named tma_*).
   * Returns how many were removed. Filters of other programs at that handle/priority are left alone.
   */
  static removeStale(ifindex: number): number {
    let removed = 0;
    for (const dir of ['INGRESS', 'EGRESS'] as AttachDirection[]) {
      const progId = queryTcFilter(ifindex, dir);
      if (!progId) continue; // no clsact or no such filter
      const name = programNameById(progId);
      if (name === null || !name.startsWith('tma_')) continue;
      const d = ffi.tcDetach(tcHook(ifindex, dir), tcOpts());
      if (d === 0) removed++;
      else if (-d !== ENOENT) throw new LibbpfError(`bpf_tc_detach(ifindex ${ifindex} ${dir})`, d);
    }
    return removed;
  }

  /** Attaches to one interface: TC ingress + egress, or XDP. Returns the attachments made. */
  attach(ifindex: number, ifname: string, opts: { xdpMode?: XdpMode; tcAttach?: TcAttachMode } = {}): Attachment[] {
    if (this.attached.has(ifindex)) return this.attached.get(ifindex)!;
    if (!this.hook) throw new Error('the object was loaded without a hook: nothing to attach');
    const made: Attachment[] = [];
    try {
      if (this.hook === 'xdp') made.push(this.attachXdp(ifindex, ifname, opts.xdpMode ?? 'auto'));
      else {
        for (const dir of ['INGRESS', 'EGRESS'] as AttachDirection[])
          made.push(this.attachTc(ifindex, ifname, dir, opts.tcAttach ?? 'auto'));
      }
    } catch (e) {
      for (const a of made) this.release(a);
      throw e;
    }
    this.attached.set(ifindex, made);
    return made;
  }

  private attachXdp(ifindex: number, ifname: string, mode: XdpMode): Attachment {
    const fd = this.programFd('tma_xdp');
    const tryMode = (m: 'native' | 'generic') =>
      ffi.linkCreate(fd, ifindex, BPF_XDP, {
        sz: LINK_CREATE_OPTS_SIZE,
        flags: m === 'native' ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE,
      });
    let used: 'native' | 'generic' = mode === 'generic' ? 'generic' : 'native';
    let link = tryMode(used);
    if (link < 0 && mode === 'auto') {
      used = 'generic';
      link = tryMode(used);
    }
    check(`XDP ${used} attach to ${ifname}`, link);
    return {
      ifindex,
      ifname,
      hook: 'XDP',
      direction: 'INGRESS',
      via: 'link',
      xdpMode: used,
      linkFd: link,
      progId: programIdByFd(fd),
    };
  }

  private attachTc(ifindex: number, ifname: string, dir: AttachDirection, mode: TcAttachMode): Attachment {
    // one program for both directions: what is counted does not depend on the direction
    const fd = this.programFd('tma_tc');
    if (mode !== 'netlink') {
      const link = ffi.linkCreate(fd, ifindex, dir === 'INGRESS' ? BPF_TCX_INGRESS : BPF_TCX_EGRESS, {
        sz: LINK_CREATE_OPTS_SIZE,
        flags: 0,
      });
      if (link >= 0)
        return { ifindex, ifname, hook: 'TC', direction: dir, via: 'link', linkFd: link, progId: programIdByFd(fd) };
      if (mode === 'tcx') check(`tcx ${dir.toLowerCase()} attach to ${ifname}`, link);
    }
    const progId = attachTcFilter(ifindex, ifname, dir, fd);
    return { ifindex, ifname, hook: 'TC', direction: dir, via: 'netlink', progId };
  }

  private release(a: Attachment): void {
    if (a.via === 'link' && a.linkFd !== undefined) ffi.closeFd(a.linkFd);
    else if (a.via === 'netlink') detachTcFilter(a.ifindex, a.ifname, a.direction);
  }

  /** Detaches from one interface (a vanished interface took its attachments with it; that is not an error). */
  detach(ifindex: number): void {
    const list = this.attached.get(ifindex);
    if (!list) return;
    this.attached.delete(ifindex);
    for (const a of list) this.release(a);
  }

  /** Detaches everywhere and frees the object (maps and programs go when the last reference does). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const errors: Error[] = [];
    for (const ifindex of [...this.attached.keys()]) {
      try {
        this.detach(ifindex);
      } catch (e) {
        errors.push(e as Error);
      }
    }
    this.stateMap?.unmap();
    this.stateMap = null;
    ffi.close(this.obj);
    if (errors.length) throw errors[0];
  }
}
