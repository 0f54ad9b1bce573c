// Loads the TMA object and reads its maps the way the edge agent will: whole entries (or batches of entries) per
// syscall, summed over CPUs in user space. Test helper; the agent's own loader lives in apps/edge-agent.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BATCH_OPTS, check, ffi, possibleCpus, testRun, type RunResult } from './libbpf';
import {
  CAND_SETS,
  CAND_WAYS,
  CMS_CELLS,
  CMS_CHUNK_CELLS,
  CMS_CHUNKS,
  COPIES,
  ERR_COUNT,
  HLL_KINDS,
  HLL_M,
  PROTOCOLS,
  STRUCTS,
  type Candidate,
  type Totals,
  type Trace,
} from './layout';

/** The repository root: the nearest ancestor holding bpf/tma.bpf.c (works from sources and from compiled output). */
export const REPO_ROOT = ((): string => {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'bpf', 'tma.bpf.c'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no bpf/tma.bpf.c above ${__dirname}`);
  }
})();
export const OBJECT_PATH = path.join(REPO_ROOT, 'bpf', 'dist', 'tma.bpf.o');

export interface TmaConfig {
  sampleRate?: number;
  trace?: boolean;
  candThreshold?: number;
}

export type ProgramName = 'tma_xdp' | 'tma_tc';

const round8 = (n: number) => (n + 7) & ~7;

export class TmaObject {
  readonly cpus = possibleCpus();
  private readonly fds = new Map<string, number>();
  private closed = false;

  private constructor(private readonly obj: unknown) {}

  /** open -> set the .rodata knobs -> load (verifier runs here). */
  static load(config: TmaConfig = {}, objectPath = OBJECT_PATH): TmaObject {
    const obj = ffi.openFile(objectPath, null);
    if (!obj) throw new Error(`bpf_object__open_file(${objectPath}) failed: ${ffi.strerror(ffi.errno())}`);
    const t = new TmaObject(obj);
    try {
      const rodata = ffi.findMap(obj, '.rodata');
      if (!rodata) throw new Error('.rodata map not found in the object');
      const cfg = Buffer.alloc(STRUCTS.tma_cfg.size);
      cfg.writeUInt32LE(config.sampleRate ?? 1, STRUCTS.tma_cfg.members.sample_rate);
      cfg.writeUInt32LE(config.trace ? 1 : 0, STRUCTS.tma_cfg.members.trace);
      cfg.writeBigUInt64LE(BigInt(config.candThreshold ?? 32), STRUCTS.tma_cfg.members.cand_threshold);
      check('bpf_map__set_initial_value(.rodata)', ffi.setInitialValue(rodata, cfg, cfg.length));
      check('bpf_object__load', ffi.load(obj));
    } catch (e) {
      ffi.close(obj);
      throw e;
    }
    return t;
  }

  close(): void {
    if (!this.closed) ffi.close(this.obj);
    this.closed = true;
  }

  prog(name: ProgramName): number {
    const prog = ffi.findProgram(this.obj, name);
    if (!prog) throw new Error(`program ${name} not found`);
    return ffi.programFd(prog);
  }

  mapFd(name: string): number {
    const known = this.fds.get(name);
    if (known !== undefined) return known;
    const fd: number = ffi.findMapFd(this.obj, name);
    check(`map ${name}`, fd);
    this.fds.set(name, fd);
    return fd;
  }

  run(prog: ProgramName, frame: Uint8Array, repeat = 1): RunResult {
    return testRun(this.prog(prog), frame, repeat);
  }

  /** One per-CPU entry: cpus slices of round8(valueSize) bytes. */
  private lookupPercpu(map: string, key: number, valueSize: number): Buffer {
    const value = Buffer.alloc(this.cpus * round8(valueSize));
    check(`lookup ${map}[${key}]`, ffi.lookup(this.mapFd(map), u32(key), value));
    return value;
  }

  /** `count` consecutive per-CPU entries from `first` in as few bpf_map_lookup_batch calls as the kernel allows. */
  lookupRange(map: string, first: number, count: number, valueSize: number): Buffer {
    const stride = this.cpus * round8(valueSize);
    const values = Buffer.alloc(count * stride);
    const keys = Buffer.alloc(count * 4);
    let done = 0;
    while (done < count) {
      const n = [count - done];
      const inBatch = first + done === 0 ? null : u32(first + done - 1);
      const out = Buffer.alloc(4);
      const rc = ffi.lookupBatch(
        this.mapFd(map),
        inBatch,
        out,
        keys.subarray(done * 4),
        values.subarray(done * stride),
        n,
        BATCH_OPTS,
      );
      if (rc < 0 && ffi.errno() !== 2 /* ENOENT: end of map */) check(`lookup_batch ${map}`, rc);
      if (n[0] === 0) break;
      done += Math.min(n[0], count - done);
    }
    if (done < count) throw new Error(`lookup_batch ${map}: read ${done} of ${count} entries`);
    return values;
  }

  /** Overwrites `count` entries from `first` with zeros on every CPU. */
  clearRange(map: string, first: number, count: number, valueSize: number): void {
    const zero = Buffer.alloc(this.cpus * round8(valueSize));
    for (let i = 0; i < count; i++)
      check(`clear ${map}[${first + i}]`, ffi.update(this.mapFd(map), u32(first + i), zero, 0n));
  }

  setEpoch(epoch: 0 | 1): void {
    const v = Buffer.alloc(STRUCTS.tma_ctl.size);
    v.writeUInt32LE(epoch, 0);
    check('update tma_ctl', ffi.update(this.mapFd('tma_ctl'), u32(0), v, 0n));
  }

  /** Returns once every program that might still use the old epoch has finished (the kernel runs synchronize_rcu
   * after an update of a map-of-maps). */
  barrier(): void {
    const fd = Buffer.alloc(4);
    fd.writeInt32LE(this.mapFd('tma_ctl'));
    check('update tma_sync', ffi.update(this.mapFd('tma_sync'), u32(0), fd, 0n));
  }

  totals(copy: number): Totals {
    const size = STRUCTS.tma_totals.size;
    const buf = this.lookupPercpu('tma_totals', copy, size);
    const m = STRUCTS.tma_totals.members;
    const sum = (off: number) => {
      let s = 0n;
      for (let c = 0; c < this.cpus; c++) s += buf.readBigUInt64LE(c * round8(size) + off);
      return s;
    };
    const arr = (off: number, n: number) => Array.from({ length: n }, (_, i) => sum(off + 8 * i));
    return {
      packets: sum(m.packets),
      bytes: sum(m.bytes),
      nonIpPackets: sum(m.non_ip_packets),
      nonIpBytes: sum(m.non_ip_bytes),
      errorPackets: sum(m.error_packets),
      errorBytes: sum(m.error_bytes),
      candInserts: sum(m.cand_inserts),
      candEvictions: sum(m.cand_evictions),
      pulls: sum(m.pulls),
      protoPackets: arr(m.proto_packets, PROTOCOLS),
      protoBytes: arr(m.proto_bytes, PROTOCOLS),
    };
  }

  errors(copy: number): bigint[] {
    const buf = this.lookupRange('tma_errors', copy * ERR_COUNT, ERR_COUNT, 8);
    return Array.from({ length: ERR_COUNT }, (_, r) => {
      let s = 0n;
      for (let c = 0; c < this.cpus; c++) s += buf.readBigUInt64LE((r * this.cpus + c) * 8);
      return s;
    });
  }

  /** Whole CMS of a copy, summed over CPUs: packets and bytes per flat cell (row * width + column). */
  cms(copy: number): { packets: BigUint64Array; bytes: BigUint64Array } {
    const size = STRUCTS.tma_cms_chunk.size;
    const buf = this.lookupRange('tma_cms', copy * CMS_CHUNKS, CMS_CHUNKS, size);
    const cells = new BigUint64Array(buf.buffer, buf.byteOffset, buf.length / 8);
    const packets = new BigUint64Array(CMS_CELLS);
    const bytes = new BigUint64Array(CMS_CELLS);
    for (let chunk = 0; chunk < CMS_CHUNKS; chunk++)
      for (let c = 0; c < this.cpus; c++) {
        const base = ((chunk * this.cpus + c) * size) / 8;
        for (let i = 0; i < CMS_CHUNK_CELLS; i++) {
          packets[chunk * CMS_CHUNK_CELLS + i] += cells[base + 2 * i];
          bytes[chunk * CMS_CHUNK_CELLS + i] += cells[base + 2 * i + 1];
        }
      }
    return { packets, bytes };
  }

  /** The four HLLs of a copy, merged over CPUs by register max. */
  hll(copy: number): Uint8Array[] {
    const buf = this.lookupRange('tma_hll', copy * HLL_KINDS, HLL_KINDS, HLL_M);
    return Array.from({ length: HLL_KINDS }, (_, kind) => {
      const out = new Uint8Array(HLL_M);
      for (let c = 0; c < this.cpus; c++) {
        const base = (kind * this.cpus + c) * HLL_M;
        for (let i = 0; i < HLL_M; i++) if (buf[base + i] > out[i]) out[i] = buf[base + i];
      }
      return out;
    });
  }

  /** Occupied candidate ways of a copy, per CPU (user space merges by key). */
  candidates(copy: number): Candidate[] {
    const size = STRUCTS.tma_cand_set.size;
    const buf = this.lookupRange('tma_cand', copy * CAND_SETS, CAND_SETS, size);
    const m = STRUCTS.tma_cand.members;
    const out: Candidate[] = [];
    for (let set = 0; set < CAND_SETS; set++)
      for (let c = 0; c < this.cpus; c++)
        for (let w = 0; w < CAND_WAYS; w++) {
          const base = (set * this.cpus + c) * size + w * STRUCTS.tma_cand.size;
          const packets = buf.readBigUInt64LE(base + m.packets);
          if (packets === 0n) continue;
          out.push({
            key: Uint8Array.from(buf.subarray(base + m.key, base + m.key + 40)),
            packets,
            bytes: buf.readBigUInt64LE(base + m.bytes),
            hash: buf.readBigUInt64LE(base + m.hash),
            cpu: c,
          });
        }
    return out;
  }

  trace(): Trace {
    const buf = Buffer.alloc(STRUCTS.tma_trace.size);
    check('lookup tma_trace', ffi.lookup(this.mapFd('tma_trace'), u32(0), buf));
    const m = STRUCTS.tma_trace.members;
    return {
      seq: buf.readBigUInt64LE(m.seq),
      key: Uint8Array.from(buf.subarray(m.key, m.key + 40)),
      hash: buf.readBigUInt64LE(m.hash),
      kind: buf.readUInt32LE(m.kind),
      err: buf.readUInt32LE(m.err),
      bytes: buf.readUInt32LE(m.bytes),
    };
  }

  /** Zeroes every per-copy map entry of `copy` (what the agent does after reading the idle copy). */
  clear(copy: number): void {
    this.clearRange('tma_totals', copy, 1, STRUCTS.tma_totals.size);
    this.clearRange('tma_errors', copy * ERR_COUNT, ERR_COUNT, 8);
    this.clearRange('tma_cms', copy * CMS_CHUNKS, CMS_CHUNKS, STRUCTS.tma_cms_chunk.size);
    this.clearRange('tma_hll', copy * HLL_KINDS, HLL_KINDS, HLL_M);
    this.clearRange('tma_cand', copy * CAND_SETS, CAND_SETS, STRUCTS.tma_cand_set.size);
  }

  clearAll(): void {
    for (let c = 0; c < COPIES; c++) this.clear(c);
  }
}

export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}
