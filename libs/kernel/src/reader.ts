// The epoch protocol from user space: flip tma_ctl.epoch, wait for every program still running on the old copy
// (an update of the tma_sync map-of-maps returns only after an RCU grace period), then read the idle copy straight
// from the mmap of tma_state (no copying syscall), sum over CPUs into plain typed arrays, and zero it in place.
// tma_ctl.epoch is a generation counter: the kernel writes copy (epoch & 1), and each flip adds one, so pinned maps
// adopted by a next process tell which generation each copy holds (docs/edge-agent.md, "Pinned maps").
// Counters become doubles: exact up to 2^53, far beyond any interval's traffic.
import {
  cmsColumn,
  flowKeyPrefixes,
  MAX_FRAME_BYTES,
  prefixMeta,
  prefixSetIndex,
  PrefixCounts,
  SPREAD_BYTES,
  SpreadSketch,
  tableOf,
  SynCounts,
  SYN_CLASSES as SKETCH_SYN_CLASSES,
} from '@tma/sketch';
import { check, ffi, u32 } from './libbpf';
import {
  CAND_SETS,
  CAND_WAYS,
  CMS_CELLS,
  CMS_DEPTH,
  CMS_WIDTH,
  CTL_MAP,
  ERR_COUNT,
  FLOW_KEY_BYTES,
  HLL_KINDS,
  HLL_M,
  IF_SLOTS,
  PFX_SETS,
  PFX_SET_BITS,
  PFX_TABLES,
  PFX_WAYS,
  PROTOCOLS,
  STRUCTS,
  SYN_CANDS,
  SYN_CELLS,
  SYN_DEPTH,
  SYN_MAP,
  SYN_WIDTH_BITS,
  stateKey,
} from './layout';
import type { TmaKernel } from './loader';
import type { StateMap } from './state-map';

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
  /** since-entry packets and bytes of the ways evicted in this copy (summed over CPUs) */
  candEvictedPackets: number;
  candEvictedBytes: number;
  pulls: number;
}

/** A candidate flow of one copy, merged over CPUs (docs/bpf.md: bounds). */
export interface KernelCandidate {
  key: Uint8Array;
  /**
   * Upper bounds of the flow's packets and bytes in this copy: on each CPU that tracks it its way's count (the CMS
   * estimate at entry + every packet since), on every other CPU that counted IP packets its CMS estimate there.
   */
  packets: number;
  bytes: number;
  /** Exactly what the ways counted since the flow entered them: lower bounds of the flow's traffic. */
  sincePackets: number;
  sinceBytes: number;
}

/**
 * What a flow that is not among the candidates can have counted in one copy, summed over CPUs: on each CPU it stayed
 * below the entry threshold (never entered) or was let go with at most the dropped maximum (evicted, or refused by
 * a set whose ways all counted more).
 */
export interface CandidateFloor {
  packets: number;
  bytes: number;
  /** the entry threshold at the end of the copy, largest over CPUs (packets) */
  thresholdPackets: number;
}

/** One idle copy, summed over CPUs. */
export interface EpochRead {
  /** the copy that was read (the kernel now writes the other one) */
  copy: number;
  /** its generation (the tma_ctl.epoch value the kernel wrote it under) */
  generation: number;
  totals: KernelTotals;
  protoPackets: Float64Array;
  protoBytes: Float64Array;
  /** by enum tma_err */
  errors: Float64Array;
  /** wire packets and bytes by interface slot and direction: index slot * 2 + (0 ingress, 1 egress); slot 0 holds
   * interfaces without a slot of their own (TmaKernel.interfaceSlots names the others) */
  ifPackets: Float64Array;
  ifBytes: Float64Array;
  /** CMS cells, row-major as the specification */
  cmsPackets: Float64Array;
  cmsBytes: Float64Array;
  /** by enum tma_hll_kind, merged over CPUs by register max */
  hll: Uint8Array[];
  /** candidate flows, per-CPU entries of the same key merged */
  candidates: KernelCandidate[];
  /** bound of every flow not among `candidates` */
  candidateFloor: CandidateFloor;
  /** per-source spreads (distinct destinations and ports), merged over CPUs */
  spread: SpreadSketch;
  /** heavy-prefix counts with bounds, merged over CPUs, the members' since-entry counts folded in */
  prefixes: PrefixCounts;
  /** TCP flag counts per server address (SYN floods), summed over CPUs; absent when the object has no tma_syn */
  syn?: SynCounts;
  /** wall time of flip + barrier + read + clear, ms */
  readMs: number;
  /** of which flip + barrier (an RCU grace period: waiting, not CPU), ms */
  barrierMs: number;
}

