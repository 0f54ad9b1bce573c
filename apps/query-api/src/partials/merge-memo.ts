// Values computed from an exact set of (row, version) pairs, reused while the set is unchanged: a late or rewritten
// row changes the set, so a reused merge is never stale. Bounded by bytes (least recently used out first): a merge
// of a long range holds two CMS and a large candidate union.
import { createHash } from 'node:crypto';
import { CandidateBlock } from '@tma/rollup';
import { CountMinSketch, HyperLogLog } from '@tma/sketch';
import type { PartialRef } from './partial-row';

/** Approximate bytes a memoised value holds (sketch buffers, candidate blocks, ranked lists). */
export function memoSize(v: unknown, depth = 0): number {
  if (v instanceof CountMinSketch) return v.cells.byteLength + 64;
  if (v instanceof HyperLogLog) return v.registers.byteLength + 64;
  if (v instanceof CandidateBlock) return v.byteSize + (v.unionIndex?.byteLength ?? 0);
  if (ArrayBuffer.isView(v)) return v.byteLength;
  if (depth > 3 || v === null || typeof v !== 'object') return 16;
  if (Array.isArray(v)) return 16 + v.reduce((s: number, x) => s + memoSize(x, depth + 1), 0);
  return 32 + Object.values(v).reduce((s: number, x) => s + memoSize(x, depth + 1), 0);
}

export class MergeMemo {
  private readonly cache = new Map<string, { value: unknown; size: number }>();
  private readonly pending = new Map<string, Promise<unknown>>();
  private size = 0;

  constructor(
    private readonly enabled: boolean,
    private readonly maxBytes: number,
  ) {}

  get bytes(): number {
    return this.size;
  }

  /** Concurrent requests for the same key share one computation. */
  async memo<T>(kind: string, rows: readonly PartialRef[], compute: () => Promise<T>): Promise<T> {
    if (!this.enabled) return compute();
    const h = createHash('sha1').update(kind);
    for (const r of rows) h.update(`|${r.id}#${r.version}`);
    const key = h.digest('base64');
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit.value as T;
    }
    const pending = this.pending.get(key) as Promise<T> | undefined;
    if (pending) return pending;
    const p = compute();
    this.pending.set(key, p);
    try {
      const value = await p;
      this.remember(key, value);
      return value;
    } finally {
      this.pending.delete(key);
    }
  }

  private remember(key: string, value: unknown): void {
    const size = memoSize(value);
    if (size > this.maxBytes) return; // larger than the whole budget: answered, not kept
    this.cache.set(key, { value, size });
    this.size += size;
    for (const [k, e] of this.cache) {
      if (this.size <= this.maxBytes) break;
      this.cache.delete(k);
      this.size -= e.size;
    }
  }
}
