// Block rules in the kernel (bpf/include/tma_block.h): the LPM trie of rules by source prefix, their per-CPU
// counters and the rule count the packet path reads before it looks anything up. User space owns slots and the
// count; the kernel only deletes rules it finds expired. Expiry is in kernel monotonic ns (bpf_ktime_get_ns, the
// clock of process.hrtime.bigint()).
import { check, ENOENT, ffi, u32 } from './libbpf';
import type { TmaKernel } from './loader';

export const BLOCK_MAP = 'tma_block';
export const BLOCK_STATS_MAP = 'tma_block_stats';
/** libbpf's name for the map of struct tma_block_ctl (the global in section .data.tma_block). */
export const BLOCK_CTL_MAP = '.data.tma_block';
/** Entries of the trie and of the counter array (TMA_BLOCK_RULES, TMA_BLOCK_SLOTS). */
export const BLOCK_RULES_MAX = 1024;
export const BLOCK_SLOTS = 1024;
export const BLOCK_F_DST = 1;
export const BLOCK_F_DRY_RUN = 2;

/** Layouts of tma_block.h, checked against the object's BTF (block.spec.ts). */
export const BLOCK_STRUCTS = {
  tma_block_key: { size: 20, members: { prefixlen: 0, src: 4 } },
  tma_block_rule: {
    size: 56,
    members: { expires_ns: 0, dst: 8, key: 24, dport: 44, proto: 46, flags: 47, slot: 48, pad: 52 },
  },
  tma_block_count: { size: 16, members: { packets: 0, bytes: 8 } },
  tma_block_ctl: { size: 8 + 8 * 1024, members: { rules: 0, v6_rules: 4, v4_bits: 8 } },
} as const;

/** A rule as the kernel holds it. Addresses are 16-byte canonical (IPv4-mapped); prefixLen counts those 128 bits. */
export interface KernelBlockRule {
  src: Uint8Array;
  prefixLen: number;
  /** destination address to match, or null for any */
  dst: Uint8Array | null;
  /** destination port (host order), 0 = any */
  dport: number;
  /** IP protocol, 0 = any */
  proto: number;
  dryRun: boolean;
  /** kernel monotonic ns at which the rule stops matching (and the kernel deletes it) */
  expiresNs: bigint;
  slot: number;
}

export interface BlockCount {
  packets: number;
  bytes: number;
}

/** Kernel monotonic time in ns (CLOCK_MONOTONIC, as bpf_ktime_get_ns). */
export const monotonicNs = (): bigint => process.hrtime.bigint();

function blockKey(src: Uint8Array, prefixLen: number): Buffer {
  if (src.length !== 16) throw new RangeError('a block rule address has 16 bytes (IPv4-mapped for IPv4)');
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > 128) throw new RangeError('prefix length 0..128');
  const key = Buffer.alloc(BLOCK_STRUCTS.tma_block_key.size);
  key.writeUInt32LE(prefixLen, 0);
  // the address masked to its prefix (the trie ignores the bits past it; keys stay canonical for deletes)
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, prefixLen - 8 * i));
    key[4 + i] = src[i] & ((0xff << (8 - bits)) & 0xff);
  }
  return key;
}

/** The /16s (first 16 bits of the IPv4 address) an IPv4 prefix covers, or null for an IPv6 prefix. */
function v4Buckets(src: Uint8Array, prefixLen: number): number[] | null {
  const mapped = src.subarray(0, 10).every((b) => b === 0) && src[10] === 0xff && src[11] === 0xff;
  if (!mapped || prefixLen < 96) return null;
  const first = (src[12] << 8) | src[13];
  const bits = Math.min(16, prefixLen - 96);
  const n = 1 << (16 - bits);
  const base = first & ~(n - 1) & 0xffff;
  return Array.from({ length: n }, (_, i) => base + i);
}

export class BlockMap {
  private readonly trie: number;
  private readonly stats: number;
  private readonly ctl: number;
  /** the prefilter user space keeps: rules per /16 and IPv6 rules, by trie key (hex) */
  private readonly keys = new Map<string, number[] | null>();
  private readonly buckets = new Map<number, number>();
  private rules = 0;

  constructor(private readonly kernel: TmaKernel) {
    this.trie = kernel.mapFd(BLOCK_MAP);
    this.stats = kernel.mapFd(BLOCK_STATS_MAP);
    this.ctl = kernel.mapFd(BLOCK_CTL_MAP);
  }

  /** Installs or replaces the rule of a prefix; its counters are zeroed when `fresh` (a new slot). */
  put(rule: KernelBlockRule, fresh = true): void {
    if (!Number.isInteger(rule.slot) || rule.slot < 0 || rule.slot >= BLOCK_SLOTS) throw new RangeError('block slot');
    const m = BLOCK_STRUCTS.tma_block_rule.members;
    const key = blockKey(rule.src, rule.prefixLen);
    const v = Buffer.alloc(BLOCK_STRUCTS.tma_block_rule.size);
    v.writeBigUInt64LE(rule.expiresNs, m.expires_ns);
    if (rule.dst) Buffer.from(rule.dst).copy(v, m.dst);
    key.copy(v, m.key);
    v.writeUInt16BE(rule.dport, m.dport); // network byte order, as the flow key
    v.writeUInt8(rule.proto, m.proto);
    v.writeUInt8((rule.dst ? BLOCK_F_DST : 0) | (rule.dryRun ? BLOCK_F_DRY_RUN : 0), m.flags);
    v.writeUInt32LE(rule.slot, m.slot);
    if (fresh) this.zero(rule.slot);
    check(`update ${BLOCK_MAP}`, ffi.update(this.trie, key, v, 0n));
    this.track(key, v4Buckets(rule.src, rule.prefixLen));
    this.writeCtl();
  }