export class EpochReader {
  private epoch = 0;
  private readonly cpus: number;
  private readonly state: StateMap;
  private readonly ctlValue = Buffer.alloc(STRUCTS.tma_ctl.size);
  private readonly zeroKey = u32(0);
  private readonly syncValue = Buffer.alloc(4);
  /** tma_syn (SYN-flood counters), read and zeroed per (CPU, copy) with lookups and updates; -1: not in the object */
  private readonly synFd: number;
  private readonly synValue = Buffer.alloc(STRUCTS.tma_syn_state.size);
  private readonly synZero = Buffer.alloc(STRUCTS.tma_syn_state.size);

  /** `kernel`: a loaded object (only its CPU count, state mapping and map fds are used). */
  constructor(private readonly kernel: Pick<TmaKernel, 'cpus' | 'state' | 'mapFd' | 'entry'>) {
    this.cpus = kernel.cpus;
    this.state = kernel.state();
    check('lookup tma_ctl', ffi.lookup(kernel.mapFd(CTL_MAP), this.zeroKey, this.ctlValue));
    this.epoch = this.ctlValue.readUInt32LE(0);
    this.syncValue.writeInt32LE(kernel.mapFd(CTL_MAP));
    let synFd = -1;
    try {
      synFd = kernel.mapFd(SYN_MAP);
    } catch {
      // an older build without SYN counters (benchmarks)
    }
    this.synFd = synFd;
  }

  /** The copy the kernel writes now. */
  get currentEpoch(): number {
    return this.epoch & 1;
  }

  /** The generation the kernel writes now (tma_ctl.epoch). */
  get generation(): number {
    return this.epoch;
  }

  /** Flips the epoch and returns once no program can still write the old copy. Returns the idle copy. */
  flip(): number {
    const idle = this.epoch;
    this.setEpoch(idle + 1);
    this.barrier();
    return idle & 1;
  }

  /** Makes programs write copy `epoch & 1` from their next packet on, `epoch` being the new generation (flip() = this
   * + barrier(); tests set it by hand). */
  setEpoch(epoch: number): void {
    this.epoch = epoch >>> 0;
    this.ctlValue.writeUInt32LE(this.epoch, 0);
    check('update tma_ctl', ffi.update(this.kernel.mapFd(CTL_MAP), this.zeroKey, this.ctlValue, 0n));
  }

  /** Returns once every program that might still use the previous epoch has finished. */
  barrier(): void {
    // Replacing slot 0 of tma_sync makes the kernel wait for an RCU grace period: every program that looked up the
    // old epoch has returned when this call does.
    check('update tma_sync (barrier)', ffi.update(this.kernel.mapFd('tma_sync'), this.zeroKey, this.syncValue, 0n));
  }

  /**
   * flip → read the idle copy → clear it. With `keep`, the copy is left as it is, for the caller to clear once what
   * it read is safe (clearCopy): a process killed in between leaves it to the next one, in pinned maps.
   */
  read(opts: { keep?: boolean } = {}): EpochRead {
    const t0 = process.hrtime.bigint();
    const generation = this.epoch;
    const copy = this.flip();
    const t1 = process.hrtime.bigint();
    const out = this.readCopy(copy);
    out.generation = generation;
    if (!opts.keep) this.clearCopy(copy);
    out.readMs = Number(process.hrtime.bigint() - t0) / 1e6;
    out.barrierMs = Number(t1 - t0) / 1e6;
    return out;
  }

