// The arguments of the distinct-count queries, parsed and checked once for REST and GraphQL alike.
import { HLL_SKETCHES, perHll, type HllName } from '@tma/sketch';
import type { QueryApiConfig } from '../config';
import { InvalidInputError } from '../common/errors';
import { parseHosts, parseStep, parseTimeRange, type Raw } from '../common/params';

/** A metric is a distinct-count sketch of the registry, by its concept name. */
export type CardinalityMetric = HllName;
export const CARDINALITY_METRICS: CardinalityMetric[] = HLL_SKETCHES.map((h) => h.name);
const CARDINALITY_COLUMNS = perHll('name', (h) => h.column);
export const cardinalityColumn = (m: CardinalityMetric) => CARDINALITY_COLUMNS[m];

/** `metrics`: a comma-separated text (REST) or a list (GraphQL); default every metric. */
export function parseMetrics(raw: Raw): CardinalityMetric[] {
  const v = raw.metrics;
  if (v === '') throw new InvalidInputError('metrics', 'is empty: give metrics or leave the parameter out');
  if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) return CARDINALITY_METRICS;
  const list = Array.isArray(v) ? v.map(String) : String(v).split(',');
  for (const m of list)
    if (!(CARDINALITY_METRICS as string[]).includes(m))
      throw new InvalidInputError('metrics', `"${m}" is not one of ${CARDINALITY_METRICS.join(', ')}`);
  return [...new Set(list)] as CardinalityMetric[];
}

export function cardinalityArgs(raw: Raw, config: QueryApiConfig) {
  return { range: parseTimeRange(raw, config), hosts: parseHosts(raw), metrics: parseMetrics(raw) };
}
export type CardinalityArgs = ReturnType<typeof cardinalityArgs>;

export function cardinalitySeriesArgs(raw: Raw, config: QueryApiConfig) {
  const range = parseTimeRange(raw, config);
  const step = parseStep(raw, range, config);
  return { range, step, hosts: parseHosts(raw), metrics: parseMetrics(raw) };
}
export type CardinalitySeriesArgs = ReturnType<typeof cardinalitySeriesArgs>;
