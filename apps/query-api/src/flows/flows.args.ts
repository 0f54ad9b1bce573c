// The arguments of the flow queries, parsed and checked once for REST and GraphQL alike.
import type { QueryApiConfig } from '../config';
import { InvalidInputError } from '../common/errors';
import {
  parseEnum,
  parseFilters,
  parseFlowTuple,
  parseHosts,
  parseK,
  parsePrefix,
  parseTimeRange,
  RANK_BY,
  type Raw,
  SIDES,
} from '../common/params';

export function topFlowsArgs(raw: Raw, config: QueryApiConfig) {
  return {
    range: parseTimeRange(raw, config),
    filters: parseFilters(raw),
    by: parseEnum(raw, 'by', RANK_BY, 'packets'),
    k: parseK(raw, config),
  };
}
export type TopFlowsArgs = ReturnType<typeof topFlowsArgs>;

export function flowEstimateArgs(raw: Raw, config: QueryApiConfig) {
  return { range: parseTimeRange(raw, config), hosts: parseHosts(raw), tuple: parseFlowTuple(raw) };
}
export type FlowEstimateArgs = ReturnType<typeof flowEstimateArgs>;

export function prefixEstimateArgs(raw: Raw, config: QueryApiConfig) {
  const range = parseTimeRange(raw, config);
  const side = parseEnum(raw, 'side', SIDES);
  if (raw.prefix === undefined || raw.prefix === '') throw new InvalidInputError('prefix', 'is required');
  const prefix = parsePrefix('prefix', String(raw.prefix));
  return { range, side, prefix, filters: parseFilters({ hosts: raw.hosts, protocol: raw.protocol }) };
}
export type PrefixEstimateArgs = ReturnType<typeof prefixEstimateArgs>;
