// Flow filters (protocol, ports, prefixes) applied to candidate flows by their canonical key.
import { type Filters, inPrefix } from '../common/params';

export const hasFlowFilter = (f: Filters): boolean =>
  f.protocol !== undefined ||
  f.srcPort !== undefined ||
  f.dstPort !== undefined ||
  f.srcPrefix !== undefined ||
  f.dstPrefix !== undefined;

export function matchesFlowFilter(f: Filters, key: Uint8Array): boolean {
  if (f.protocol !== undefined && key[36] !== f.protocol) return false;
  if (f.srcPort !== undefined && ((key[32] << 8) | key[33]) !== f.srcPort) return false;
  if (f.dstPort !== undefined && ((key[34] << 8) | key[35]) !== f.dstPort) return false;
  if (f.srcPrefix && !inPrefix(f.srcPrefix, key, 0)) return false;
  if (f.dstPrefix && !inPrefix(f.dstPrefix, key, 16)) return false;
  return true;
}
