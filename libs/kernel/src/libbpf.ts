// koffi binding to libbpf.so.1 and the few libc calls the agent needs. Only C ABI facts live here: struct layouts of
// libbpf's option structs (sz first, so newer libbpf versions accept them unchanged) and kernel enum values.
import koffi, { type TypeObject } from 'koffi';

const lib = koffi.load('libbpf.so.1');
const libc = koffi.load('libc.so.6');

// koffi's type names are process-wide: reuse a type when this module is evaluated again (test runners do that).
function struct(name: string, def: Record<string, string>): TypeObject {
  try {
    return koffi.struct(name, def);
  } catch {
    return koffi.type(name);
  }
}

const TcHook = struct('tma_ea_bpf_tc_hook', { sz: 'size_t', ifindex: 'int', attach_point: 'int', parent: 'uint32_t' });
const TcOpts = struct('tma_ea_bpf_tc_opts', {
  sz: 'size_t',
  prog_fd: 'int',
  flags: 'uint32_t',
  prog_id: 'uint32_t',
  handle: 'uint32_t',
  priority: 'uint32_t',
});
// bpf_link_create_opts cut after `flags`: libbpf accepts a shorter struct (its sz says which fields exist).
const LinkCreateOpts = struct('tma_ea_bpf_link_create_opts', { sz: 'size_t', flags: 'uint32_t' });
const IfNameIndex = struct('tma_ea_if_nameindex', { if_index: 'uint', if_name: 'char *' });

export const ffi = {
  openFile: lib.func('void *bpf_object__open_file(const char *path, void *opts)'),
  load: lib.func('int bpf_object__load(void *obj)'),
  close: lib.func('void bpf_object__close(void *obj)'),
  findProgram: lib.func('void *bpf_object__find_program_by_name(void *obj, const char *name)'),
  programFd: lib.func('int bpf_program__fd(void *prog)'),
  setAutoload: lib.func('int bpf_program__set_autoload(void *prog, bool autoload)'),
  findMap: lib.func('void *bpf_object__find_map_by_name(void *obj, const char *name)'),
  findMapFd: lib.func('int bpf_object__find_map_fd_by_name(void *obj, const char *name)'),
  setInitialValue: lib.func('int bpf_map__set_initial_value(void *map, const void *data, size_t size)'),
  mapValueSize: lib.func('uint32_t bpf_map__value_size(void *map)'),
  setMaxEntries: lib.func('int bpf_map__set_max_entries(void *map, uint32_t max_entries)'),
  numPossibleCpus: lib.func('int libbpf_num_possible_cpus(void)'),
  setPrint: lib.func('void *libbpf_set_print(void *fn)'),
  lookup: lib.func('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
  update: lib.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
  deleteElem: lib.func('int bpf_map_delete_elem(int fd, const void *key)'),
  nextKey: lib.func('int bpf_map_get_next_key(int fd, const void *key, void *next_key)'),
  linkCreate: lib.func(
    'int bpf_link_create(int prog_fd, int target_fd, int attach_type, const tma_ea_bpf_link_create_opts *opts)',
  ),
  tcHookCreate: lib.func('int bpf_tc_hook_create(const tma_ea_bpf_tc_hook *hook)'),
  tcAttach: lib.func('int bpf_tc_attach(const tma_ea_bpf_tc_hook *hook, _Inout_ tma_ea_bpf_tc_opts *opts)'),
  tcDetach: lib.func('int bpf_tc_detach(const tma_ea_bpf_tc_hook *hook, const tma_ea_bpf_tc_opts *opts)'),
  tcQuery: lib.func('int bpf_tc_query(const tma_ea_bpf_tc_hook *hook, _Inout_ tma_ea_bpf_tc_opts *opts)'),
  progFdById: lib.func('int bpf_prog_get_fd_by_id(uint32_t id)'),
  objInfo: lib.func('int bpf_obj_get_info_by_fd(int fd, void *info, _Inout_ uint32_t *len)'),
  // pinning in bpffs (docs/edge-agent.md, "Pinned maps")
  objPin: lib.func('int bpf_obj_pin(int fd, const char *pathname)'),
  objGet: lib.func('int bpf_obj_get(const char *pathname)'),
  reuseFd: lib.func('int bpf_map__reuse_fd(void *map, int fd)'),
  linkUpdate: lib.func('int bpf_link_update(int link_fd, int new_prog_fd, void *opts)'),
  mapCreate: lib.func(
    'int bpf_map_create(int map_type, const char *name, uint32_t key_size, uint32_t value_size, uint32_t max_entries, void *opts)',
  ),
  progQuery: lib.func(
    'int bpf_prog_query(int target_fd, int type, uint32_t query_flags, _Out_ uint32_t *attach_flags, _Out_ uint32_t *prog_ids, _Inout_ uint32_t *prog_cnt)',
  ),
  mapType: lib.func('int bpf_map__type(void *map)'),
  mapKeySize: lib.func('uint32_t bpf_map__key_size(void *map)'),
  mapMaxEntries: lib.func('uint32_t bpf_map__max_entries(void *map)'),
  mapFlags: lib.func('uint32_t bpf_map__map_flags(void *map)'),
  closeFd: libc.func('int close(int fd)'),
  mmap: libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)'),
  munmap: libc.func('int munmap(void *addr, size_t length)'),
  pageSize: libc.func('int getpagesize(void)'),
  strerror: libc.func('const char *strerror(int errnum)'),
  socket: libc.func('int socket(int domain, int type, int protocol)'),
  ioctl: libc.func('int ioctl(int fd, unsigned long request, ...)'),
  ifNameIndex: libc.func('void *if_nameindex(void)'),
  ifFreeNameIndex: libc.func('void if_freenameindex(void *ptr)'),
  errno: (): number => koffi.errno(),
};

