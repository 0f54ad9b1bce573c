// Binary form of a heavy-hitter candidate list (family 3), after the shared header of serial-format.ts:
//
//  family 3 candidates:  param0 = key bytes (40), param1 = list flags (0 in lists written before bounds):
//                        bit0 each entry carries its since-entry counts, bit1 the list carries its floor,
//                        bit2 sampled (counts scaled from 1-in-N sampling: bounds are estimates, not certain),
//                        bit3 frequent-items summary (coarse tiers: Misra–Gries counters, see FrequentState);
//                        encoding 0:
//                        [bit1: varint floor packets, varint floor bytes], [bit3: varint k, varint fed packets,
//                        varint fed bytes, varint slack packets, varint slack bytes], varint n, then n × (u8 flags:
//                        bit0 source is IPv4, bit1 destination is IPv4; source 4|16 bytes, destination 4|16 bytes,
//                        sport u16 BE, dport u16 BE, proto u8, varint packets, varint bytes
//                        [bit0: varint since packets, varint since bytes] [bit3: varint counter packets, varint
//                        counter bytes]). Keys are unique.
import { CorruptError, IncompatibleParametersError } from './errors';
import { Candidate, CandidateFloor } from './heavy-hitters';
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

/**
 * The state of a mergeable frequent-items summary (Misra–Gries, merged as in Agarwal et al., "Mergeable Summaries",
 * PODS 2012) kept beside a coarse tier's candidate list, one per ranking: what merging two such lists needs (the
 * bounds themselves are in the list's floor and counts; libs/rollup frequent.ts).
 */
export interface FrequentState {
  /** counters kept per ranking */
  k: number;
  /** Σ of the weights fed to the summary (since-entry counts of the windows merged) */
  fed: CandidateFloor;
  /** Σ over the windows merged of the most any flow had there beyond its since-entry count */
  slack: CandidateFloor;
  /** the summary's counter of each candidate (0: not counted in that ranking), in candidate order */
  packets: number[];
  bytes: number[];
}

/** A candidate list with what it leaves out (absent: unknown, as in lists written before bounds). */
export interface CandidateList {
  candidates: Candidate[];
  floor?: CandidateFloor;
  /** counts scaled up from sampled packets: lower and upper bounds are estimates, not certain */
  sampled: boolean;
  /** the frequent-items summary of a coarse tier's list */
  frequent?: FrequentState;
}

const LIST_SINCE = 1;
const LIST_FLOOR = 2;
const LIST_SAMPLED = 4;
const LIST_FREQUENT = 8;

const count = (n: number | undefined, what: string): number => {
  const v = n ?? 0;
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${what} must be a non-negative integer`);
  return v;
};

export function encodeCandidates(
  candidates: Iterable<Candidate>,
  seedHash = currentHashSeed().seedHash,
  options: { floor?: CandidateFloor; sampled?: boolean; frequent?: FrequentState } = {},
): Uint8Array {
  const list = Array.isArray(candidates) ? (candidates as Candidate[]) : [...candidates];
  const fq = options.frequent;
  if (fq && (fq.packets.length !== list.length || fq.bytes.length !== list.length))
    throw new RangeError('frequent-items counters must match the candidates one to one');
  const flags =
    LIST_SINCE | (options.floor ? LIST_FLOOR : 0) | (options.sampled ? LIST_SAMPLED : 0) | (fq ? LIST_FREQUENT : 0);
  const w = startSketch(
    SketchFamily.Candidates,
    SketchEncoding.Dense,
    seedHash,
    FLOW_KEY_BYTES,
    flags,
    24 + list.length * 32,
  );
  if (options.floor) {
    w.varint(count(options.floor.packets, 'the floor'));
    w.varint(count(options.floor.bytes, 'the floor'));
  }
  if (fq) {
    if (!Number.isSafeInteger(fq.k) || fq.k < 1) throw new RangeError('frequent-items k must be a positive integer');
    w.varint(fq.k);
    for (const v of [fq.fed.packets, fq.fed.bytes, fq.slack.packets, fq.slack.bytes])
      w.varint(count(v, 'summary totals'));
  }
  w.varint(list.length);
  const seen = new FlowKeySet();
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
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
    w.varint(count(c.sincePackets, 'since-entry counts'));
    w.varint(count(c.sinceBytes, 'since-entry counts'));
    if (fq) {
      w.varint(count(fq.packets[i], 'summary counters'));
      w.varint(count(fq.bytes[i], 'summary counters'));
    }
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
  return decodeCandidateList(bytes, expect).candidates;
}

export function decodeCandidateList(bytes: Uint8Array, expect: { seedHash?: number } = {}): CandidateList {
  const h = openSketch(bytes, SketchFamily.Candidates, expect.seedHash);
  if (h.encoding !== SketchEncoding.Dense) throw new CorruptError(`candidate lists have no encoding ${h.encoding}`);
  if (h.param0 !== FLOW_KEY_BYTES)
    throw new IncompatibleParametersError(`candidate keys of ${h.param0} bytes; expected ${FLOW_KEY_BYTES}`);
  const listFlags = h.param1;
  if (listFlags > (LIST_SINCE | LIST_FLOOR | LIST_SAMPLED | LIST_FREQUENT))
    throw new IncompatibleParametersError(`candidate list flags 0x${listFlags.toString(16)}`);
  const end = SKETCH_HEADER_BYTES + h.payloadLength;
  const r = new ByteReader(bytes, SKETCH_HEADER_BYTES, end);
  const floor =
    listFlags & LIST_FLOOR ? { packets: r.varint('the floor packets'), bytes: r.varint('the floor bytes') } : undefined;
  let frequent: FrequentState | undefined;
  if (listFlags & LIST_FREQUENT) {
    const k = r.varint('the summary size');
    if (k < 1) throw new CorruptError('a frequent-items summary of no counters');
    frequent = {
      k,
      fed: { packets: r.varint('the summary totals'), bytes: r.varint('the summary totals') },
      slack: { packets: r.varint('the summary slack'), bytes: r.varint('the summary slack') },
      packets: [],
      bytes: [],
    };
  }
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
    const c: Candidate = { key, packets, bytes: byteCount };
    if (listFlags & LIST_SINCE) {
      const sp = r.varint('candidate since-entry packets');
      const sb = r.varint('candidate since-entry bytes');
      if (sp > packets || sb > byteCount) throw new CorruptError('a since-entry count above its upper count');
      if (sp || sb) {
        c.sincePackets = sp;
        c.sinceBytes = sb;
      }
    }
    if (frequent) {
      frequent.packets.push(r.varint('a summary counter'));
      frequent.bytes.push(r.varint('a summary counter'));
    }
    out[i] = c;
  }
  if (r.pos !== end) throw new CorruptError(`${end - r.pos} bytes after the last candidate`);
  const list: CandidateList = { candidates: out, floor, sampled: (listFlags & LIST_SAMPLED) !== 0 };
  if (frequent) list.frequent = frequent;
  return list;
}
