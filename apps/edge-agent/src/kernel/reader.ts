// The epoch protocol from user space: flip tma_ctl.epoch, wait for every program still running on the old copy
// (an update of the tma_sync map-of-maps returns only after an RCU grace period), read the idle copy with one batch
// lookup per map, sum over CPUs into plain typed arrays, and zero it with one batch update per map.
// Counters become doubles: exact up to 2^53, far beyond any interval's traffic.
import { BATCH_OPTS, ENOENT, LibbpfError, check, ffi, u32 } from './libbpf';
import {
  CAND_SETS,
  CAND_WAYS,
  CMS_CELLS,
  CMS_CHUNK_CELLS,
  CMS_CHUNKS,
  ERR_COUNT,
  FLOW_KEY_BYTES,
  HLL_KINDS,
  HLL_M,
  PROTOCOLS,
  STRUCTS,
  round8,
} from './layout';
import type { TmaKernel } from './loader';

const TWO32 = 4294967296;

export interface KernelTotals {
  packets: number;
  bytes: number;
  nonIpPackets: number;
  nonIpBytes: number;
  errorPackets: number;
  errorBytes: number;
  candInserts: number;
  candEvictions: number;
  pulls: number;
}

export interface KernelCandidate {
  key: Uint8Array;
  packets: number;
  bytes: number;
}

/** One idle copy, summed over CPUs. */
export interface EpochRead {
  /** the copy that was read (the kernel now writes the other one) */
  copy: number;
  totals: KernelTotals;
  protoPackets: Float64Array;
  protoBytes: Float64Array;
  /** by enum tma_err */
  errors: Float64Array;
  /** CMS cells, row-major as the specification */
  cmsPackets: Float64Array;
  cmsBytes: Float64Array;
  /** by enum tma_hll_kind, merged over CPUs by register max */
  hll: Uint8Array[];
  /** candidate flows, per-CPU entries of the same key summed */
  candidates: KernelCandidate[];
  /** wall time of flip + barrier + read + clear, ms */
  readMs: number;
  /** of which flip + barrier (an RCU grace period: waiting, not CPU), ms */
  barrierMs: number;
}

interface MapRange {
  name: string;
  entries: number;
  valueSize: number;
  keys: [Buffer, Buffer]; // per copy: the u32 keys of its entries
  values: Buffer;
}

export class EpochReader {
  private epoch = 0;
  private readonly cpus: number;
  private readonly totalsBuf: Buffer;
  private readonly zero: Buffer;
  private readonly ranges: Record<'errors' | 'cms' | 'hll' | 'cand', MapRange>;
  private readonly ctlValue = Buffer.alloc(STRUCTS.tma_ctl.size);
  private readonly zeroKey = u32(0);
  private readonly syncValue = Buffer.alloc(4);
  private readonly count = [0];

  constructor(private readonly kernel: TmaKernel) {
    this.cpus = kernel.cpus;
    const range = (name: string, entries: number, valueSize: number): MapRange => {
      const keys = [0, 1].map((copy) => {
        const b = Buffer.alloc(entries * 4);
        for (let i = 0; i < entries; i++) b.writeUInt32LE(copy * entries + i, i * 4);
        return b;
      }) as [Buffer, Buffer];
      return { name, entries, valueSize, keys, values: Buffer.alloc(entries * this.cpus * round8(valueSize)) };
    };
    this.ranges = {
      errors: range('tma_errors', ERR_COUNT, 8),
      cms: range('tma_cms', CMS_CHUNKS, STRUCTS.tma_cms_chunk.size),
      hll: range('tma_hll', HLL_KINDS, HLL_M),
      cand: range('tma_cand', CAND_SETS, STRUCTS.tma_cand_set.size),
    };
    this.totalsBuf = Buffer.alloc(this.cpus * round8(STRUCTS.tma_totals.size));
    this.zero = Buffer.alloc(Math.max(this.totalsBuf.length, ...Object.values(this.ranges).map((r) => r.values.length)));
    check('lookup tma_ctl', ffi.lookup(kernel.mapFd('tma_ctl'), this.zeroKey, this.ctlValue));
    this.epoch = this.ctlValue.readUInt32LE(0) & 1;
    this.syncValue.writeInt32LE(kernel.mapFd('tma_ctl'));
  }

