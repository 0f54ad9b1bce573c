// Depth and cost of a GraphQL operation, checked before validation and execution so a hostile document is refused in
// time linear in its length: each fragment is costed once per k in effect (memoised) and fragment cycles are refused.
// A flows list costs k items, other lists 20; introspection (__schema, __type) is costed against the schema's real
// sizes on its own budget (the standard introspection query fits), and is exempt from the depth limit. Each mutation
// field costs MUTATION_COST besides its selection.
import {
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  isInputObjectType,
  isEnumType,
  isObjectType,
  isInterfaceType,
  Kind,
  type OperationDefinitionNode,
  OperationTypeNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { InvalidInputError } from '../common/errors';

export const MAX_DEPTH = 6;
export const MAX_COMPLEXITY = 20_000;
export const MAX_INTROSPECTION_COST = 2_000_000;
/** Spreads nested deeper than this are refused outright (keeps the walk's recursion shallow). */
const MAX_NESTING = 64;
const DEFAULT_K = 10;
const LIST_FIELDS = new Set([
  'prefixes',
  'icicle',
  'levels',
  'points',
  'series',
  'protocols',
  'hosts',
  'tiers',
  'evidence',
  'related',
  'drops',
]);
const LIST_ITEMS = 20;
/** Each mutation (a proposal or decision: reads every rule, writes and audits) costs as much as 1000 fields, so one
 * operation holds at most 20 of them. */
export const MUTATION_COST = 1000;
/** Lists with a larger cap of their own (threats.service.ts: MAX_ALERTS, MAX_TIMELINE; mitigation.service.ts:
 * MAX_RULES_LISTED, MAX_AUDIT). */
const SIZED_LISTS = new Map([
  ['alerts', 100],
  ['timeline', 30],
  ['rules', 100],
  ['audit', 200],
]);

export interface Measure {
  /** Deepest data field (introspection excluded). */
  depth: number;
  complexity: number;
  introspection: number;
}

/** How many items each introspection list may hold, from the schema itself. */
export function introspectionSizes(schema: GraphQLSchema): Map<string, number> {
  const types = Object.values(schema.getTypeMap());
  let fields = 1;
  let args = 1;
  let inputs = 1;
  let values = 1;
  let related = 1;
  for (const t of types) {
    if (isObjectType(t) || isInterfaceType(t)) {
      const fs = Object.values(t.getFields());
      fields = Math.max(fields, fs.length);
      for (const f of fs) args = Math.max(args, f.args.length);
      related = Math.max(related, t.getInterfaces().length);
    }
    if (isInputObjectType(t)) inputs = Math.max(inputs, Object.keys(t.getFields()).length);
    if (isEnumType(t)) values = Math.max(values, t.getValues().length);
  }
  const directives = schema.getDirectives();
  for (const d of directives) args = Math.max(args, d.args.length);
  return new Map([
    ['types', types.length],
    ['fields', fields],
    ['args', args],
    ['inputFields', inputs],
    ['enumValues', values],
    ['interfaces', related],
    ['possibleTypes', Math.max(related, types.length)],
    ['directives', directives.length],
    ['locations', 20],
  ]);
}

interface Cost {
  depth: number;
  data: number;
  meta: number;
}

/**
 * Depth and cost of the operation to run (all operations when none is named), fragments expanded by memo.
 * Throws InvalidInputError for a k outside 1…maxK (literal or variable), before anything is costed by it.
 */
export function measure(
  doc: DocumentNode,
  options: {
    variables?: Record<string, unknown> | null;
    maxK?: number;
    sizes?: Map<string, number>;
    operationName?: string | null;
  } = {},
): Measure {
  const maxK = options.maxK ?? 1000;
  const sizes = options.sizes ?? new Map<string, number>();
  const variables = options.variables ?? {};
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of doc.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const memo = new Map<string, Cost>();
  const visiting = new Set<string>();
  let op: OperationDefinitionNode | undefined;

  const kValue = (v: ValueNode): number => {
    let raw: unknown;
    if (v.kind === Kind.VARIABLE) {
      const name = v.name.value;
      if (Object.prototype.hasOwnProperty.call(variables, name)) raw = variables[name];
      else {
        const def = op?.variableDefinitions?.find((d) => d.variable.name.value === name)?.defaultValue;
        raw = def && def.kind === Kind.INT ? Number(def.value) : def ? NaN : DEFAULT_K;
      }
      if (raw === null) raw = DEFAULT_K;
    } else if (v.kind === Kind.INT) raw = Number(v.value);
    else if (v.kind === Kind.NULL) raw = DEFAULT_K;
    else raw = NaN;
    if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1 || raw > maxK)
      throw new InvalidInputError('k', `must be a whole number from 1 to ${maxK}, got ${JSON.stringify(raw)}`);
    return raw;
  };

  const walk = (set: SelectionSetNode, k: number, meta: boolean, nesting: number): Cost => {
    if (nesting > MAX_NESTING) return { depth: Infinity, data: Infinity, meta: Infinity };
    const out: Cost = { depth: 0, data: 0, meta: 0 };
    for (const sel of set.selections) {
      let c: Cost;
      if (sel.kind === Kind.FIELD) {
        const name = sel.name.value;
        const inMeta = meta || name === '__schema' || name === '__type';
        let childK = k;
        const kArg = sel.arguments?.find((a) => a.name.value === 'k');
        if (kArg) childK = kValue(kArg.value);
        else if (name === 'topFlows') childK = DEFAULT_K;
        const sub = sel.selectionSet ? walk(sel.selectionSet, childK, inMeta, nesting + 1) : undefined;
        let items = 1;
        if (inMeta) items = sizes.get(name) ?? 1;
        else if (name === 'flows') items = k;
        else if (SIZED_LISTS.has(name)) items = SIZED_LISTS.get(name)!;
        else if (LIST_FIELDS.has(name)) items = LIST_ITEMS;
        c = {
          depth: inMeta ? 0 : 1 + (sub?.depth ?? 0),
          data: inMeta ? 0 : 1 + items * (sub?.data ?? 0),
          meta: (inMeta ? 1 : 0) + items * (sub?.meta ?? 0),
        };
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        c = walk(sel.selectionSet, k, meta, nesting + 1);
      } else {
        const name = sel.name.value;
        const key = `${name}\u0000${k}\u0000${meta}`;
        const known = memo.get(key);
        if (known) c = known;
        else {
          const frag = fragments.get(name);
          // A cycle has no finite expansion (validation would refuse it too, but only after expanding it).
          if (visiting.has(name)) return { depth: Infinity, data: Infinity, meta: Infinity };
          if (!frag)
            c = { depth: 0, data: 0, meta: 0 }; // unknown: validation refuses it
          else {
            visiting.add(name);
            c = walk(frag.selectionSet, k, meta, nesting + 1);
            visiting.delete(name);
            memo.set(key, c);
          }
        }
      }
      out.depth = Math.max(out.depth, c.depth);
      out.data += c.data;
      out.meta += c.meta;
    }
    return out;
  };

  // The root fields of a mutation through its fragments, each fragment counted once (memo); only run once walk found
  // the operation finite, so without cycles.
  const rootMemo = new Map<string, number>();
  const rootFields = (set: SelectionSetNode): number => {
    let n = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) n += sel.name.value === '__typename' ? 0 : 1;
      else if (sel.kind === Kind.INLINE_FRAGMENT) n += rootFields(sel.selectionSet);
      else {
        const frag = fragments.get(sel.name.value);
        if (frag && !rootMemo.has(frag.name.value)) rootMemo.set(frag.name.value, rootFields(frag.selectionSet));
        n += rootMemo.get(sel.name.value) ?? 0;
      }
    }
    return n;
  };
  const total: Measure = { depth: 0, complexity: 0, introspection: 0 };
  for (const d of doc.definitions) {
    if (d.kind !== Kind.OPERATION_DEFINITION) continue;
    if (options.operationName && d.name?.value !== options.operationName) continue;
    op = d;
    const c = walk(d.selectionSet, DEFAULT_K, false, 0);
    if (d.operation === OperationTypeNode.MUTATION && Number.isFinite(c.data))
      c.data += MUTATION_COST * rootFields(d.selectionSet);
    // Counted in nested selection sets below the operation's own (a root field alone is depth 0).
    total.depth = Math.max(total.depth, c.depth - 1);
    total.complexity += c.data;
    total.introspection += c.meta;
  }
  return total;
}
