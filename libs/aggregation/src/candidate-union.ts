// The candidate union of one open window: every snapshot's list (about 50 flows for a quiet host, thousands for a
// busy one) is added into it. A Map keyed by the key's hex string cost a buffer view, a 80-character string and its
// hash per flow (a third of the window merge); here a flow costs a 32-bit hash of its key bytes, a lookup by that
// small integer and a byte compare on a hash match.
import type { Candidate } from '@tma/sketch';

export class CandidateUnion {
  /** Entries in the order their flows were first seen (what the row lists). */
  private readonly list: Candidate[] = [];
  /** Key hash → index of the newest entry with that hash; older ones through `older`. */
  private readonly byHash = new Map<number, number>();
  /** Per entry: the index of the previous entry with the same hash, or -1. */
  private readonly older: number[] = [];

  get size(): number {
    return this.list.length;
  }

  values(): IterableIterator<Candidate> {
    return this.list.values();
  }

  /** The entry of flow `key` (canonical key bytes), or undefined. */
  get(key: Uint8Array): Candidate | undefined {
    const i = this.find(key, hashOf(key));
    return i < 0 ? undefined : this.list[i];
  }

  /** Adds one snapshot's candidate: its counts are summed into the flow's entry (a new entry holds a copy of the key). */
  add(c: Candidate): void {
    const key = c.key;
    const h = hashOf(key);
    const i = this.find(key, h);
    if (i >= 0) {
      const seen = this.list[i];
      seen.packets += c.packets;
      seen.bytes += c.bytes;
      seen.sincePackets = (seen.sincePackets ?? 0) + (c.sincePackets ?? 0);
      seen.sinceBytes = (seen.sinceBytes ?? 0) + (c.sinceBytes ?? 0);
      return;
    }
    const head = this.byHash.get(h);
    this.older.push(head ?? -1);
    this.byHash.set(h, this.list.length);
    // Copied: the key is a view into the Kafka message, which must not be kept alive.
    this.list.push({
      key: Uint8Array.from(key),
      packets: c.packets,
      bytes: c.bytes,
      sincePackets: c.sincePackets ?? 0,
      sinceBytes: c.sinceBytes ?? 0,
    });
  }

  private find(key: Uint8Array, h: number): number {
    let i = this.byHash.get(h);
    if (i === undefined) return -1;
    for (; i >= 0; i = this.older[i]) if (sameBytes(this.list[i].key, key)) return i;
    return -1;
  }
}

/** FNV-1a over the key bytes, folded to 30 bits (a small integer: the fastest Map key). */
function hashOf(key: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key[i], 0x01000193);
  return (h ^ (h >>> 30)) & 0x3fffffff;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
