import { buildSchema, getIntrospectionQuery, parse } from 'graphql';
import { InvalidInputError } from '../common/errors';
import {
  introspectionSizes,
  MAX_COMPLEXITY,
  MAX_INTROSPECTION_COST,
  measure,
  MUTATION_COST,
} from './graphql.complexity';
import { SDL } from './graphql.schema';

const sizes = introspectionSizes(buildSchema(SDL));

describe('measure', () => {
  it('counts a flows list k times and other lists 20 times', () => {
    expect(measure(parse('{ cardinality { scope { exact } } }'))).toEqual({
      depth: 2,
      complexity: 3,
      introspection: 0,
    });
    const top = measure(parse('{ topFlows(k: 100) { flows { src dst } } }'));
    expect(top.complexity).toBe(1 + 1 + 100 * 2);
    expect(measure(parse('{ topFlows { flows { src } } }')).complexity).toBe(1 + 1 + 10);
    const hosts = measure(parse('{ hosts { hosts { host } } }'));
    expect(hosts.complexity).toBe(1 + 20 + 20 * 20); // both hosts fields are lists
    // Alerts cost their cap (100), timelines theirs (30), evidence a list (20).
    const threats = measure(parse('{ threats { alerts { id evidence { name } timeline { t event } } } }'));
    expect(threats.complexity).toBe(1 + 1 + 100 * (1 + (1 + 20) + (1 + 30 * 2)));
  });

  it('costs introspection on its own budget, from the schema sizes; the standard introspection query fits', () => {
    const small = measure(parse('{ __schema { types { name } } }'), { sizes });
    expect(small.complexity).toBe(0);
    expect(small.introspection).toBe(2 + sizes.get('types')!);
    const full = measure(parse(getIntrospectionQuery({ descriptions: true, specifiedByUrl: true })), { sizes });
    expect(full.introspection).toBeGreaterThan(1000);
    expect(full.introspection).toBeLessThan(MAX_INTROSPECTION_COST / 2);
    const aliased = Array.from({ length: 200 }, (_, i) => `a${i}: __schema { types { fields { args { name } } } }`);
    expect(measure(parse(`{ ${aliased.join(' ')} }`), { sizes }).introspection).toBeGreaterThan(MAX_INTROSPECTION_COST);
  });

  it('expands 40 chained fragments, each spreading the next twice, by memo (2^40 cost, measured at once)', () => {
    const frags = Array.from({ length: 40 }, (_, i) => `fragment F${i} on Hosts { ...F${i + 1} ...F${i + 1} }`).join(
      '\n',
    );
    const doc = parse(`{ hosts { ...F0 } } ${frags} fragment F40 on Hosts { scope { exact } }`);
    const t = Date.now();
    const m = measure(doc);
    expect(Date.now() - t).toBeLessThan(1000);
    expect(m.complexity).toBeGreaterThan(MAX_COMPLEXITY);
    expect(m.complexity).toBe(1 + 20 * 2 ** 40 * 2); // hosts is a list
  });

  it('costs each mutation MUTATION_COST besides its selection, through fragments, so a document holds at most 20', () => {
    const one = measure(parse('mutation { approveRule(id: "x") { id audit { step } } }'));
    expect(one.complexity).toBe(MUTATION_COST + 1 + 1 + (1 + 200)); // audit is sized 200
    const frag = measure(
      parse('mutation { ...M } fragment M on Mutation { a: rejectRule(id: "x") { id } b: removeRule(id: "y") { id } }'),
    );
    expect(frag.complexity).toBe(2 * MUTATION_COST + 2 * 2);
    const many = Array.from({ length: 21 }, (_, i) => `m${i}: proposeRule(srcPrefix: "10.${i}.0.0/16") { id }`);
    expect(measure(parse(`mutation { ${many.join(' ')} }`)).complexity).toBeGreaterThan(MAX_COMPLEXITY);
    // queries are not charged for it
    expect(measure(parse('{ mitigationRule(id: "x") { id } }')).complexity).toBe(2);
  });
  it('refuses fragment cycles with an infinite cost', () => {
    const doc = parse('query { hosts { ...A } } fragment A on Hosts { ...B } fragment B on Hosts { ...A }');
    expect(measure(doc).complexity).toBe(Infinity);
  });

  it('refuses a k outside 1…maxK, given literally or by variable, before costing', () => {
    const k = (q: string, variables?: Record<string, unknown>) => () => measure(parse(q), { maxK: 1000, variables });
    expect(k('{ topFlows(k: -5) { flows { src } } }')).toThrow(InvalidInputError);
    expect(k('{ topFlows(k: 0) { k } }')).toThrow(/k: must be a whole number from 1 to 1000/);
    expect(k('{ topFlows(k: 1001) { k } }')).toThrow(InvalidInputError);
    expect(k('query($k: Int) { topFlows(k: $k) { k } }', { k: -1 })).toThrow(InvalidInputError);
    expect(k('query($k: Int) { topFlows(k: $k) { k } }', { k: 'x' })).toThrow(InvalidInputError);
    expect(
      measure(parse('query($k: Int) { topFlows(k: $k) { flows { src } } }'), { variables: { k: 3 } }).complexity,
    ).toBe(1 + 1 + 3);
    expect(measure(parse('query($k: Int = 7) { topFlows(k: $k) { flows { src } } }')).complexity).toBe(1 + 1 + 7);
  });
});
