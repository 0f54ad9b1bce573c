// The SYN-flood block of a snapshot (synFlags, docs/threats.md): its value when an agent has no TCP flag counts.
import type { SynFlagCounts } from './generated/schemas.generated';

/** The schema's default: depth 0, no counters (a v1 snapshot, an older v2 agent, a simulator without TCP flags). */
export const NO_SYN_FLAGS: SynFlagCounts = Object.freeze({
  depth: 0,
  widthBits: 0,
  cells: [],
  syn: [],
  synAck: [],
  rst: [],
  ack: [],
  candidates: [],
}) as SynFlagCounts;