  /** The copy the kernel writes now. */
  get currentEpoch(): number {
    return this.epoch;
  }

  /** Flips the epoch and returns once no program can still write the old copy. */
  flip(): number {
    const idle = this.epoch;
    this.epoch ^= 1;
    this.ctlValue.writeUInt32LE(this.epoch, 0);
    check('update tma_ctl', ffi.update(this.kernel.mapFd('tma_ctl'), this.zeroKey, this.ctlValue, 0n));
    // Replacing slot 0 of tma_sync makes the kernel wait for an RCU grace period: every program that looked up the
    // old epoch has returned when this call does.
    check('update tma_sync (barrier)', ffi.update(this.kernel.mapFd('tma_sync'), this.zeroKey, this.syncValue, 0n));
    return idle;
  }

  /** flip → read the idle copy → clear it. */
  read(): EpochRead {
    const t0 = process.hrtime.bigint();
    const copy = this.flip();
    const t1 = process.hrtime.bigint();
    const out = this.readCopy(copy);
    this.clearCopy(copy);
    out.readMs = Number(process.hrtime.bigint() - t0) / 1e6;
    out.barrierMs = Number(t1 - t0) / 1e6;
    return out;
  }

  /** Reads one copy without flipping (tests, and a final look at the active copy is never needed by the agent). */
  readCopy(copy: number): EpochRead {
    const cpus = this.cpus;
    // totals: one per-CPU entry
    check('lookup tma_totals', ffi.lookup(this.kernel.mapFd('tma_totals'), u32(copy), this.totalsBuf));
    const tw = new Uint32Array(this.totalsBuf.buffer, this.totalsBuf.byteOffset, this.totalsBuf.length / 4);
    const tStride = round8(STRUCTS.tma_totals.size) / 4;
    const sum = (byteOff: number): number => {
      let s = 0;
      const w = byteOff / 4;
      for (let c = 0; c < cpus; c++) s += tw[c * tStride + w] + tw[c * tStride + w + 1] * TWO32;
      return s;
    };
    const m = STRUCTS.tma_totals.members;
    const totals: KernelTotals = {
      packets: sum(m.packets),
      bytes: sum(m.bytes),
      nonIpPackets: sum(m.non_ip_packets),
      nonIpBytes: sum(m.non_ip_bytes),
      errorPackets: sum(m.error_packets),
      errorBytes: sum(m.error_bytes),
      candInserts: sum(m.cand_inserts),
      candEvictions: sum(m.cand_evictions),
      pulls: sum(m.pulls),
    };
    const protoPackets = new Float64Array(PROTOCOLS);
    const protoBytes = new Float64Array(PROTOCOLS);
    for (let p = 0; p < PROTOCOLS; p++) {
      protoPackets[p] = sum(m.proto_packets + 8 * p);
      protoBytes[p] = sum(m.proto_bytes + 8 * p);
    }

    // errors: ERR_COUNT u64 per CPU
    const ew = this.lookupRange(this.ranges.errors, copy);
    const errors = new Float64Array(ERR_COUNT);
    for (let r = 0; r < ERR_COUNT; r++)
      for (let c = 0; c < cpus; c++) errors[r] += ew[(r * cpus + c) * 2] + ew[(r * cpus + c) * 2 + 1] * TWO32;

    // CMS: chunk × CPU × cell{packets, bytes}
    const cw = this.lookupRange(this.ranges.cms, copy);
    const cmsPackets = new Float64Array(CMS_CELLS);
    const cmsBytes = new Float64Array(CMS_CELLS);
    const chunkWords = STRUCTS.tma_cms_chunk.size / 4;
    for (let chunk = 0; chunk < CMS_CHUNKS; chunk++) {
      const cellBase = chunk * CMS_CHUNK_CELLS;
      for (let c = 0; c < cpus; c++) {
        let w = (chunk * cpus + c) * chunkWords;
        for (let i = 0; i < CMS_CHUNK_CELLS; i++, w += 4) {
          // skip the common all-zero cell without float work
          if ((cw[w] | cw[w + 1] | cw[w + 2] | cw[w + 3]) === 0) continue;
          cmsPackets[cellBase + i] += cw[w] + cw[w + 1] * TWO32;
          cmsBytes[cellBase + i] += cw[w + 2] + cw[w + 3] * TWO32;
        }
      }
    }

    // HLL: kind × CPU × registers, merged by max
    const hb = this.lookupRange8(this.ranges.hll, copy);
    const hll: Uint8Array[] = [];
    for (let kind = 0; kind < HLL_KINDS; kind++) {
      const regs = hb.slice(kind * cpus * HLL_M, (kind * cpus + 1) * HLL_M);
      for (let c = 1; c < cpus; c++) {
        const base = (kind * cpus + c) * HLL_M;
        for (let i = 0; i < HLL_M; i++) if (hb[base + i] > regs[i]) regs[i] = hb[base + i];
      }
      hll.push(regs);
    }

    // Candidates: set × CPU × way; a way is empty when packets == 0
    const cb = this.lookupRange8(this.ranges.cand, copy);
    const cv = new Uint32Array(cb.buffer, cb.byteOffset, cb.length / 4);
    const setSize = STRUCTS.tma_cand_set.size;
    const way = STRUCTS.tma_cand.size;
    const cm = STRUCTS.tma_cand.members;
    const byKey = new Map<string, KernelCandidate>();
    for (let set = 0; set < CAND_SETS; set++)
      for (let c = 0; c < cpus; c++)
        for (let w = 0; w < CAND_WAYS; w++) {
          const base = (set * cpus + c) * setSize + w * way;
          const packets = cv[(base + cm.packets) / 4] + cv[(base + cm.packets) / 4 + 1] * TWO32;
          if (packets === 0) continue;
          const bytes = cv[(base + cm.bytes) / 4] + cv[(base + cm.bytes) / 4 + 1] * TWO32;
          const id = Buffer.from(cb.buffer, cb.byteOffset + base + cm.key, FLOW_KEY_BYTES).toString('latin1');
          const seen = byKey.get(id);
          if (seen) {
            seen.packets += packets;
            seen.bytes += bytes;
          } else byKey.set(id, { key: cb.slice(base + cm.key, base + cm.key + FLOW_KEY_BYTES), packets, bytes });
        }

    return { copy, totals, protoPackets, protoBytes, errors, cmsPackets, cmsBytes, hll, candidates: [...byKey.values()], readMs: 0, barrierMs: 0 };
  }

