// Loads the TMA object (open -> set .rodata knobs -> load) and attaches its programs to interfaces.
// Attachments are links where the kernel has them (tcx for TC, bpf_link for XDP); unpinned, they vanish with the
// process, even on kill -9. With a pin directory (pins.ts) the maps and links outlive a killed process, and the next
// load adopts them: its programs replace the old ones in place (bpf_link_update, or a netlink filter replaced), so
// nothing stops counting. The netlink TC path (kernels without tcx) survives a crash anyway: filters carry a handle
// and priority of our own, and a start that did not adopt removes any such filter whose program is ours first.
import * as fs from 'node:fs';
import { currentHashSeed, type HashSeed } from '@tma/sketch';
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
  u32,
} from './libbpf';
import {
  CAND_NOISE_SHIFT_DEFAULT,
  CAND_THRESHOLD_DEFAULT,
  HASH_KEY_SECTION,
  IF_SLOTS,
  IF_TABLE,
  IFS_MAP,
  SYN_MAP,
  STRUCTS,
  TUNNEL_MODES,
  stateEntries,
  type TunnelMode,
} from './layout';
import { LAYOUT_STAMP, Pins, fnv1a, type PinOutcome } from './pins';
import { StateMap } from './state-map';

/** Where the programs run: TC (ingress + egress) or XDP (ingress). */
export type Hook = 'tc' | 'xdp';
/** XDP: the driver's native mode, the generic (skb) mode, or native falling back to generic. */
export type XdpMode = 'native' | 'generic' | 'auto';
/** TC: a tcx link, a netlink clsact filter, or tcx falling back to netlink. */
export type TcAttachMode = 'tcx' | 'netlink' | 'auto';
/** The programs of the object: XDP (ingress) and TC by direction, each for Ethernet devices and for devices whose
 * frames start at the IP header (`_l3`: tun, WireGuard, ipip/sit/gre). */
export type ProgramName = 'tma_xdp' | 'tma_xdp_l3' | 'tma_tc' | 'tma_tc_eg' | 'tma_tc_l3' | 'tma_tc_l3_eg';
const PROGRAMS: Record<Hook, ProgramName[]> = {
  xdp: ['tma_xdp', 'tma_xdp_l3'],
  tc: ['tma_tc', 'tma_tc_eg', 'tma_tc_l3', 'tma_tc_l3_eg'],
};

/** Device types (/sys/class/net/<if>/type, ARPHRD_*) whose frames reach TC and XDP without a link header: none
 * (tun, WireGuard), IPv4/IPv6 tunnels (ipip, ip6tnl), sit, GRE, ip6gre, raw IP, PPP. */
const L3_DEVICE_TYPES = new Set([65534, 768, 769, 776, 778, 823, 519, 512]);

/** True when the interface's frames start at the IP header (no Ethernet header). */
export function isL3Device(ifname: string): boolean {
  try {
    return L3_DEVICE_TYPES.has(Number(fs.readFileSync(`/sys/class/net/${ifname}/type`, 'utf8')));
  } catch {
    return false; // vanished or not visible here: attaching will say so
  }
}

/** The program of a hook for one device type and direction. */
export function programFor(hook: Hook, l3: boolean, dir: AttachDirection): ProgramName {
  if (hook === 'xdp') return l3 ? 'tma_xdp_l3' : 'tma_xdp';
  const base = l3 ? 'tma_tc_l3' : 'tma_tc';
  return dir === 'INGRESS' ? base : `${base}_eg`;
}
export type AttachDirection = 'INGRESS' | 'EGRESS';

/** Handle and priority of the netlink TC filters this agent owns ("TMA"); nothing else should use them. */
export const TC_HANDLE = 0x544d41;
export const TC_PRIORITY = 0x544d;

