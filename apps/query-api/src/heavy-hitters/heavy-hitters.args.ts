// The arguments of the heavy-hitter query, parsed and checked once for REST and GraphQL alike.
import type { QueryApiConfig } from '../config';
import { parseEnum, parseFilters, parsePhi, parseTimeRange, RANK_BY, type Raw, SIDES } from '../common/params';

export function heavyHittersArgs(raw: Raw, config: QueryApiConfig) {
  return {
    range: parseTimeRange(raw, config),
    filters: parseFilters(raw),
    side: parseEnum(raw, 'side', SIDES, 'src'),
    phi: parsePhi(raw),
    by: parseEnum(raw, 'by', RANK_BY, 'packets'),
  };
}
export type HeavyHittersArgs = ReturnType<typeof heavyHittersArgs>;
