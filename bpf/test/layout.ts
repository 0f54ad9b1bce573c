// Byte layouts of bpf/include/tma_types.h as user space reads them. layout.spec.ts checks every number here
// against the BTF of the built object, so a change on either side fails a test instead of corrupting reads.
export const COPIES = 2;
export const CMS_DEPTH = 4;
export const CMS_WIDTH_BITS = 12;
export const CMS_WIDTH = 1 << CMS_WIDTH_BITS;
export const CMS_CELLS = CMS_DEPTH * CMS_WIDTH;
export const CMS_CHUNK_CELLS = 1024;
export const CMS_CHUNKS = CMS_CELLS / CMS_CHUNK_CELLS;
export const HLL_P = 14;
export const HLL_M = 1 << HLL_P;
export const HLL_KINDS = 4;
export const CAND_SETS = 256;
export const CAND_WAYS = 4;
export const PROTOCOLS = 256;

export enum HllKind {
  Flows = 0,
  Src = 1,
  Dst = 2,
  Dport = 3,
}

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
}
export const ERR_COUNT = 12;

export enum TraceKind {
  Flow = 0,
  NonIp = 1,
  Error = 2,
}

/** Struct sizes and member byte offsets, named as in C. */
export const STRUCTS = {
  tma_flow_key: { size: 40, members: { src: 0, dst: 16, sport: 32, dport: 34, proto: 36, domain: 37, pad: 38 } },
  tma_ctl: { size: 8, members: { epoch: 0, pad: 4 } },
  tma_cfg: { size: 16, members: { sample_rate: 0, trace: 4, cand_threshold: 8 } },
  tma_cms_cell: { size: 16, members: { packets: 0, bytes: 8 } },
  tma_cms_chunk: { size: CMS_CHUNK_CELLS * 16, members: { cell: 0 } },
  tma_hll: { size: HLL_M, members: { reg: 0 } },
  tma_cand: { size: 64, members: { key: 0, packets: 40, bytes: 48, hash: 56 } },
  tma_cand_set: { size: 64 * CAND_WAYS, members: { way: 0 } },
  tma_totals: {
    size: 128 + 2 * 8 * PROTOCOLS,
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
      reserved: 72,
      proto_packets: 128,
      proto_bytes: 128 + 8 * PROTOCOLS,
    },
  },
  tma_trace: { size: 72, members: { seq: 0, key: 8, hash: 48, kind: 56, err: 60, bytes: 64, pad: 68 } },
} as const;

/** tma_totals summed over CPUs. */
export interface Totals {
  packets: bigint;
  bytes: bigint;
  nonIpPackets: bigint;
  nonIpBytes: bigint;
  errorPackets: bigint;
  errorBytes: bigint;
  candInserts: bigint;
  candEvictions: bigint;
  pulls: bigint;
  protoPackets: bigint[];
  protoBytes: bigint[];
}

export interface Candidate {
  key: Uint8Array;
  packets: bigint;
  bytes: bigint;
  hash: bigint;
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
