// A snapshot as a one-snapshot stored partial row, the shape @tma/rollup's mergeStoredPartial merges (as the
// aggregator merges a window's snapshots). Shared by the storage benchmarks, which need rows without a running
// aggregator.
const path = require('node:path');

const { encodeCandidates, perHll } = require(path.join(__dirname, '../../libs/sketch/dist'));

function snapshotRow(s) {
  const t = s.totals;
  return {
    window_start: 0,
    window_seconds: 0,
    late: 0,
    snapshots: 1,
    packets: t.packets,
    bytes: t.bytes,
    gaps: 0,
    cms_packets: s.cmsPackets,
    cms_bytes: s.cmsBytes,
    ...perHll('column', (h) => s[h.wireField]),
    candidates: encodeCandidates(s.candidates),
    protocols: t.protocols.map((p) => p.protocol),
    protocol_packets: t.protocols.map((p) => p.packets),
    protocol_bytes: t.protocols.map((p) => p.bytes),
    hosts: [s.hostId],
    host_boot: [s.bootId],
    host_last_seq: [s.sequence],
    host_agent_version: [s.agentVersion],
    host_packets: [t.packets],
    host_bytes: [t.bytes],
    host_snapshots: [1],
    host_gaps: [0],
  };
}

module.exports = { snapshotRow };
