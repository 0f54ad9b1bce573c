import { parse } from 'graphql';
import { measure } from './graphql.complexity';

describe('measure', () => {
  it('counts a flows list k times and other lists 20 times; introspection is free', () => {
    expect(measure(parse('{ cardinality { scope { exact } } }'))).toEqual({ depth: 2, complexity: 3 });
    const top = measure(parse('{ topFlows(k: 100) { flows { src dst } } }'));
    expect(top.complexity).toBeGreaterThan(200);
    const hosts = measure(parse('{ hosts { hosts { host } } }'));
    expect(hosts.complexity).toBe(1 + 20 + 20 * 20);
    expect(measure(parse('{ __schema { types { name } } }')).complexity).toBe(0);
  });

  it('refuses fragment cycles with an infinite cost', () => {
    const doc = parse('query { hosts { ...A } } fragment A on Hosts { ...B } fragment B on Hosts { ...A }');
    expect(measure(doc).complexity).toBe(Infinity);
  });
});