  private track(key: Buffer, buckets: number[] | null | undefined): void {
    const id = key.toString('hex');
    for (const b of this.keys.get(id) ?? []) {
      const n = (this.buckets.get(b) ?? 1) - 1;
      if (n > 0) this.buckets.set(b, n);
      else this.buckets.delete(b);
    }
    this.keys.delete(id);
    if (buckets === undefined) return;
    this.keys.set(id, buckets);
    for (const b of buckets ?? []) this.buckets.set(b, (this.buckets.get(b) ?? 0) + 1);
  }

  /** Writes the rule count and the prefilter (the /16s of IPv4 rules, whether any rule is IPv6). */
  private writeCtl(): void {
    const v = Buffer.alloc(BLOCK_STRUCTS.tma_block_ctl.size);
    const m = BLOCK_STRUCTS.tma_block_ctl.members;
    v.writeUInt32LE(this.rules, m.rules);
    v.writeUInt32LE([...this.keys.values()].filter((b) => b === null).length, m.v6_rules);
    for (const b of this.buckets.keys()) {
      const at = m.v4_bits + 8 * (b >> 6);
      v.writeBigUInt64LE(v.readBigUInt64LE(at) | (1n << BigInt(b & 63)), at);
    }
    check(`update ${BLOCK_CTL_MAP}`, ffi.update(this.ctl, u32(0), v, 0n));
  }

  /** Removes a prefix's rule; false when it was not there (expired and deleted by the kernel, or never put). */
  delete(src: Uint8Array, prefixLen: number): boolean {
    const key = blockKey(src, prefixLen);
    const rc = ffi.deleteElem(this.trie, key);
    this.track(key, undefined);
    this.writeCtl();
    if (rc < 0 && (-rc === ENOENT || ffi.errno() === ENOENT)) return false;
    check(`delete ${BLOCK_MAP}`, rc);
    return true;
  }

  /** Every rule in the trie. */
  list(): KernelBlockRule[] {
    const out: KernelBlockRule[] = [];
    const m = BLOCK_STRUCTS.tma_block_rule.members;
    let prev: Buffer | null = null;
    const next = Buffer.alloc(BLOCK_STRUCTS.tma_block_key.size);
    const v = Buffer.alloc(BLOCK_STRUCTS.tma_block_rule.size);
    for (let i = 0; i <= BLOCK_RULES_MAX; i++) {
      if (ffi.nextKey(this.trie, prev, next) < 0) break;
      prev = Buffer.from(next);
      if (ffi.lookup(this.trie, prev, v) < 0) continue; // deleted meanwhile
      const flags = v.readUInt8(m.flags);
      out.push({
        src: Uint8Array.from(prev.subarray(4, 20)),
        prefixLen: prev.readUInt32LE(0),
        dst: flags & BLOCK_F_DST ? Uint8Array.from(v.subarray(m.dst, m.dst + 16)) : null,
        dport: v.readUInt16BE(m.dport),
        proto: v.readUInt8(m.proto),
        dryRun: (flags & BLOCK_F_DRY_RUN) !== 0,
        expiresNs: v.readBigUInt64LE(m.expires_ns),
        slot: v.readUInt32LE(m.slot),
      });
    }
    return out;
  }

  /** What the rule in a slot matched, summed over CPUs, since the slot was last zeroed. */
  count(slot: number): BlockCount {
    const cpus = this.kernel.cpus;
    const size = BLOCK_STRUCTS.tma_block_count.size;
    const buf = Buffer.alloc(size * cpus);
    check(`lookup ${BLOCK_STATS_MAP}`, ffi.lookup(this.stats, u32(slot), buf));
    let packets = 0n;
    let bytes = 0n;
    for (let c = 0; c < cpus; c++) {
      packets += buf.readBigUInt64LE(c * size);
      bytes += buf.readBigUInt64LE(c * size + 8);
    }
    return { packets: Number(packets), bytes: Number(bytes) };
  }

  zero(slot: number): void {
    const buf = Buffer.alloc(BLOCK_STRUCTS.tma_block_count.size * this.kernel.cpus);
    check(`zero ${BLOCK_STATS_MAP}[${slot}]`, ffi.update(this.stats, u32(slot), buf, 0n));
  }

  /** The rule count the packet path reads (0: it skips the lookup). */
  setRuleCount(n: number): void {
    this.rules = n;
    this.writeCtl();
  }

  ruleCount(): number {
    const v = Buffer.alloc(BLOCK_STRUCTS.tma_block_ctl.size);
    check(`lookup ${BLOCK_CTL_MAP}`, ffi.lookup(this.ctl, u32(0), v));
    return v.readUInt32LE(0);
  }
}