  /** Zeroes every entry of one copy: one batch update per map. */
  clearCopy(copy: number): void {
    check('clear tma_totals', ffi.update(this.kernel.mapFd('tma_totals'), u32(copy), this.zero, 0n));
    for (const r of Object.values(this.ranges)) {
      const n = [r.entries];
      check(`clear ${r.name}`, ffi.updateBatch(this.kernel.mapFd(r.name), r.keys[copy], this.zero, n, BATCH_OPTS));
      if (n[0] !== r.entries) throw new Error(`clear ${r.name}: ${n[0]} of ${r.entries} entries`);
    }
  }

  private lookupRange8(r: MapRange, copy: number): Uint8Array {
    this.batchLookup(r, copy);
    return new Uint8Array(r.values.buffer, r.values.byteOffset, r.values.length);
  }

  private lookupRange(r: MapRange, copy: number): Uint32Array {
    this.batchLookup(r, copy);
    return new Uint32Array(r.values.buffer, r.values.byteOffset, r.values.length / 4);
  }

  /** All entries of one copy in one bpf_map_lookup_batch (in_batch = the key before the first). */
  private batchLookup(r: MapRange, copy: number): void {
    const first = copy * r.entries;
    const stride = this.cpus * round8(r.valueSize);
    const keys = Buffer.alloc(r.entries * 4);
    const outBatch = Buffer.alloc(4);
    let done = 0;
    while (done < r.entries) {
      this.count[0] = r.entries - done;
      const start = first + done;
      const rc = ffi.lookupBatch(
        this.kernel.mapFd(r.name),
        start === 0 ? null : u32(start - 1),
        outBatch,
        keys.subarray(done * 4),
        r.values.subarray(done * stride),
        this.count,
        BATCH_OPTS,
      );
      if (rc < 0 && -rc !== ENOENT && ffi.errno() !== ENOENT) throw new LibbpfError(`lookup_batch ${r.name}`, rc);
      if (this.count[0] === 0) break;
      done += this.count[0];
    }
    if (done < r.entries) throw new Error(`lookup_batch ${r.name}: read ${done} of ${r.entries} entries`);
  }
}
