// Reading stored rows back: decoding one sketch column at a time and merging decoded sketches into fresh ones, for
// readers that cache decoded rows (the query API) rather than fold whole rows into a MergedWindow.
import {
  CountMinSketch,
  HyperLogLog,
  PrefixCounts,
  decodeCandidateList,
  decodeCountMinSketch,
  decodeHyperLogLog,
} from '@tma/sketch';
import { CandidateBlock } from './candidates';
import type { SKETCH_COLUMNS } from './partial-rows';

/** One sketch column's name (the keys of SketchColumns, as listed by SKETCH_COLUMNS), or the prefix counts. */
export type SketchColumn = (typeof SKETCH_COLUMNS)[number] | 'prefixes';

/** The decoded form of a sketch column: CMS, candidate block or HLL. */
export type DecodedSketch<C extends SketchColumn> = C extends 'cms_packets' | 'cms_bytes'
  ? CountMinSketch
  : C extends 'candidates'
    ? CandidateBlock
    : C extends 'prefixes'
      ? PrefixCounts | null
      : HyperLogLog;

/** Decodes one stored sketch column (candidates hashed once, into a block every union and ranking reuses). */
export function decodeSketchColumn<C extends SketchColumn>(column: C, blob: Uint8Array): DecodedSketch<C> {
  if (column === 'cms_packets' || column === 'cms_bytes') return decodeCountMinSketch(blob) as DecodedSketch<C>;
  if (column === 'candidates') return CandidateBlock.from(decodeCandidateList(blob)) as DecodedSketch<C>;
  // prefix counts are JSON text; null: the row has none (its traffic counts as unknown prefixes)
  if (column === 'prefixes')
    return (blob.length ? PrefixCounts.decode(Buffer.from(blob).toString('utf8')) : null) as DecodedSketch<C>;
  return decodeHyperLogLog(blob) as DecodedSketch<C>;
}

/** A fresh CMS holding the merge of `list` (inputs untouched, so they may stay cached). */
export function mergedCms(list: readonly CountMinSketch[]): CountMinSketch {
  const out = new CountMinSketch(list[0] ? { depth: list[0].depth, widthBits: list[0].widthBits } : {});
  for (const s of list) out.merge(s);
  return out;
}

/** A fresh HLL holding the merge of `list` (inputs untouched). */
export function mergedHll(list: readonly HyperLogLog[]): HyperLogLog {
  const out = new HyperLogLog(list[0] ? { precision: list[0].p } : {});
  for (const s of list) out.merge(s);
  return out;
}
