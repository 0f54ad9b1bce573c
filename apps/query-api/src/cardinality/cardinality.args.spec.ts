import { InvalidInputError } from '../common/errors';
import { CARDINALITY_METRICS, parseMetrics } from './cardinality.args';

describe('parseMetrics', () => {
  it('takes REST text and GraphQL lists alike, deduplicated, default every metric', () => {
    expect(parseMetrics({})).toEqual(CARDINALITY_METRICS);
    expect(() => parseMetrics({ metrics: '' })).toThrow('metrics: is empty');
    expect(parseMetrics({ metrics: [] })).toEqual(CARDINALITY_METRICS);
    expect(parseMetrics({ metrics: null })).toEqual(CARDINALITY_METRICS);
    expect(parseMetrics({ metrics: 'flows,ports,flows' })).toEqual(['flows', 'ports']);
    expect(() => parseMetrics({ metrics: 'flows, ports' })).toThrow('metrics: " ports" is not one of');
    expect(parseMetrics({ metrics: ['sources', 'sources', 'destinations'] })).toEqual(['sources', 'destinations']);
  });

  it('refuses an unknown metric, naming the field', () => {
    expect(() => parseMetrics({ metrics: 'flows,packets' })).toThrow(InvalidInputError);
    expect(() => parseMetrics({ metrics: 'flows,packets' })).toThrow('metrics: "packets" is not one of');
  });
});
