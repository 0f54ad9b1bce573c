// Binary form of a heavy-hitter candidate list (family 3), after the shared header of serial-format.ts:
//
//  family 3 candidates:  param0 = key bytes (40), param1 = 0; encoding 0:
//                        varint n, then n × (u8 flags: bit0 source is IPv4, bit1 destination is IPv4;
//                        source 4|16 bytes, destination 4|16 bytes, sport u16 BE, dport u16 BE, proto u8,
//                        varint packets, varint bytes). Keys are unique.
import { CorruptError, IncompatibleParametersError } from './errors';
import { Candidate } from './heavy-hitters';
import { FlowKeySet, isFlowKey, isIPv4Mapped, toHex } from './keys';
import {
  ByteReader,
  SKETCH_HEADER_BYTES,
  SketchEncoding,
  SketchFamily,
  finishSketch,
  openSketch,
  startSketch,
} from './serial-format';
import { currentHashSeed } from './hash';
import { DOMAIN_FLOW, FLOW_KEY_BYTES } from './spec.generated';

export function encodeCandidates(candidates: Iterable<Candidate>, seedHash = currentHashSeed().seedHash): Uint8Array {
  const list = Array.isArray(candidates) ? (candidates as Candidate[]) : [...candidates];
  const w = startSketch(
    SketchFamily.Candidates,
    SketchEncoding.Dense,
    seedHash,
    FLOW_KEY_BYTES,
    0,
    8 + list.length * 24,
  );
  w.varint(list.length);
  const seen = new FlowKeySet();
  for (const c of list) {
    const k = c.key;
    if (k.length !== FLOW_KEY_BYTES || !isFlowKey(k))
      throw new RangeError('a candidate key is a 40-byte canonical flow key');
    if (!seen.add(k)) throw new RangeError(`duplicate candidate key ${toHex(k)}: merge them first (CandidateSet)`);
    if (!Number.isSafeInteger(c.packets) || c.packets < 0 || !Number.isSafeInteger(c.bytes) || c.bytes < 0) {
      throw new RangeError('candidate counts must be non-negative integers');
    }
    const src4 = isIPv4Mapped(k, 0);
    const dst4 = isIPv4Mapped(k, 16);
    w.u8((src4 ? 1 : 0) | (dst4 ? 2 : 0));
    if (src4) w.bytes(k, 12, 4);
    else w.bytes(k, 0, 16);
    if (dst4) w.bytes(k, 28, 4);
    else w.bytes(k, 16, 16);
    w.bytes(k, 32, 5); // sport, dport (network order), proto
    w.varint(c.packets);
    w.varint(c.bytes);
  }
  return finishSketch(w);
}

function readAddress(r: ByteReader, v4: boolean, key: Uint8Array, at: number): void {
  const b = r.buf;
  if (v4) {
    r.need(4, 'a candidate address');
    key[at + 10] = 0xff;
    key[at + 11] = 0xff;
    for (let i = 0; i < 4; i++) key[at + 12 + i] = b[r.pos + i];
    r.pos += 4;
  } else {
    r.need(16, 'a candidate address');
    for (let i = 0; i < 16; i++) key[at + i] = b[r.pos + i];
    r.pos += 16;
    if (isIPv4Mapped(key, at)) throw new CorruptError('IPv4-mapped address stored in IPv6 form');
  }
}

export function decodeCandidates(bytes: Uint8Array, expect: { seedHash?: number } = {}): Candidate[] {
  const h = openSketch(bytes, SketchFamily.Candidates, expect.seedHash);
  if (h.encoding !== SketchEncoding.Dense) throw new CorruptError(`candidate lists have no encoding ${h.encoding}`);
  if (h.param0 !== FLOW_KEY_BYTES || h.param1 !== 0)
    throw new IncompatibleParametersError(`candidate keys of ${h.param0} bytes; expected ${FLOW_KEY_BYTES}`);
  const end = SKETCH_HEADER_BYTES + h.payloadLength;
  const r = new ByteReader(bytes, SKETCH_HEADER_BYTES, end);
  const n = r.varint('the candidate count');
  if (n * 16 > end - r.pos) throw new CorruptError(`candidate count ${n} does not fit the payload`);
  const out: Candidate[] = new Array(n);
  const seen = new FlowKeySet();
  for (let i = 0; i < n; i++) {
    const flags = r.u8('candidate flags');
    if (flags > 3) throw new CorruptError(`candidate flags 0x${flags.toString(16)}`);
    const key = new Uint8Array(FLOW_KEY_BYTES);
    readAddress(r, (flags & 1) !== 0, key, 0);
    readAddress(r, (flags & 2) !== 0, key, 16);
    r.need(5, 'candidate ports and protocol');
    for (let j = 0; j < 5; j++) key[32 + j] = bytes[r.pos + j];
    r.pos += 5;
    key[37] = DOMAIN_FLOW;
    const packets = r.varint('candidate packets');
    const byteCount = r.varint('candidate bytes');
    if (!seen.add(key)) throw new CorruptError('duplicate candidate key');
    out[i] = { key, packets, bytes: byteCount };
  }
  if (r.pos !== end) throw new CorruptError(`${end - r.pos} bytes after the last candidate`);
  return out;
}
