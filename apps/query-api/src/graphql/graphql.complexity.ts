// Depth and complexity of a GraphQL operation, checked before validation and execution: a flows list costs k items,
// other lists 20; introspection fields (__schema, __type) are exempt (their shape is fixed, the document length capped).
import { type DocumentNode, type FieldNode, type FragmentDefinitionNode, Kind, type SelectionSetNode } from 'graphql';

export const MAX_DEPTH = 6;
export const MAX_COMPLEXITY = 20_000;

/** Depth and complexity of an operation (fragments expanded). */
export function measure(doc: DocumentNode): { depth: number; complexity: number } {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of doc.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  let depth = 0;
  const walk = (set: SelectionSetNode | undefined, level: number, multiplier: number, seen: Set<string>): number => {
    if (!set) return 0;
    depth = Math.max(depth, level);
    if (level > 64) return Infinity;
    let cost = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        const f = sel as FieldNode;
        if (f.name.value.startsWith('__')) continue;
        cost += multiplier;
        let m = multiplier;
        if (f.selectionSet) {
          const kArg = f.arguments?.find((a) => a.name.value === 'k');
          // k given as a literal, as a variable (worst case) or by default (10); carried to the flows list below.
          if (kArg) m = multiplier * (kArg.value.kind === Kind.INT ? Number(kArg.value.value) : 1000) * 1.0000001;
          else if (f.name.value === 'flows' && Number.isInteger(multiplier)) m = multiplier * 10;
          else if (['prefixes', 'icicle', 'points', 'series', 'protocols', 'hosts', 'tiers'].includes(f.name.value))
            m *= 20;
        }
        cost += walk(f.selectionSet, level + 1, m, seen);
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        cost += walk(sel.selectionSet, level, multiplier, seen);
      } else {
        const name = sel.name.value;
        if (seen.has(name)) return Infinity; // cycles are also refused by validation
        const frag = fragments.get(name);
        cost += walk(frag?.selectionSet, level, multiplier, new Set([...seen, name]));
      }
    }
    return cost;
  };
  let complexity = 0;
  for (const d of doc.definitions)
    if (d.kind === Kind.OPERATION_DEFINITION) complexity += walk(d.selectionSet, 0, 1, new Set());
  return { depth, complexity };
}
