// Byte layouts of bpf/include/tma_types.h as user space reads them: the one TypeScript mirror of the kernel's
// structs. layout.spec.ts checks every number here against the BTF of the built object, so a change on either side
// fails a test instead of corrupting reads. Sketch dimensions come from the sketch specification.
import {
  CAND_SLOTS,
  CAND_WAYS as SPEC_CAND_WAYS,
  CMS_DEPTH as SPEC_CMS_DEPTH,
  CMS_WIDTH_BITS as SPEC_CMS_WIDTH_BITS,
  HLL_KINDS as SPEC_HLL_KINDS,
  HLL_P as SPEC_HLL_P,
  PROTOCOLS as SPEC_PROTOCOLS,
  SPREAD_BYTES,
} from '@tma/sketch';

export { CAND_NOISE_SHIFT_DEFAULT, CAND_THRESHOLD_DEFAULT, HllKind } from '@tma/sketch';

export const COPIES = 2;
/** libbpf's name for the map holding the epoch flag (struct tma_ctl, the global in section .data.tma_ctl). */
export const CTL_MAP = '.data.tma_ctl';
/** Read-only section of the hash key (struct tma_hash_key), filled by the loader before load. */
export const HASH_KEY_SECTION = '.rodata.hash';
export const CMS_DEPTH = SPEC_CMS_DEPTH;
export const CMS_WIDTH_BITS = SPEC_CMS_WIDTH_BITS;
export const CMS_WIDTH = 1 << CMS_WIDTH_BITS;
export const CMS_CELLS = CMS_DEPTH * CMS_WIDTH;
export const HLL_P = SPEC_HLL_P;
export const HLL_M = 1 << HLL_P;
export const HLL_KINDS = SPEC_HLL_KINDS;
export const CAND_WAYS = SPEC_CAND_WAYS;
export const CAND_SETS = CAND_SLOTS / CAND_WAYS;
export const PROTOCOLS = SPEC_PROTOCOLS;
export const FLOW_KEY_BYTES = 40;

export const ERR_COUNT = 13;
/** Error counter slots in struct tma_state (ERR_COUNT used). */
export const ERR_SLOTS = 16;

/** Stable names of enum tma_err, as they travel in snapshots (parseErrors[].reason). */
export const ERR_REASONS: readonly string[] = [
  'eth_truncated',
  'vlan_truncated',
  'vlan_depth',
  'ipv4_truncated',
  'ipv4_header',
  'ipv6_truncated',
  'ipv6_header',
  'ipv6_ext_truncated',
  'ipv6_ext_depth',
  'l4_truncated',
  'tcp_header',
  'nonlinear',
  'tcp_truncated',
];

/** Interface slots of tma_state.ifc (slot 0: interfaces without a slot of their own) and the tma_ifs table size. */
export const IF_SLOTS = 64;
export const IF_TABLE = 256;
/** libbpf's name for the map holding the interface slot table (struct tma_if_slot[IF_TABLE], .data.tma_ifs). */
export const IFS_MAP = '.data.tma_ifs';
/** enum tma_direction: the second index of tma_state.ifc. */
export const DIRECTIONS = ['ingress', 'egress'] as const;
export type Direction = (typeof DIRECTIONS)[number];
/** enum tma_tunnels: VXLAN/Geneve/GRE packets keyed by their outer or their inner header. */
export const TUNNEL_MODES = ['outer', 'inner'] as const;
export type TunnelMode = (typeof TUNNEL_MODES)[number];

/** SYN-flood counters (struct tma_syn_state, map tma_syn): bpf/include/tma_types.h. */
export const SYN_MAP = 'tma_syn';
export const SYN_DEPTH = 2;
export const SYN_WIDTH_BITS = 9;
export const SYN_WIDTH = 1 << SYN_WIDTH_BITS;
export const SYN_CELLS = SYN_DEPTH * SYN_WIDTH;
export const SYN_CANDS = 64;
/** A SYN destination enters the candidates once its estimate on a CPU reaches this. */
export const SYN_CAND_MIN = 16;
/** enum tma_syn_class: the counters of a cell. */
export const SYN_CLASSES = ['syn', 'synAck', 'rst', 'ack'] as const;

const TOTALS_SIZE = 128 + 2 * 8 * PROTOCOLS;
const STATE_CMS = TOTALS_SIZE + 8 * ERR_SLOTS;
const STATE_HLL = STATE_CMS + 16 * CMS_CELLS;
const STATE_CAND = STATE_HLL + HLL_KINDS * HLL_M;
const STATE_CAND_BASE = STATE_CAND + CAND_SETS * 64 * CAND_WAYS;
const STATE_IFC = STATE_CAND_BASE + 16 * CAND_SETS * CAND_WAYS;
const STATE_SPREAD = STATE_IFC + 16 * 2 * IF_SLOTS;
const STATE_PFX = STATE_SPREAD + SPREAD_BYTES;
/** Heavy prefixes (struct tma_pfx_set): tables by side (0 source, 1 destination) × family × level, Space-Saving sets. */
export const PFX_LEVELS = 3;
export const PFX_TABLES = 12;
export const PFX_SET_BITS = 6;
export const PFX_SETS = 1 << PFX_SET_BITS;
export const PFX_WAYS = 4;
/** Prefix lengths of the levels, IPv4 then IPv6 (table = side * 6 + family index * 3 + level). */
export const PFX_LENGTHS = [
  [8, 16, 24],
  [32, 48, 64],
] as const;
const PFX_SET_SIZE = 8 * (5 * PFX_WAYS + 4);
const STATE_SIZE = STATE_PFX + PFX_SET_SIZE * PFX_TABLES * PFX_SETS;