  /** Reads one copy without flipping (tests; the agent always reads the idle copy after a flip). */
  readCopy(copy: number): EpochRead {
    const cpus = this.cpus;
    this.state.live();
    const w = this.state.words;
    const bytes = this.state.bytes;
    const S = STRUCTS.tma_state.members;
    const T = STRUCTS.tma_totals.members;
    const base = Array.from({ length: cpus }, (_, c) => this.state.offset(c, copy));
    const u64 = (byteOff: number): number => w[byteOff >> 2] + w[(byteOff >> 2) + 1] * TWO32;
    const sum = (off: number): number => {
      let s = 0;
      for (let c = 0; c < cpus; c++) s += u64(base[c] + off);
      return s;
    };

    const totals: KernelTotals = {
      packets: sum(S.totals + T.packets),
      bytes: sum(S.totals + T.bytes),
      nonIpPackets: sum(S.totals + T.non_ip_packets),
      nonIpBytes: sum(S.totals + T.non_ip_bytes),
      errorPackets: sum(S.totals + T.error_packets),
      errorBytes: sum(S.totals + T.error_bytes),
      candInserts: sum(S.totals + T.cand_inserts),
      candEvictions: sum(S.totals + T.cand_evictions),
      candEvictedPackets: sum(S.totals + T.cand_evicted_packets),
      candEvictedBytes: sum(S.totals + T.cand_evicted_bytes),
      pulls: sum(S.totals + T.pulls),
    };
    const protoPackets = new Float64Array(PROTOCOLS);
    const protoBytes = new Float64Array(PROTOCOLS);
    for (let p = 0; p < PROTOCOLS; p++) {
      protoPackets[p] = sum(S.totals + T.proto + 16 * p);
      protoBytes[p] = sum(S.totals + T.proto + 16 * p + 8);
    }
    const errors = new Float64Array(ERR_COUNT);
    for (let r = 0; r < ERR_COUNT; r++) errors[r] = sum(S.errors + 8 * r);
    const ifPackets = new Float64Array(2 * IF_SLOTS);
    const ifBytes = new Float64Array(2 * IF_SLOTS);
    for (let i = 0; i < 2 * IF_SLOTS; i++) {
      ifPackets[i] = sum(S.ifc + 16 * i);
      ifBytes[i] = sum(S.ifc + 16 * i + 8);
    }

    // CMS: cell i = {u64 packets, u64 bytes} at cms + 16 i
    const cmsPackets = new Float64Array(CMS_CELLS);
    const cmsBytes = new Float64Array(CMS_CELLS);
    for (let c = 0; c < cpus; c++) {
      let x = (base[c] + S.cms) >> 2;
      for (let i = 0; i < CMS_CELLS; i++, x += 4) {
        // skip the common all-zero cell without float work
        if ((w[x] | w[x + 1] | w[x + 2] | w[x + 3]) === 0) continue;
        cmsPackets[i] += w[x] + w[x + 1] * TWO32;
        cmsBytes[i] += w[x + 2] + w[x + 3] * TWO32;
      }
    }

    // HLL: registers merged over CPUs by max
    const hll: Uint8Array[] = [];
    for (let kind = 0; kind < HLL_KINDS; kind++) {
      const at = (c: number) => base[c] + S.hll + kind * HLL_M;
      const regs = bytes.slice(at(0), at(0) + HLL_M);
      for (let c = 1; c < cpus; c++) {
        const o = at(c);
        for (let i = 0; i < HLL_M; i++) if (bytes[o + i] > regs[i]) regs[i] = bytes[o + i];
      }
      hll.push(regs);
    }

    // Per-source spreads: buckets merged over CPUs (registers by max, the candidate of the higher level).
    const spread = new SpreadSketch();
    for (let c = 0; c < cpus; c++) spread.merge(bytes.subarray(base[c] + S.spread, base[c] + S.spread + SPREAD_BYTES));

    // Candidates: CPU × set × way; a way is empty when packets == 0. A member counted its packets since it entered
    // (packets − base) in place of the CMS: fold them into its cells. The raw per-CPU cells are read before any fold
    // lands in the sums, so the estimate of a flow on a CPU that does not track it is taken from them below.
    const setSize = STRUCTS.tma_cand_set.size;
    const cm = STRUCTS.tma_cand_set.members;
    const byKey = new Map<string, KernelCandidate & { cpus: number[]; hi: number; lo: number }>();
    const members: { key: Uint8Array; packets: number; bytes: number }[][] = base.map(() => []);
    for (let c = 0; c < cpus; c++)
      for (let set = 0; set < CAND_SETS; set++)
        for (let wy = 0; wy < CAND_WAYS; wy++) {
          const at = base[c] + S.cand + set * setSize;
          const packets = u64(at + cm.packets + 8 * wy);
          if (packets === 0) continue;
          const bytesOf = u64(at + cm.bytes + 8 * wy);
          const since = base[c] + S.cand_base + (set * CAND_WAYS + wy) * STRUCTS.tma_cand_base.size;
          const foldPackets = packets - u64(since);
          const foldBytes = bytesOf - u64(since + 8);
          const lo = w[(at + cm.hash + 8 * wy) >> 2];
          const hi = w[((at + cm.hash + 8 * wy) >> 2) + 1];
          for (let row = 0; row < CMS_DEPTH; row++) {
            const cell = row * CMS_WIDTH + cmsColumn(hi, lo, row);
            cmsPackets[cell] += foldPackets;
            cmsBytes[cell] += foldBytes;
          }
          const keyAt = at + cm.key + FLOW_KEY_BYTES * wy;
          const key = bytes.slice(keyAt, keyAt + FLOW_KEY_BYTES);
          members[c].push({ key, packets: foldPackets, bytes: foldBytes });
          const id = Buffer.from(key.buffer, key.byteOffset, FLOW_KEY_BYTES).toString('latin1');
          const seen = byKey.get(id);
          if (seen) {
            seen.packets += packets;
            seen.bytes += bytesOf;
            seen.sincePackets += foldPackets;
            seen.sinceBytes += foldBytes;
            seen.cpus.push(c);
          } else
            byKey.set(id, {
              key,
              packets,
              bytes: bytesOf,
              sincePackets: foldPackets,
              sinceBytes: foldBytes,
              cpus: [c],
              hi,
              lo,
            });
        }

    // Per CPU: IP packets (they set the entry threshold) and the floor of flows the table does not list there.
    const ipPackets = base.map(
      (b) => u64(b + S.totals + T.packets) - u64(b + S.totals + T.non_ip_packets) - u64(b + S.totals + T.error_packets),
    );
    const { sampleRate, candThreshold, candNoiseShift } = this.kernel.entry;
    const floor: CandidateFloor = { packets: 0, bytes: 0, thresholdPackets: 0 };
    for (let c = 0; c < cpus; c++) {
      if (ipPackets[c] === 0) continue;
      const noise = Math.floor(Math.floor(ipPackets[c] / sampleRate) / CMS_WIDTH) * 2 ** (candNoiseShift & 31);
      const threshold = Math.max(candThreshold, noise);
      const below = threshold - 1;
      const dropP = u64(base[c] + S.totals + T.cand_dropped_max_packets);
      const dropB = u64(base[c] + S.totals + T.cand_dropped_max_bytes);
      floor.packets += Math.max(below, dropP);
      floor.bytes += Math.max(below * MAX_FRAME_BYTES, dropB);
      floor.thresholdPackets = Math.max(floor.thresholdPackets, threshold);
    }

    // A candidate missing from the table of a CPU that counted IP packets: its traffic there is all in that CPU's
    // cells (never tracked there, or folded in when evicted), so the CPU's own CMS estimate bounds it.
    const candidates: KernelCandidate[] = [];
    for (const e of byKey.values()) {
      if (e.cpus.length < cpus)
        for (let c = 0; c < cpus; c++) {
          if (ipPackets[c] === 0 || e.cpus.includes(c)) continue;
          let p = Infinity;
          let b = Infinity;
          for (let row = 0; row < CMS_DEPTH; row++) {
            const at = base[c] + S.cms + 16 * (row * CMS_WIDTH + cmsColumn(e.hi, e.lo, row));
            p = Math.min(p, u64(at));
            b = Math.min(b, u64(at + 8));
          }
          e.packets += p;
          e.bytes += b;
        }
      candidates.push({
        key: e.key,
        packets: e.packets,
        bytes: e.bytes,
        sincePackets: e.sincePackets,
        sinceBytes: e.sinceBytes,
      });
    }

    const prefixes = new PrefixCounts();
    for (let c = 0; c < cpus; c++) prefixes.add(this.readPrefixes(base[c] + S.pfx, u64, members[c]));

    return {
      copy,
      generation: (this.epoch - 1) >>> 0, // the idle copy's, when read after a flip (read() sets it)
      syn: this.synFd >= 0 ? this.readSyn(copy) : undefined,
      totals,
      protoPackets,
      protoBytes,
      errors,
      ifPackets,
      ifBytes,
      cmsPackets,
      cmsBytes,
      hll,
      candidates,
      candidateFloor: floor,
      spread,
      prefixes,
      readMs: 0,
      barrierMs: 0,
    };
  }

