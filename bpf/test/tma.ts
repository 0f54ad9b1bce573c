// Loads the TMA object and reads its state the way the edge agent does: through the mmap of tma_state, summed over
// CPUs in user space (BigInt forms, per-CPU candidates). Test helper; the agent's own loader lives in apps/edge-agent.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { check, ffi, possibleCpus, testRun, u32, type RunResult } from './libbpf';
import {
  CAND_NOISE_SHIFT_DEFAULT,
  CAND_SETS,
  CAND_THRESHOLD_DEFAULT,
  CAND_WAYS,
  CMS_CELLS,
  CTL_MAP,
  ERR_COUNT,
  HLL_KINDS,
  HLL_M,
  PROTOCOLS,
  STRUCTS,
  stateEntries,
  type Candidate,
  type Totals,
  type Trace,
} from './layout';
import { EpochReader } from '../../apps/edge-agent/src/kernel/reader';
import { StateMap } from '../../apps/edge-agent/src/kernel/state';

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
  candNoiseShift?: number;
}

export type ProgramName = 'tma_xdp' | 'tma_tc';

export class TmaObject {
  readonly cpus = possibleCpus();
  private readonly fds = new Map<string, number>();
  private stateMap: StateMap | null = null;
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
      // the knobs an object has (benchmark A/B may load older builds with a shorter struct tma_cfg)
      const m = STRUCTS.tma_cfg.members;
      const cfg = Buffer.alloc(ffi.mapValueSize(rodata));
      cfg.writeUInt32LE(config.sampleRate ?? 1, m.sample_rate);
      cfg.writeUInt32LE(config.trace ? 1 : 0, m.trace);
      cfg.writeBigUInt64LE(BigInt(config.candThreshold ?? CAND_THRESHOLD_DEFAULT), m.cand_threshold);
      if (cfg.length >= m.cand_noise_shift + 4)
        cfg.writeUInt32LE(config.candNoiseShift ?? CAND_NOISE_SHIFT_DEFAULT, m.cand_noise_shift);
      check('bpf_map__set_initial_value(.rodata)', ffi.setInitialValue(rodata, cfg, cfg.length));
      const state = ffi.findMap(obj, 'tma_state');
      if (state) check('bpf_map__set_max_entries(tma_state)', ffi.setMaxEntries(state, stateEntries(t.cpus)));
      check('bpf_object__load', ffi.load(obj));
    } catch (e) {
      ffi.close(obj);
      throw e;
    }
    return t;
  }

  close(): void {
    this.stateMap?.unmap();
    this.stateMap = null;
    if (!this.closed) ffi.close(this.obj);
    this.closed = true;
  }

  /** tma_state mapped into this process (what the agent reads). */
  state(): StateMap {
    this.stateMap ??= new StateMap(this.mapFd('tma_state'), this.cpus);
    return this.stateMap;
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

  setEpoch(epoch: 0 | 1): void {
    const v = Buffer.alloc(STRUCTS.tma_ctl.size);
    v.writeUInt32LE(epoch, 0);
    check('update tma_ctl', ffi.update(this.mapFd(CTL_MAP), u32(0), v, 0n));
  }

  /** Returns once every program that might still use the old epoch has finished (the kernel runs synchronize_rcu
   * after an update of a map-of-maps). */
  barrier(): void {
    const fd = Buffer.alloc(4);
    fd.writeInt32LE(this.mapFd(CTL_MAP));
    check('update tma_sync', ffi.update(this.mapFd('tma_sync'), u32(0), fd, 0n));
  }

  /** u64 at `off` of each CPU's entry for `copy`, summed. */
  private sum(copy: number, off: number): bigint {
    const st = this.state();
    const dv = new DataView(st.bytes.buffer, st.bytes.byteOffset, st.bytes.byteLength);
    let s = 0n;
    for (let c = 0; c < this.cpus; c++) s += dv.getBigUint64(st.offset(c, copy) + off, true);
    return s;
  }

  totals(copy: number): Totals {
    const t = STRUCTS.tma_state.members.totals;
    const m = STRUCTS.tma_totals.members;
    const sum = (off: number) => this.sum(copy, t + off);
    const arr = (off: number) => Array.from({ length: PROTOCOLS }, (_, i) => sum(m.proto + 16 * i + off));
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
      protoPackets: arr(0),
      protoBytes: arr(8),
    };
  }

  errors(copy: number): bigint[] {
    return Array.from({ length: ERR_COUNT }, (_, r) => this.sum(copy, STRUCTS.tma_state.members.errors + 8 * r));
  }

  /** Whole CMS of a copy, summed over CPUs, as the agent reads it (EpochReader: each candidate's packets since it
   * entered, which the kernel keeps out of the CMS, folded into its cells): packets and bytes per flat cell. */
  cms(copy: number): { packets: BigUint64Array; bytes: BigUint64Array } {
    const r = new EpochReader(this).readCopy(copy);
    return {
      packets: BigUint64Array.from(r.cmsPackets, (v) => BigInt(v)),
      bytes: BigUint64Array.from(r.cmsBytes, (v) => BigInt(v)),
    };
  }

  /** The CMS cells as the kernel left them (candidates' packets since they entered not folded in). */
  rawCms(copy: number): { packets: BigUint64Array; bytes: BigUint64Array } {
    const st = this.state();
    const packets = new BigUint64Array(CMS_CELLS);
    const bytes = new BigUint64Array(CMS_CELLS);
    for (let c = 0; c < this.cpus; c++) {
      const at = st.bytes.byteOffset + st.offset(c, copy) + STRUCTS.tma_state.members.cms;
      const cells = new BigUint64Array(st.bytes.buffer, at, 2 * CMS_CELLS);
      for (let i = 0; i < CMS_CELLS; i++) {
        packets[i] += cells[2 * i];
        bytes[i] += cells[2 * i + 1];
      }
    }
    return { packets, bytes };
  }

  /** The four HLLs of a copy, merged over CPUs by register max. */
  hll(copy: number): Uint8Array[] {
    const st = this.state();
    return Array.from({ length: HLL_KINDS }, (_, kind) => {
      const out = new Uint8Array(HLL_M);
      for (let c = 0; c < this.cpus; c++) {
        const base = st.offset(c, copy) + STRUCTS.tma_state.members.hll + kind * HLL_M;
        for (let i = 0; i < HLL_M; i++) if (st.bytes[base + i] > out[i]) out[i] = st.bytes[base + i];
      }
      return out;
    });
  }

  /** Occupied candidate ways of a copy, per CPU (user space merges by key). */
  candidates(copy: number): Candidate[] {
    const st = this.state();
    const dv = new DataView(st.bytes.buffer, st.bytes.byteOffset, st.bytes.byteLength);
    const m = STRUCTS.tma_cand_set.members;
    const out: Candidate[] = [];
    for (let set = 0; set < CAND_SETS; set++)
      for (let c = 0; c < this.cpus; c++)
        for (let w = 0; w < CAND_WAYS; w++) {
          const at = st.offset(c, copy) + STRUCTS.tma_state.members.cand + set * STRUCTS.tma_cand_set.size;
          const packets = dv.getBigUint64(at + m.packets + 8 * w, true);
          if (packets === 0n) continue;
          const since =
            st.offset(c, copy) +
            STRUCTS.tma_state.members.cand_base +
            (set * CAND_WAYS + w) * STRUCTS.tma_cand_base.size;
          out.push({
            key: st.bytes.slice(at + m.key + 40 * w, at + m.key + 40 * w + 40),
            packets,
            bytes: dv.getBigUint64(at + m.bytes + 8 * w, true),
            hash: dv.getBigUint64(at + m.hash + 8 * w, true),
            basePackets: dv.getBigUint64(since, true),
            baseBytes: dv.getBigUint64(since + 8, true),
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

  /** Zeroes `copy` on every CPU (what the agent does after reading the idle copy). */
  clear(copy: number): void {
    this.state().clear(copy);
  }

  clearAll(): void {
    this.state().clearAll();
  }
}

export { u32 };
