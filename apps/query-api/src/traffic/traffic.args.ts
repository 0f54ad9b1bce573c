// The arguments of the traffic series, parsed and checked once for REST and GraphQL alike.
import type { QueryApiConfig } from '../config';
import { parseFilters, parseStep, parseTimeRange, type Raw, refuseFlowFilters } from '../common/params';

export function trafficSeriesArgs(raw: Raw, config: QueryApiConfig) {
  const range = parseTimeRange(raw, config);
  const step = parseStep(raw, range, config);
  const filters = parseFilters({ hosts: raw.hosts, protocol: raw.protocol });
  refuseFlowFilters(filters, 'traffic totals');
  return { range, step, filters };
}
export type TrafficSeriesArgs = ReturnType<typeof trafficSeriesArgs>;