// libbpf's own stderr lines would break the one-JSON-object-per-line log; every failure is reported through
// return codes instead.
ffi.setPrint(null);

export const TC_HOOK_SIZE = koffi.sizeof(TcHook);
export const TC_OPTS_SIZE = koffi.sizeof(TcOpts);
export const LINK_CREATE_OPTS_SIZE = koffi.sizeof(LinkCreateOpts);

/** enum bpf_attach_type values used here (uapi; stable). */
export const BPF_XDP = 37;
export const BPF_TCX_INGRESS = 46;
export const BPF_TCX_EGRESS = 47;
/** enum bpf_tc_attach_point */
export const BPF_TC_INGRESS = 1;
export const BPF_TC_EGRESS = 2;
export const BPF_TC_F_REPLACE = 1;
/** XDP attach flags */
export const XDP_FLAGS_SKB_MODE = 1 << 1;
export const XDP_FLAGS_DRV_MODE = 1 << 2;

/** mmap(2) */
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;

/** enum bpf_map_type */
export const BPF_MAP_TYPE_ARRAY = 2;

export const ENOENT = 2;
export const ENODEV = 19;
export const EEXIST = 17;
export const EINVAL = 22;
export const EOPNOTSUPP = 95;

export class LibbpfError extends Error {
  override name = 'LibbpfError';
  /** Positive errno. */
  readonly errno: number;
  constructor(what: string, code: number) {
    const errno = code < 0 && code !== -1 ? -code : ffi.errno();
    super(`${what}: ${ffi.strerror(errno)} (errno ${errno})`);
    this.errno = errno;
  }
}

/** libbpf 1.x returns -errno (or -1 with errno set) on failure. */
export function check(what: string, rc: number): number {
  if (rc < 0) throw new LibbpfError(what, rc);
  return rc;
}

export const possibleCpus = (): number => ffi.numPossibleCpus();

export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

/** Kernel id of the program behind an fd (bpf_prog_info.id, byte 4). */
export function programIdByFd(fd: number): number {
  const info = Buffer.alloc(256);
  check('bpf_obj_get_info_by_fd', ffi.objInfo(fd, info, [info.length]));
  return info.readUInt32LE(4);
}

/** Ids of the programs attached at a tcx hook of an interface (BPF_PROG_QUERY by ifindex), in run order. */
export function tcxProgramIds(ifindex: number, attachType: number): number[] {
  const ids = new Uint32Array(64);
  const count = [ids.length];
  const rc = ffi.progQuery(ifindex, attachType, 0, [0], ids, count);
  if (rc < 0) return [];
  return [...ids.subarray(0, count[0])];
}

/** Name of a loaded program (bpf_prog_info.name, at byte 64 of the info struct), or null when it is gone. */
export function programNameById(id: number): string | null {
  const fd = ffi.progFdById(id);
  if (fd < 0) return null;
  try {
    const info = Buffer.alloc(256);
    const len = [info.length];
    if (ffi.objInfo(fd, info, len) < 0) return null;
    const name = info.subarray(64, 80);
    const end = name.indexOf(0);
    return name.toString('latin1', 0, end < 0 ? 16 : end);
  } finally {
    ffi.closeFd(fd);
  }
}

/** The kernel's view of a map (struct bpf_map_info: type, id, key_size, value_size, max_entries, map_flags). */
export interface MapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
}

export function mapInfoByFd(fd: number): MapInfo {
  const info = Buffer.alloc(256);
  check('bpf_obj_get_info_by_fd', ffi.objInfo(fd, info, [info.length]));
  return {
    type: info.readUInt32LE(0),
    id: info.readUInt32LE(4),
    keySize: info.readUInt32LE(8),
    valueSize: info.readUInt32LE(12),
    maxEntries: info.readUInt32LE(16),
    flags: info.readUInt32LE(20),
  };
}

export interface NetInterface {
  ifindex: number;
  name: string;
  up: boolean;
  loopback: boolean;
}

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SIOCGIFFLAGS = 0x8913;
const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;
let ioctlSocket = -1;

/**
 * Interfaces of the caller's network namespace, through netlink (if_nameindex) and SIOCGIFFLAGS. Unlike
 * /sys/class/net, this is right in a namespace entered with `nsenter --net` (sysfs shows the mounting namespace).
 */
export function listInterfaces(): NetInterface[] {
  if (ioctlSocket < 0) ioctlSocket = check('socket', ffi.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const head = ffi.ifNameIndex();
  if (!head) throw new LibbpfError('if_nameindex', -1);
  const out: NetInterface[] = [];
  try {
    const stride = koffi.sizeof(IfNameIndex);
    for (let i = 0; ; i++) {
      const e = koffi.decode(head, i * stride, IfNameIndex) as { if_index: number; if_name: string | null };
      if (!e.if_index || !e.if_name) break;
      const req = Buffer.alloc(40); // struct ifreq: name[16], then the flags union
      req.write(e.if_name, 0, 15, 'latin1');
      if (ffi.ioctl(ioctlSocket, SIOCGIFFLAGS, 'uint8_t *', req) < 0) continue; // vanished meanwhile
      const flags = req.readUInt16LE(16);
      out.push({
        ifindex: e.if_index,
        name: e.if_name,
        up: (flags & IFF_UP) !== 0,
        loopback: (flags & IFF_LOOPBACK) !== 0,
      });
    }
  } finally {
    ffi.ifFreeNameIndex(head);
  }
  return out;
}
