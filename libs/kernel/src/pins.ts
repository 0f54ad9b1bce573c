// Pinned maps and links in bpffs (docs/edge-agent.md, "Pinned maps"): the counts, the epoch and the interface slots
// outlive the process that loaded them, and so do the links holding the programs on the interfaces, so a killed
// agent's programs keep counting until the next process adopts the same maps (bpf_map__reuse_fd before load) and
// swaps its own programs in (bpf_link_update). A stamp map beside them says which layout and configuration they were
// made for: a next object with another layout (or another configuration) starts fresh, and says why.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BPF_MAP_TYPE_ARRAY, ENOENT, LibbpfError, check, ffi, mapInfoByFd, u32, type MapInfo } from './libbpf';
import { COPIES, CTL_MAP, IF_SLOTS, IF_TABLE, IFS_MAP, STRUCTS, SYN_MAP } from './layout';

/** The default root of the agents' pin directories (one directory per agent identity under it). */
export const PIN_ROOT = '/sys/fs/bpf/tma';

/** Pinned maps by file name: the libbpf map each one is reused for (the SYN counters are per copy like the state). */
export const PINNED_MAPS: Readonly<Record<string, string>> = {
  state: 'tma_state',
  ctl: CTL_MAP,
  ifs: IFS_MAP,
  syn: SYN_MAP,
};
/** The stamp map's file name; pinned last, so a directory without it was left half made. */
export const META_PIN = 'meta';
const META_MAGIC = Buffer.from('TMAPIN\x00\x01', 'latin1');
const META_SIZE = 64;
const M = { magic: 0, layout: 8, config: 12, cpus: 16, doneGen: 20, gen: 24, startMs: 32, prevStartMs: 40 } as const;

/** FNV-1a (32 bits) over text or bytes. */
export function fnv1a(data: string | Uint8Array): number {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h >>> 0;
}

/** Stamp of the layout user space reads the pinned maps with: every struct and dimension of layout.ts that matters. */
export const LAYOUT_STAMP = fnv1a(JSON.stringify({ v: 1, STRUCTS, COPIES, IF_SLOTS, IF_TABLE }));

/** Why a start did not adopt pinned maps. */
export type FreshReason =
  /** nothing pinned (first start, a clean stop before, or a new boot) */
  | 'none'
  /** pins without their stamp map: a start that died while pinning */
  | 'incomplete'
  /** another layout of the maps (an upgraded object or agent) */
  | 'layout'
  /** another configuration of the programs (.rodata: sampling, candidate rule, tunnels, hash key; the hook) */
  | 'config'
  /** the kernel's maps differ from the object's (type, key/value size, entries, flags) */
  | 'maps';

export interface PinOutcome {
  dir: string;
  adopted: boolean;
  reason?: FreshReason;
  detail?: string;
}

/** What a start finds in the stamp map: the epoch generations a killed process left. */
export interface PinMeta {
  /** the last generation whose copy was handed out (spooled or printed) before it was zeroed */
  doneGen: number;
  /** the generation whose start is `startMs` (normally the one the kernel writes now) */
  gen: number;
  /** wall ms at which generation `gen` started, and the one before it */
  startMs: number;
  prevStartMs: number;
}

interface ObjectMapAttrs {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
}

function objectMapAttrs(map: unknown): ObjectMapAttrs {
  return {
    type: ffi.mapType(map),
    keySize: ffi.mapKeySize(map),
    valueSize: ffi.mapValueSize(map),
    maxEntries: ffi.mapMaxEntries(map),
    flags: ffi.mapFlags(map),
  };
}

const differs = (a: ObjectMapAttrs, b: MapInfo): string | null => {
  for (const k of ['type', 'keySize', 'valueSize', 'maxEntries', 'flags'] as const)
    if (a[k] !== b[k]) return `${k} ${b[k]} pinned, ${a[k]} in the object`;
  return null;
};