  /**
   * One CPU's prefix tables (docs/bpf.md, "Heavy prefixes"): each way's count is an upper bound and its count since
   * entry a lower bound; a prefix its set does not list had at most the set's smallest count (bytes: the set's
   * evicted_bytes). The members of the candidate table kept their packets out of the prefix tables: their since-entry
   * counts are added to their six prefixes here, to the prefix's way when its set lists it, else to the set's bound.
   */
  private readPrefixes(
    at: number,
    u64: (byteOff: number) => number,
    members: { key: Uint8Array; packets: number; bytes: number }[],
  ): PrefixCounts {
    const out = new PrefixCounts();
    const size = STRUCTS.tma_pfx_set.size;
    const m = STRUCTS.tma_pfx_set.members;
    const w = this.state.words;
    const setMin = new Float64Array(PFX_TABLES * PFX_SETS);
    const setBytes = new Float64Array(PFX_TABLES * PFX_SETS);
    // floors first (a prefix listed later keeps its bounds whatever the floor), then the ways
    for (let t = 0; t < PFX_TABLES; t++) {
      let floorP = 0;
      let floorB = 0;
      for (let s = 0; s < PFX_SETS; s++) {
        const set = at + (t * PFX_SETS + s) * size;
        let least = Infinity;
        for (let wy = 0; wy < PFX_WAYS; wy++) least = Math.min(least, u64(set + m.packets + 8 * wy));
        setMin[t * PFX_SETS + s] = least;
        setBytes[t * PFX_SETS + s] = u64(set + m.evicted_bytes);
        floorP = Math.max(floorP, least);
        floorB = Math.max(floorB, setBytes[t * PFX_SETS + s]);
      }
      out.setFloor(t, floorP, floorB);
    }
    for (let t = 0; t < PFX_TABLES; t++)
      for (let s = 0; s < PFX_SETS; s++) {
        const set = at + (t * PFX_SETS + s) * size;
        for (let wy = 0; wy < PFX_WAYS; wy++) {
          const packets = u64(set + m.packets + 8 * wy);
          if (packets === 0) continue;
          const bytes = u64(set + m.bytes + 8 * wy);
          out.put({
            table: t,
            lo: w[(set + m.prefix + 8 * wy) >> 2],
            hi: w[((set + m.prefix + 8 * wy) >> 2) + 1],
            packets,
            bytes,
            sincePackets: packets - u64(set + m.base_packets + 8 * wy),
            sinceBytes: bytes - u64(set + m.base_bytes + 8 * wy),
          });
        }
      }
    for (const member of members)
      for (const p of flowKeyPrefixes(member.key)) {
        const since = { sincePackets: member.packets, sinceBytes: member.bytes };
        if (out.get(p.table, p.lo, p.hi)) {
          // listed: its way's bounds grow by what the member counted
          out.put({ table: p.table, lo: p.lo, hi: p.hi, packets: member.packets, bytes: member.bytes, ...since });
          continue;
        }
        const d = tableOf(p.table);
        const s = p.table * PFX_SETS + prefixSetIndex(p.lo, p.hi, prefixMeta(d.length, d.family, d.side), PFX_SET_BITS);
        out.put({
          table: p.table,
          lo: p.lo,
          hi: p.hi,
          packets: setMin[s] + member.packets,
          bytes: setBytes[s] + member.bytes,
          ...since,
        });
      }
    return out;
  }

