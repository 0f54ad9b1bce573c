// Values computed from an exact set of (row, version) pairs, reused while the set is unchanged: a late or rewritten
// row changes the set, so a reused merge is never stale. Bounded by bytes (least recently used out first): a merge
// of a long range holds two CMS and a large candidate union.
import { createHash } from 'node:crypto';
import { CandidateBlock } from '@tma/rollup';
import { CountMinSketch, HyperLogLog } from '@tma/sketch';
import { RequestCancelledError, requestSignal } from '../common/request-signal';
import { ByteLru } from './byte-lru';
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
  private readonly cache: ByteLru<unknown>;
  private readonly pending = new Map<string, Promise<unknown>>();

  constructor(
    private readonly enabled: boolean,
    maxBytes: number,
  ) {
    this.cache = new ByteLru(maxBytes, (v) => memoSize(v));
  }

  get bytes(): number {
    return this.cache.bytes;
  }

  /** Concurrent requests for the same key share one computation. */
  async memo<T>(kind: string, rows: readonly PartialRef[], compute: () => Promise<T>): Promise<T> {
    if (!this.enabled) return compute();
    const h = createHash('sha1').update(kind);
    for (const r of rows) h.update(`|${r.id}#${r.version}`);
    const key = h.digest('base64');
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit as T;
    const pending = this.pending.get(key) as Promise<T> | undefined;
    // Started by a request whose client went away: redone for this one, which is still waited for.
    if (pending)
      return pending.catch((e) => {
        if (e instanceof RequestCancelledError && !requestSignal()?.aborted) return this.memo(kind, rows, compute);
        throw e;
      });
    const p = compute();
    this.pending.set(key, p);
    try {
      const value = await p;
      this.cache.set(key, value);
      return value;
    } finally {
      this.pending.delete(key);
    }
  }
}