/** Removes a pin directory and everything in it: links first (their programs leave the interfaces), then maps. */
export function removePinDir(dir: string): number {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  names.sort((a, b) => Number(b.startsWith('link')) - Number(a.startsWith('link')));
  for (const n of names) fs.rmSync(path.join(dir, n), { force: true });
  fs.rmSync(dir, { recursive: true, force: true });
  return names.length;
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdirSync never returns on a read-only sysfs /sys/fs/bpf (what
 * `ip netns exec` mounts) for an unprivileged user; this throws (EACCES, EROFS, ...) instead.
 */
function makeDirs(dir: string): void {
  const parent = path.dirname(dir);
  if (parent !== dir && !fs.existsSync(parent)) makeDirs(parent);
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}

/** The pins of one agent: a directory in bpffs with the maps, the stamp map and one pinned link per attachment. */
export class Pins {
  outcome: PinOutcome;
  private metaFd = -1;
  private readonly meta = Buffer.alloc(META_SIZE);
  private readonly zeroKey = u32(0);
  /** the stamp's contents, for a fresh directory */
  private readonly stamp: { layout: number; config: number; cpus: number };

  private constructor(
    readonly dir: string,
    stamp: { layout: number; config: number; cpus: number },
  ) {
    this.stamp = stamp;
    this.outcome = { dir, adopted: false, reason: 'none' };
  }

  /**
   * Before load: reuses the pinned maps for the object's when the directory holds a complete set made for this layout
   * and configuration. Anything else is left as it is until commit(), so a load that fails leaves the old programs
   * counting.
   */
  static prepare(obj: unknown, dir: string, stamp: { layout: number; config: number; cpus: number }): Pins {
    const p = new Pins(dir, stamp);
    if (!fs.existsSync(dir)) return p;
    const metaFd = ffi.objGet(path.join(dir, META_PIN));
    if (metaFd < 0) {
      p.outcome = { dir, adopted: false, reason: 'incomplete', detail: `no ${META_PIN} pin` };
      return p;
    }
    const fds: [unknown, number][] = [];
    try {
      if (ffi.lookup(metaFd, p.zeroKey, p.meta) < 0 || !p.meta.subarray(0, 8).equals(META_MAGIC)) {
        p.outcome = { dir, adopted: false, reason: 'layout', detail: 'stamp of another version' };
        return p;
      }
      const layout = p.meta.readUInt32LE(M.layout);
      const config = p.meta.readUInt32LE(M.config);
      if (layout !== stamp.layout) {
        p.outcome = {
          dir,
          adopted: false,
          reason: 'layout',
          detail: `layout ${hex(layout)}, now ${hex(stamp.layout)}`,
        };
        return p;
      }
      if (config !== stamp.config) {
        p.outcome = {
          dir,
          adopted: false,
          reason: 'config',
          detail: `config ${hex(config)}, now ${hex(stamp.config)}`,
        };
        return p;
      }
      for (const [file, name] of Object.entries(PINNED_MAPS)) {
        const map = ffi.findMap(obj, name);
        if (!map) throw new Error(`map ${name} not found in the BPF object`);
        const fd = ffi.objGet(path.join(dir, file));
        if (fd < 0) {
          p.outcome = { dir, adopted: false, reason: 'incomplete', detail: `no ${file} pin` };
          return p;
        }
        fds.push([map, fd]);
        const d = differs(objectMapAttrs(map), mapInfoByFd(fd));
        if (d) {
          p.outcome = { dir, adopted: false, reason: 'maps', detail: `${name}: ${d}` };
          return p;
        }
      }
      for (const [map, fd] of fds) check('bpf_map__reuse_fd', ffi.reuseFd(map, fd));
      p.metaFd = metaFd;
      p.outcome = { dir, adopted: true };
      return p;
    } finally {
      for (const [, fd] of fds) ffi.closeFd(fd); // reuse_fd keeps a duplicate
      if (p.metaFd !== metaFd) ffi.closeFd(metaFd);
    }
  }

  get adopted(): boolean {
    return this.outcome.adopted;
  }

  /** The generations a killed process left (adopted maps only). */
  readMeta(): PinMeta {
    return {
      doneGen: this.meta.readUInt32LE(M.doneGen),
      gen: this.meta.readUInt32LE(M.gen),
      startMs: this.meta.readDoubleLE(M.startMs),
      prevStartMs: this.meta.readDoubleLE(M.prevStartMs),
    };
  }

  /**
   * After load: with maps adopted, nothing to do; otherwise the old directory (if any) goes (its links first, which
   * takes its programs off the interfaces) and the object's maps are pinned in a new one, the stamp map last.
   * `mapFd` gives the loaded object's map fds.
   */
  commit(mapFd: (name: string) => number): void {
    if (this.adopted) return;
    removePinDir(this.dir);
    makeDirs(this.dir);
    for (const [file, name] of Object.entries(PINNED_MAPS))
      check(`pin ${name} at ${path.join(this.dir, file)}`, ffi.objPin(mapFd(name), path.join(this.dir, file)));
    const fd = check(
      'bpf_map_create(tma_pin_meta)',
      ffi.mapCreate(BPF_MAP_TYPE_ARRAY, 'tma_pin_meta', 4, META_SIZE, 1, null),
    );
    this.metaFd = fd;
    META_MAGIC.copy(this.meta, M.magic);
    this.meta.writeUInt32LE(this.stamp.layout, M.layout);
    this.meta.writeUInt32LE(this.stamp.config, M.config);
    this.meta.writeUInt32LE(this.stamp.cpus, M.cpus);
    // a fresh tma_ctl is at generation 0: the copy before it (generation 2^32 - 1) holds nothing to hand out
    this.meta.writeUInt32LE(0xffffffff, M.doneGen);
    this.meta.writeUInt32LE(0, M.gen);
    this.writeMeta();
    check(`pin ${META_PIN}`, ffi.objPin(fd, path.join(this.dir, META_PIN)));
  }

  /** Records the start of a generation (right after the flip that began it) and of the one before. */
  markStart(gen: number, startMs: number, prevStartMs: number): void {
    if (this.metaFd < 0) return;
    this.meta.writeUInt32LE(gen >>> 0, M.gen);
    this.meta.writeDoubleLE(startMs, M.startMs);
    this.meta.writeDoubleLE(prevStartMs, M.prevStartMs);
    this.writeMeta();
  }

  /** Records that a generation's copy was handed out (spooled or printed): a next start must not hand it out again. */
  markDone(gen: number): void {
    if (this.metaFd < 0) return;
    this.meta.writeUInt32LE(gen >>> 0, M.doneGen);
    this.writeMeta();
  }

  private writeMeta(): void {
    check('update tma_pin_meta', ffi.update(this.metaFd, this.zeroKey, this.meta, 0n));
  }

  /** Pin path of a link: `link_<ifindex>_<ingress|egress|xdp_native|xdp_generic>` (bpffs refuses dots in names). */
  linkPath(ifindex: number, where: string): string {
    return path.join(this.dir, `link_${ifindex}_${where}`);
  }

  /** The pinned link at `file`, or -1 when there is none. */
  static openLink(file: string): number {
    const fd = ffi.objGet(file);
    if (fd < 0 && ffi.errno() !== ENOENT && fs.existsSync(file)) throw new LibbpfError(`bpf_obj_get(${file})`, fd);
    return fd;
  }

  /** Every pinned link in the directory (the caller drops those of interfaces it did not attach to). */
  linkPins(): string[] {
    try {
      return fs
        .readdirSync(this.dir)
        .filter((n) => n.startsWith('link_'))
        .map((n) => path.join(this.dir, n));
    } catch {
      return [];
    }
  }

  /** Clean stop: every pin goes (the caller detached the links first). */
  remove(): void {
    if (this.metaFd >= 0) ffi.closeFd(this.metaFd);
    this.metaFd = -1;
    removePinDir(this.dir);
  }

  /** A crash as the kernel sees it: the fds go, the pins stay (tests). */
  abandon(): void {
    if (this.metaFd >= 0) ffi.closeFd(this.metaFd);
    this.metaFd = -1;
  }
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
