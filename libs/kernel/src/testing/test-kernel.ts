// The TMA object loaded for tests and benchmarks: every program through the one loader (TmaKernel), driven by
// BPF_PROG_TEST_RUN, with read-outs in exact BigInt form and per CPU (the agent's EpochReader sums into doubles and
// merges CPUs), the epoch set by hand, and the per-packet trace the object records when loaded with trace on.
import {
  CAND_SETS,
  CAND_WAYS,
  CMS_CELLS,
  ERR_COUNT,
  EpochReader,
  FLOW_KEY_BYTES,
  HLL_KINDS,
  HLL_M,
  PROTOCOLS,
  STRUCTS,
  TmaKernel,
  check,
  ffi,
  u32,
  type LoadOptions,
  type ProgramName,
  type StateMap,
} from '../index';
import { OBJECT_PATH } from './host';
import { bpfTestRun, setThreadAffinity } from './test-run';

/** enum tma_err: why the parser gave up on a packet (ERR_REASONS holds the names snapshots carry). */
export enum TmaErr {
  EthTrunc = 0,
  VlanTrunc = 1,
  VlanDepth = 2,
  Ipv4Trunc = 3,
  Ipv4Hdr = 4,
  Ipv6Trunc = 5,
  Ipv6Hdr = 6,
  Ipv6ExtTrunc = 7,
  Ipv6ExtDepth = 8,
  L4Trunc = 9,
  TcpHdr = 10,
  Nonlinear = 11,
  TcpTrunc = 12,
}
/** enum tma_trace_kind: what the parser made of the last packet. */
export enum TraceKind {
  Flow = 0,
  NonIp = 1,
  Error = 2,
}

/** tma_totals summed over CPUs (BigInt form, used by the kernel tests). */
export interface Totals {
  packets: bigint;
  bytes: bigint;
  nonIpPackets: bigint;
  nonIpBytes: bigint;
  errorPackets: bigint;
  errorBytes: bigint;
  candInserts: bigint;
  candEvictions: bigint;
  candEvictedPackets: bigint;
  candEvictedBytes: bigint;
  candDroppedMaxPackets: bigint;
  candDroppedMaxBytes: bigint;
  pulls: bigint;
  protoPackets: bigint[];
  protoBytes: bigint[];
}

export interface Candidate {
  key: Uint8Array;
  packets: bigint;
  bytes: bigint;
  hash: bigint;
  /** packets and bytes when the flow entered (its CMS estimate then); the rest were counted here, not in the CMS */
  basePackets: bigint;
  baseBytes: bigint;
  cpu: number;
}

export interface Trace {
  seq: bigint;
  key: Uint8Array;
  hash: bigint;
  kind: TraceKind;
  err: number;
  bytes: number;
}

export interface RunResult {
  retval: number;
  /** average ns per repetition, as measured by the kernel */
  duration: number;
}

/** struct __sk_buff as BPF_PROG_TEST_RUN takes it for a TC program: a GSO skb of `segs` segments of `size` bytes. */
export function gsoContext(segs: number, size: number): Uint8Array {
  const ctx = Buffer.alloc(192);
  ctx.writeUInt32LE(segs, 164); // gso_segs
  ctx.writeUInt32LE(size, 176); // gso_size
  return ctx;
}

/** BPF_PROG_TEST_RUN of one frame, `repeat` times (`ctx`: a struct __sk_buff for TC programs). */
export function testRun(progFd: number, frame: Uint8Array, repeat = 1, ctx?: Uint8Array): RunResult {
  const r = bpfTestRun(progFd, frame, repeat, ctx);
  check('bpf_prog_test_run_opts', r.rc);
  return { retval: r.retval, duration: r.duration };
}

/** Pins the calling thread to one CPU: BPF_PROG_TEST_RUN runs on the caller's CPU, and per-CPU state (the
 * candidate table, the CMS estimate that admits a flow) is only deterministic when every run lands on the same one. */
export function pinToCpu(cpu: number): void {
  if (setThreadAffinity([cpu]) !== 0) throw new Error(`sched_setaffinity: ${ffi.strerror(ffi.errno())}`);
}

/** The .rodata knobs of a test load (no hook: every program is loaded). */
export type TestConfig = Omit<LoadOptions, 'objectPath' | 'hook'>;

export class TestKernel {
  private epochReader: EpochReader | null = null;

  private constructor(readonly kernel: TmaKernel) {}

  /** open -> set the .rodata knobs -> load (verifier runs here). */
  static load(config: TestConfig = {}, objectPath = OBJECT_PATH): TestKernel {
    return new TestKernel(TmaKernel.load({ ...config, objectPath }));
  }

  get cpus(): number {
    return this.kernel.cpus;
  }

  close(): void {
    this.kernel.close();
  }

  /** tma_state mapped into this process (what the agent reads). */
  state(): StateMap {
    return this.kernel.state();
  }

  programFd(name: ProgramName): number {
    return this.kernel.programFd(name);
  }

  mapFd(name: string): number {
    return this.kernel.mapFd(name);
  }

  run(prog: ProgramName, frame: Uint8Array, repeat = 1, ctx?: Uint8Array): RunResult {
    return testRun(this.programFd(prog), frame, repeat, ctx);
  }

  /** The agent's epoch reader on this object (flip, barrier, the folded CMS read). */
  reader(): EpochReader {
    this.epochReader ??= new EpochReader(this.kernel);
    return this.epochReader;
  }

  setEpoch(epoch: 0 | 1): void {
    this.reader().setEpoch(epoch);
  }

  /** Returns once every program that might still use the old epoch has finished (the kernel runs synchronize_rcu
   * after an update of a map-of-maps). */
  barrier(): void {
    this.reader().barrier();
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
      candEvictedPackets: sum(m.cand_evicted_packets),
      candEvictedBytes: sum(m.cand_evicted_bytes),
      candDroppedMaxPackets: sum(m.cand_dropped_max_packets),
      candDroppedMaxBytes: sum(m.cand_dropped_max_bytes),
      pulls: sum(m.pulls),
      protoPackets: arr(0),
      protoBytes: arr(8),
    };
  }

  /** Wire packets and bytes of one interface slot (0: interfaces without one) and direction (0 in, 1 out). */
  interfaceTotals(copy: number, slot: number, direction: 0 | 1): { packets: bigint; bytes: bigint } {
    const at = STRUCTS.tma_state.members.ifc + 16 * (slot * 2 + direction);
    return { packets: this.sum(copy, at), bytes: this.sum(copy, at + 8) };
  }

  errors(copy: number): bigint[] {
    return Array.from({ length: ERR_COUNT }, (_, r) => this.sum(copy, STRUCTS.tma_state.members.errors + 8 * r));
  }

  /** Whole CMS of a copy, summed over CPUs, as the agent reads it (EpochReader: each candidate's packets since it
   * entered, which the kernel keeps out of the CMS, folded into its cells): packets and bytes per flat cell. */
  cms(copy: number): { packets: BigUint64Array; bytes: BigUint64Array } {
    const r = this.reader().readCopy(copy);
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
            key: st.bytes.slice(at + m.key + FLOW_KEY_BYTES * w, at + m.key + FLOW_KEY_BYTES * (w + 1)),
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
      key: Uint8Array.from(buf.subarray(m.key, m.key + FLOW_KEY_BYTES)),
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