  /** The SYN counters of one copy, summed over CPUs; candidate addresses united. */
  private readSyn(copy: number): SynCounts {
    const out = new SynCounts(SYN_DEPTH, SYN_WIDTH_BITS);
    const key = Buffer.alloc(4);
    const v = this.synValue;
    const M = STRUCTS.tma_syn_state.members;
    const C = STRUCTS.tma_syn_cand;
    for (let cpu = 0; cpu < this.cpus; cpu++) {
      key.writeUInt32LE(stateKey(cpu, copy));
      check('lookup tma_syn', ffi.lookup(this.synFd, key, v));
      for (let i = 0; i < SYN_CELLS; i++) {
        const at = M.cms + 16 * i;
        if ((v.readUInt32LE(at) | v.readUInt32LE(at + 4) | v.readUInt32LE(at + 8) | v.readUInt32LE(at + 12)) === 0)
          continue;
        SKETCH_SYN_CLASSES.forEach((cls, j) => (out.cells[cls][i] += v.readUInt32LE(at + 4 * j)));
      }
      for (let i = 0; i < SYN_CANDS; i++) {
        const at = M.cand + C.size * i;
        if (v.readUInt32LE(at) === 0 && v.readUInt32LE(at + 4) === 0) continue;
        out.addCandidate(Uint8Array.from(v.subarray(at + C.members.addr, at + C.members.addr + 16)));
      }
    }
    return out;
  }

  /** Zeroes one copy on every CPU, in place. */
  clearCopy(copy: number): void {
    this.state.clear(copy);
    if (this.synFd < 0) return;
    const key = Buffer.alloc(4);
    for (let cpu = 0; cpu < this.cpus; cpu++) {
      key.writeUInt32LE(stateKey(cpu, copy));
      check('clear tma_syn', ffi.update(this.synFd, key, this.synZero, 0n));
    }
  }
}
