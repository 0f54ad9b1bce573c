// Values computed from an exact set of (row, version) pairs, reused while the set is unchanged: a late or rewritten
// row changes the set, so a reused merge is never stale.
import { createHash } from 'node:crypto';
import type { PartialRef } from './partial-row';

const MERGE_CACHE_ENTRIES = 128;

export class MergeMemo {
  private readonly cache = new Map<string, unknown>();
  private readonly pending = new Map<string, Promise<unknown>>();

  constructor(private readonly enabled: boolean) {}

  /** Concurrent requests for the same key share one computation. */
  async memo<T>(kind: string, rows: readonly PartialRef[], compute: () => Promise<T>): Promise<T> {
    if (!this.enabled) return compute();
    const h = createHash('sha1').update(kind);
    for (const r of rows) h.update(`|${r.id}#${r.version}`);
    const key = h.digest('base64');
    if (this.cache.has(key)) {
      const v = this.cache.get(key) as T;
      this.cache.delete(key);
      this.cache.set(key, v);
      return v;
    }
    const pending = this.pending.get(key) as Promise<T> | undefined;
    if (pending) return pending;
    const p = compute();
    this.pending.set(key, p);
    try {
      const v = await p;
      this.cache.set(key, v);
      while (this.cache.size > MERGE_CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value as string);
      return v;
    } finally {
      this.pending.delete(key);
    }
  }
}