export interface LoadOptions {
  objectPath: string;
  /** the hook whose programs are loaded and attached; none: every program is loaded, for BPF_PROG_TEST_RUN only */
  hook?: Hook;
  sampleRate?: number;
  candThreshold?: number;
  /** the candidate threshold is at least (IP packets in this copy on this CPU >> CMS width bits) << this; default 1 */
  candNoiseShift?: number;
  /** tests only: record each packet's parse result */
  trace?: boolean;
  /** VXLAN, Geneve and GRE packets keyed by their outer header (default) or the packet they carry */
  tunnels?: TunnelMode;
  /** the deployment's hash key (default: the seed this process uses, @tma/sketch useHashSeed) */
  hashSeed?: HashSeed;
  /** pin the maps and links in this bpffs directory, adopting what a killed process left there (pins.ts) */
  pinDir?: string;
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
  /** the link's pin (pinned maps only) */
  pin?: string;
  /** a link or filter a killed process left, now running this object's program */
  adopted?: boolean;
  program: ProgramName;
  /** slot of the interface's totals in tma_state.ifc (0: shared by interfaces without one) */
  slot: number;
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

/** Writes the hash key expanded from the seed into the object's .rodata.hash before load. An older build (benchmarks)
 * has the public key compiled in instead: it may only run when the public seed is in use. */
function setHashKey(obj: unknown, seed: HashSeed): Buffer {
  const map = ffi.findMap(obj, HASH_KEY_SECTION);
  if (!map) {
    if (seed.isPublic) return Buffer.alloc(0);
    throw new Error(`${HASH_KEY_SECTION} not found in the BPF object: it cannot hash with this deployment's seed`);
  }
  const m = STRUCTS.tma_hash_key.members;
  const key = Buffer.alloc(STRUCTS.tma_hash_key.size);
  seed.k.forEach((k, i) => key.writeUInt32LE(k, m.k + 4 * i));
  key.writeUInt32LE(seed.fLo, m.f);
  key.writeUInt32LE(seed.fHi, m.f + 4);
  check(`bpf_map__set_initial_value(${HASH_KEY_SECTION})`, ffi.setInitialValue(map, key, key.length));
  return key;
}

/** The candidate table's entry rule the program was loaded with (the reader derives each copy's entry floor). */
export interface EntryRule {
  sampleRate: number;
  candThreshold: number;
  candNoiseShift: number;
}

export class TmaKernel {
  readonly cpus = possibleCpus();
  readonly hook: Hook | undefined;
  entry: EntryRule = { sampleRate: 1, candThreshold: CAND_THRESHOLD_DEFAULT, candNoiseShift: CAND_NOISE_SHIFT_DEFAULT };
  private readonly fds = new Map<string, number>();
  private readonly attached = new Map<number, Attachment[]>();
  /** struct tma_if_slot[IF_TABLE] as last written to .data.tma_ifs (null: an older object without it) */
  private ifs: Buffer | null = null;
  private readonly slotNames = new Map<number, string>();
  private stateMap: StateMap | null = null;
  private closed = false;
  /** the pin directory (null: nothing pinned) */
  pins: Pins | null = null;
  /** why pinning was given up (bpffs missing, no permission), or null */
  pinError: string | null = null;

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
      if (cfg.length >= m.tunnels + 4) cfg.writeUInt32LE(TUNNEL_MODES.indexOf(options.tunnels ?? 'outer'), m.tunnels);
      k.entry = {
        sampleRate: options.sampleRate ?? 1,
        candThreshold: options.candThreshold ?? CAND_THRESHOLD_DEFAULT,
        candNoiseShift: options.candNoiseShift ?? CAND_NOISE_SHIFT_DEFAULT,
      };
      check('bpf_map__set_initial_value(.rodata)', ffi.setInitialValue(rodata, cfg, cfg.length));
      const key = setHashKey(obj, options.hashSeed ?? currentHashSeed());
      // one struct tma_state per (possible CPU, copy)
      const state = ffi.findMap(obj, 'tma_state');
      if (!state) throw new Error('map tma_state not found in the BPF object');
      check('bpf_map__set_max_entries(tma_state)', ffi.setMaxEntries(state, stateEntries(k.cpus)));
      // SYN-flood counters: the same (CPU, copy) entries (an older build, benchmarks, may lack the map)
      const syn = ffi.findMap(obj, SYN_MAP);
      if (syn) check('bpf_map__set_max_entries(tma_syn)', ffi.setMaxEntries(syn, stateEntries(k.cpus)));
      // Only the programs of the chosen hook go through the verifier. An older build (benchmarks) may lack the
      // variants; it must have the two base programs.
      const wanted = options.hook && PROGRAMS[options.hook];
      for (const name of [...PROGRAMS.xdp, ...PROGRAMS.tc]) {
        const prog = ffi.findProgram(obj, name);
        if (!prog) {
          if (name === 'tma_xdp' || name === 'tma_tc')
            throw new Error(`program ${name} not found in ${options.objectPath}`);
          continue;
        }
        check(`set_autoload(${name})`, ffi.setAutoload(prog, !wanted || wanted.includes(name)));
      }
      // Pinned maps of a killed process are adopted before load, when made for this layout and configuration.
      if (options.pinDir && ffi.findMap(obj, IFS_MAP)) {
        // the hook too: adopting TC maps with XDP programs would leave the old links counting ingress a second time
        const config = fnv1a(Buffer.concat([cfg, key, Buffer.from(options.hook ?? '')]));
        k.pins = Pins.prepare(obj, options.pinDir, { layout: LAYOUT_STAMP, config, cpus: k.cpus });
      }
      check('bpf_object__load', ffi.load(obj));
      if (ffi.findMapFd(obj, IFS_MAP) >= 0) k.ifs = Buffer.alloc(IF_TABLE * STRUCTS.tma_if_slot.size);
      if (k.pins?.adopted && k.ifs) check(`lookup ${IFS_MAP}`, ffi.lookup(k.mapFd(IFS_MAP), u32(0), k.ifs)); // the slots the programs use now
      if (k.pins) {
        try {
          k.pins.commit((name) => k.mapFd(name));
        } catch (e) {
          // no bpffs (or not writable): counted as before, lost with the process
          k.pinError = (e as Error).message;
          k.pins = null;
        }
      }
    } catch (e) {
      ffi.close(obj);
      throw e;
    }
    return k;
  }

  /** What the start found pinned: adopted, or why it starts fresh (null: pinning off or unavailable). */
  get pinOutcome(): PinOutcome | null {
    return this.pins?.outcome ?? null;
  }

  /** True when the maps were adopted from a killed process (their counts carry on). */
  get adopted(): boolean {
    return this.pins?.adopted ?? false;
  }

  /**
   * After the first round of attaching: pinned links of interfaces this process did not attach to go (their
   * programs leave those interfaces), and so do their interface slots. Returns the pins removed.
   */
  dropUnclaimedPins(): string[] {
    if (!this.pins) return [];
    const mine = new Set(this.attachments().map((a) => a.pin));
    const dropped = this.pins.linkPins().filter((f) => !mine.has(f));
    for (const f of dropped) fs.rmSync(f, { force: true });
    if (this.ifs) {
      const size = STRUCTS.tma_if_slot.size;
      let changed = false;
      for (let i = 0; i < IF_TABLE; i++) {
        const ifindex = this.ifs.readUInt32LE(i * size);
        if (ifindex !== 0 && !this.attached.has(ifindex)) {
          this.ifs.fill(0, i * size, (i + 1) * size);
          changed = true;
        }
      }
      if (changed) this.writeSlots();
    }
    return dropped;
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
    const l3 = isL3Device(ifname);
    const slot = this.assignSlot(ifindex, ifname);
    try {
      if (this.hook === 'xdp') made.push(this.attachXdp(ifindex, ifname, opts.xdpMode ?? 'auto', l3, slot));
      else {
        for (const dir of ['INGRESS', 'EGRESS'] as AttachDirection[])
          made.push(this.attachTc(ifindex, ifname, dir, opts.tcAttach ?? 'auto', l3, slot));
      }
    } catch (e) {
      for (const a of made) this.release(a);
      this.freeSlot(ifindex, slot);
      throw e;
    }
    this.attached.set(ifindex, made);
    return made;
  }

  /** Interface name of each slot in use (slot 0, shared by interfaces without a slot of their own, is not listed). */
  interfaceSlots(): ReadonlyMap<number, string> {
    return this.slotNames;
  }

  /** Gives the interface a slot of its own in tma_state.ifc, or 0 when every slot is taken or its table entry
   * (ifindex mod IF_TABLE) belongs to another interface. Written before the programs attach. */
  private assignSlot(ifindex: number, ifname: string): number {
    if (!this.ifs) return 0;
    const at = (ifindex % IF_TABLE) * STRUCTS.tma_if_slot.size;
    const taken = this.ifs.readUInt32LE(at + 4);
    // adopted maps: the interface keeps the slot its counts are in
    if (taken !== 0 && this.ifs.readUInt32LE(at) === ifindex && !this.slotNames.has(taken)) {
      this.slotNames.set(taken, ifname);
      return taken;
    }
    if (taken !== 0) return 0;
    let slot = 1;
    while (slot < IF_SLOTS && this.slotNames.has(slot)) slot++;
    if (slot === IF_SLOTS) return 0;
    this.ifs.writeUInt32LE(ifindex, at);
    this.ifs.writeUInt32LE(slot, at + 4);
    this.writeSlots();
    this.slotNames.set(slot, ifname);
    return slot;
  }

  private freeSlot(ifindex: number, slot: number): void {
    if (!this.ifs || slot === 0) return;
    this.ifs.fill(
      0,
      (ifindex % IF_TABLE) * STRUCTS.tma_if_slot.size,
      ((ifindex % IF_TABLE) + 1) * STRUCTS.tma_if_slot.size,
    );
    this.writeSlots();
    this.slotNames.delete(slot);
  }

  private writeSlots(): void {
    check(`update ${IFS_MAP}`, ffi.update(this.mapFd(IFS_MAP), u32(0), this.ifs, 0n));
  }

  private attachXdp(ifindex: number, ifname: string, mode: XdpMode, l3: boolean, slot: number): Attachment {
    const program = programFor('xdp', l3, 'INGRESS');
    const fd = this.programFd(program);
    const tryMode = (m: 'native' | 'generic') =>
      ffi.linkCreate(fd, ifindex, BPF_XDP, {
        sz: LINK_CREATE_OPTS_SIZE,
        flags: m === 'native' ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE,
      });
    const base = { ifindex, ifname, hook: 'XDP', direction: 'INGRESS', via: 'link', program, slot } as const;
    // a link a killed process pinned: this program replaces its program in place (the mode stays the link's)
    for (const m of ['native', 'generic'] as const) {
      const pin = this.pins?.linkPath(ifindex, `xdp_${m}`);
      const old = pin ? this.adoptLink(pin, fd) : -1;
      if (old >= 0) return { ...base, xdpMode: m, linkFd: old, progId: programIdByFd(fd), pin, adopted: true };
    }
    let used: 'native' | 'generic' = mode === 'generic' ? 'generic' : 'native';
    let link = tryMode(used);
    if (link < 0 && mode === 'auto') {
      used = 'generic';
      link = tryMode(used);
    }
    check(`XDP ${used} attach to ${ifname}`, link);
    const pin = this.pinLink(link, ifindex, `xdp_${used}`);
    return { ...base, xdpMode: used, linkFd: link, progId: programIdByFd(fd), pin };
  }

  /**
   * The pinned link at `pin`, switched to program `progFd` (bpf_link_update: atomic, no packet goes uncounted), or -1
   * when there is none or it no longer works (its interface went away): then its pin goes.
   */
  private adoptLink(pin: string, progFd: number): number {
    const old = Pins.openLink(pin);
    if (old < 0) return -1;
    if (ffi.linkUpdate(old, progFd, null) === 0) return old;
    ffi.closeFd(old);
    fs.rmSync(pin, { force: true });
    return -1;
  }

  /** Pins a new link (pinned maps only); returns its pin. A link that cannot be pinned is released. */
  private pinLink(link: number, ifindex: number, where: string): string | undefined {
    if (!this.pins) return undefined;
    const pin = this.pins.linkPath(ifindex, where);
    fs.rmSync(pin, { force: true });
    const rc = ffi.objPin(link, pin);
    if (rc < 0) {
      ffi.closeFd(link);
      check(`pin link at ${pin}`, rc);
    }
    return pin;
  }

  private attachTc(
    ifindex: number,
    ifname: string,
    dir: AttachDirection,
    mode: TcAttachMode,
    l3: boolean,
    slot: number,
  ): Attachment {
    // one program per direction and device type: the program knows both at no cost per packet
    const program = programFor('tc', l3, dir);
    const fd = this.programFd(program);
    const pin = this.pins?.linkPath(ifindex, dir.toLowerCase());
    const base = { ifindex, ifname, hook: 'TC', direction: dir, program, slot } as const;
    if (mode !== 'netlink') {
      const old = pin ? this.adoptLink(pin, fd) : -1;
      if (old >= 0) return { ...base, via: 'link', linkFd: old, progId: programIdByFd(fd), pin, adopted: true };
      // adopted maps and a netlink filter of ours (a start with --tc-attach netlink before): it goes first, or both
      // programs would count every packet
      const filter = this.adopted ? queryTcFilter(ifindex, dir) : 0;
      if (filter && programNameById(filter)?.startsWith('tma_')) detachTcFilter(ifindex, ifname, dir);
      const link = ffi.linkCreate(fd, ifindex, dir === 'INGRESS' ? BPF_TCX_INGRESS : BPF_TCX_EGRESS, {
        sz: LINK_CREATE_OPTS_SIZE,
        flags: 0,
      });
      if (link >= 0) {
        const pinned = this.pinLink(link, ifindex, dir.toLowerCase());
        return { ...base, via: 'link', linkFd: link, progId: programIdByFd(fd), pin: pinned };
      }
      if (mode === 'tcx') check(`tcx ${dir.toLowerCase()} attach to ${ifname}`, link);
    }
    // a pinned tcx link of a start before (--tc-attach changed) would count every packet a second time
    if (pin) fs.rmSync(pin, { force: true });
    // replaces a filter of ours in place (the adopted maps' program is swapped for this one)
    const adopted = this.adopted && queryTcFilter(ifindex, dir) !== 0;
    const progId = attachTcFilter(ifindex, ifname, dir, fd);
    return { ...base, via: 'netlink', progId, adopted };
  }

  private release(a: Attachment): void {
    if (a.via === 'link' && a.linkFd !== undefined) {
      if (a.pin) fs.rmSync(a.pin, { force: true }); // the pin holds the link too
      ffi.closeFd(a.linkFd);
    } else if (a.via === 'netlink') detachTcFilter(a.ifindex, a.ifname, a.direction);
  }

  /** Detaches from one interface (a vanished interface took its attachments with it; that is not an error). */
  detach(ifindex: number): void {
    const list = this.attached.get(ifindex);
    if (!list) return;
    this.attached.delete(ifindex);
    for (const a of list) this.release(a);
    if (!this.closed) this.freeSlot(ifindex, list[0]?.slot ?? 0);
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
    try {
      this.pins?.remove(); // a stopped agent leaves nothing counting
    } catch (e) {
      errors.push(e as Error);
    }
    if (errors.length) throw errors[0];
  }

  /**
   * What a kill -9 leaves, from inside the process (tests): the fds and the object go, the pins and netlink filters
   * stay, and the pinned links keep the programs counting into the pinned maps.
   */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    for (const a of this.attachments()) if (a.linkFd !== undefined) ffi.closeFd(a.linkFd);
    this.attached.clear();
    this.stateMap?.unmap();
    this.stateMap = null;
    ffi.close(this.obj);
    this.pins?.abandon();
  }
}
