// The arguments of the threats list, parsed and checked once for REST and GraphQL alike.
import { THREAT_KINDS } from '@tma/threats';
import type { QueryApiConfig } from '../config';
import { parseEnum, parseHosts, parseTimeRange, type Raw } from '../common/params';

export const ALERT_STATUSES = ['open', 'resolved'] as const;

export function threatsArgs(raw: Raw, config: QueryApiConfig) {
  return {
    range: parseTimeRange(raw, config),
    hosts: parseHosts(raw),
    kind: raw.kind == null ? undefined : parseEnum(raw, 'kind', THREAT_KINDS),
    status: raw.status == null ? undefined : parseEnum(raw, 'status', ALERT_STATUSES),
  };
}
export type ThreatsArgs = ReturnType<typeof threatsArgs>;
