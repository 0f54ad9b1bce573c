// Builders for crafted test frames: Ethernet, VLAN tags, IPv4 (options, fragments), IPv6 (extension headers),
// TCP/UDP/SCTP/ICMP/ICMPv6. Checksums are left zero: the data path never validates them. Exported as `packets` by
// the testing entry.
import { parseAddress } from '@tma/sketch';

const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const be16 = (v: number) => Uint8Array.from([v >> 8, v & 0xff]);

export const ETH_IP = 0x0800;
export const ETH_IPV6 = 0x86dd;
export const ETH_ARP = 0x0806;

export function eth(type: number, payload: Uint8Array, vlans: { tpid: number; vid: number }[] = []): Uint8Array {
  const macs = Uint8Array.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
  const tags = vlans.map((v) => cat(be16(v.tpid), be16(v.vid)));
  return cat(macs, ...tags, be16(type), payload);
}

export function ipv4(
  src: string,
  dst: string,
  proto: number,
  payload: Uint8Array,
  opts: { options?: Uint8Array; fragOffset?: number; moreFragments?: boolean; ihl?: number; version?: number } = {},
): Uint8Array {
  const options = opts.options ?? new Uint8Array(0);
  const hlen = 20 + options.length;
  const h = new Uint8Array(20);
  h[0] = ((opts.version ?? 4) << 4) | (opts.ihl ?? hlen / 4);
  const total = hlen + payload.length;
  h[2] = total >> 8;
  h[3] = total & 0xff;
  const frag = ((opts.moreFragments ? 1 : 0) << 13) | ((opts.fragOffset ?? 0) >> 3);
  h[6] = frag >> 8;
  h[7] = frag & 0xff;
  h[8] = 64;
  h[9] = proto;
  h.set(parseAddress(src).subarray(12), 12);
  h.set(parseAddress(dst).subarray(12), 16);
  return cat(h, options, payload);
}

export interface Ext {
  type: number;
  /** extension body after the next-header byte (fragment: use fragment()) */
  bytes: Uint8Array;
}

/** Generic extension header (hop-by-hop, routing, destination options) of 8 * (units) bytes. */
export function extHeader(type: number, units = 1): Ext {
  const bytes = new Uint8Array(8 * units - 1);
  bytes[0] = units - 1;
  return { type, bytes };
}

export function fragmentHeader(offset: number, more: boolean): Ext {
  const bytes = new Uint8Array(7);
  const v = (offset & 0xfff8) | (more ? 1 : 0);
  bytes[1] = v >> 8;
  bytes[2] = v & 0xff;
  bytes[6] = 0x2a;
  return { type: 44, bytes };
}

/** AH: length in 4-byte units minus 2. */
export function ahHeader(words = 4): Ext {
  const bytes = new Uint8Array(4 * words - 1);
  bytes[0] = words - 2;
  return { type: 51, bytes };
}

export function ipv6(
  src: string,
  dst: string,
  proto: number,
  payload: Uint8Array,
  exts: Ext[] = [],
  version = 6,
): Uint8Array {
  const chain = exts.map((e, i) => cat(Uint8Array.of(i + 1 < exts.length ? exts[i + 1].type : proto), e.bytes));
  const body = cat(...chain, payload);
  const h = new Uint8Array(40);
  h[0] = version << 4;
  h[4] = body.length >> 8;
  h[5] = body.length & 0xff;
  h[6] = exts.length ? exts[0].type : proto;
  h[7] = 64;
  h.set(parseAddress(src), 8);
  h.set(parseAddress(dst), 24);
  return cat(h, body);
}

/** A TCP header (flags: PSH|ACK unless given; TCP_SYN etc. below) and its payload. */
export function tcp(
  sport: number,
  dport: number,
  payload: Uint8Array = new Uint8Array(0),
  doff = 5,
  flags = TCP_PSH | TCP_ACK,
): Uint8Array {
  const h = new Uint8Array(20);
  h.set(be16(sport), 0);
  h.set(be16(dport), 2);
  h[12] = doff << 4;
  h[13] = flags;
  return cat(h, payload);
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export function udp(sport: number, dport: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const h = new Uint8Array(8);
  h.set(be16(sport), 0);
  h.set(be16(dport), 2);
  h.set(be16(8 + payload.length), 4);
  return cat(h, payload);
}

export function sctp(sport: number, dport: number): Uint8Array {
  const h = new Uint8Array(12);
  h.set(be16(sport), 0);
  h.set(be16(dport), 2);
  return h;
}

export function icmp(type: number, code: number, payload: Uint8Array = new Uint8Array(4)): Uint8Array {
  return cat(Uint8Array.of(type, code, 0, 0), payload);
}

export const bytes = (n: number, fill = 0x5a): Uint8Array => new Uint8Array(n).fill(fill);