/** Struct sizes and member byte offsets, named as in C. */
export const STRUCTS = {
  tma_flow_key: { size: 40, members: { src: 0, dst: 16, sport: 32, dport: 34, proto: 36, domain: 37, pad: 38 } },
  tma_ctl: { size: 8, members: { epoch: 0, pad: 4 } },
  tma_hash_key: { size: 48, members: { k: 0, f: 40 } },
  tma_cfg: { size: 24, members: { sample_rate: 0, trace: 4, cand_threshold: 8, cand_noise_shift: 16, tunnels: 20 } },
  tma_cms_cell: { size: 16, members: { packets: 0, bytes: 8 } },
  tma_proto_count: { size: 16, members: { packets: 0, bytes: 8 } },
  tma_hll: { size: HLL_M, members: { reg: 0 } },
  /** by field: hash[ways], packets[ways], bytes[ways], key[ways] */
  tma_cand_set: {
    size: 24 * CAND_WAYS + 40 * CAND_WAYS,
    members: { hash: 0, packets: 8 * CAND_WAYS, bytes: 16 * CAND_WAYS, key: 24 * CAND_WAYS },
  },
  tma_cand_base: { size: 16, members: { packets: 0, bytes: 8 } },
  /** by field: prefix[ways], packets[ways], bytes[ways], base_packets[ways], base_bytes[ways], evicted_bytes */
  tma_pfx_set: {
    size: PFX_SET_SIZE,
    members: {
      prefix: 0,
      packets: 8 * PFX_WAYS,
      bytes: 16 * PFX_WAYS,
      base_packets: 24 * PFX_WAYS,
      base_bytes: 32 * PFX_WAYS,
      evicted_bytes: 40 * PFX_WAYS,
      pad: 40 * PFX_WAYS + 8,
    },
  },
  tma_if_count: { size: 16, members: { packets: 0, bytes: 8 } },
  tma_if_slot: { size: 8, members: { ifindex: 0, slot: 4 } },
  tma_totals: {
    size: TOTALS_SIZE,
    members: {
      packets: 0,
      bytes: 8,
      non_ip_packets: 16,
      non_ip_bytes: 24,
      error_packets: 32,
      error_bytes: 40,
      cand_inserts: 48,
      cand_evictions: 56,
      pulls: 64,
      rng: 72,
      cand_evicted_packets: 80,
      cand_evicted_bytes: 88,
      cand_dropped_max_packets: 96,
      cand_dropped_max_bytes: 104,
      reserved: 112,
      proto: 128,
    },
  },
  tma_state: {
    size: STATE_SIZE,
    members: {
      totals: 0,
      errors: TOTALS_SIZE,
      cms: STATE_CMS,
      hll: STATE_HLL,
      cand: STATE_CAND,
      cand_base: STATE_CAND_BASE,
      ifc: STATE_IFC,
      spread: STATE_SPREAD,
      pfx: STATE_PFX,
    },
  },
  tma_spread_bucket: { size: 64, members: { src: 0, dst: 16, port: 32, level: 48, pad: 49 } },
  /** SYN-flood counters (tma_syn): CMS cells of the four flag classes, then the candidate destinations */
  tma_syn_cell: { size: 16, members: { c: 0 } },
  tma_syn_cand: { size: 32, members: { hash: 0, addr: 8, syn: 24, pad: 28 } },
  tma_syn_state: { size: 16 * SYN_CELLS + 32 * SYN_CANDS, members: { cms: 0, cand: 16 * SYN_CELLS } },
  tma_trace: { size: 72, members: { seq: 0, key: 8, hash: 48, kind: 56, err: 60, bytes: 64, pad: 68 } },
} as const;

/** tma_state key of one CPU's entry for one copy. */
export const stateKey = (cpu: number, copy: number): number => cpu * COPIES + copy;

/** Entries of tma_state the loader sizes the map to: one per (possible CPU, copy). */
export const stateEntries = (cpus: number): number => cpus * COPIES;

/** Bytes of the tma_state mmap: the kernel page-aligns the values of an mmapable array (entries are 8-aligned). */
export const stateMmapBytes = (cpus: number, pageSize = 4096): number => {
  const bytes = stateEntries(cpus) * STATE_SIZE;
  return Math.ceil(bytes / pageSize) * pageSize;
};
