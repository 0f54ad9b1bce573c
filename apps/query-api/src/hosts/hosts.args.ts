// The arguments of the hosts table, parsed and checked once for REST and GraphQL alike.
import type { QueryApiConfig } from '../config';
import { parseHosts, parseTimeRange, type Raw } from '../common/params';

export function hostsArgs(raw: Raw, config: QueryApiConfig) {
  return { range: parseTimeRange(raw, config), hosts: parseHosts(raw) };
}
export type HostsArgs = ReturnType<typeof hostsArgs>;
