-- Partial merged sketches written by the aggregator (apps/aggregator, docs/aggregator.md).
-- One row = the snapshots one writer merged for one window of one Kafka partition over a contiguous stretch of
-- offsets [first_offset, last_offset] (tier 1m), or a coarser tier built from those rows (tier 1h, writer 'rollup').
-- Merging is associative, so any set of rows for any range merges into the right answer: CMS by cell sum, HLL by
-- register max, candidate lists by key union. Sketch columns hold the libs/sketch binary serialization.
--
-- Idempotence: the key (tier, window_start, topic, partition, first_offset) is a deterministic id. A batch written
-- twice (retry, crash before the Kafka commit) replaces itself; read with FINAL (or LIMIT 1 BY the key, highest
-- version first) so a not yet merged duplicate is never counted twice.
CREATE TABLE IF NOT EXISTS {database}.agg_partials
(
    tier LowCardinality(String),
    window_start DateTime('UTC'),
    window_seconds UInt32,
    topic LowCardinality(String),
    partition UInt32,
    first_offset UInt64,
    last_offset UInt64,
    version UInt64,
    writer String,
    late UInt8,
    snapshots UInt64,
    packets UInt64,
    bytes UInt64,
    cms_packets_hex String EPHEMERAL,
    cms_packets String DEFAULT unhex(cms_packets_hex),
    cms_bytes_hex String EPHEMERAL,
    cms_bytes String DEFAULT unhex(cms_bytes_hex),
    hll_flows_hex String EPHEMERAL,
    hll_flows String DEFAULT unhex(hll_flows_hex),
    hll_sources_hex String EPHEMERAL,
    hll_sources String DEFAULT unhex(hll_sources_hex),
    hll_destinations_hex String EPHEMERAL,
    hll_destinations String DEFAULT unhex(hll_destinations_hex),
    hll_ports_hex String EPHEMERAL,
    hll_ports String DEFAULT unhex(hll_ports_hex),
    candidates_hex String EPHEMERAL,
    candidates String DEFAULT unhex(candidates_hex),
    protocols Array(UInt8),
    protocol_packets Array(UInt64),
    protocol_bytes Array(UInt64),
    hosts Array(String),
    host_boot Array(String),
    host_last_seq Array(UInt64),
    host_packets Array(UInt64),
    host_bytes Array(UInt64),
    host_snapshots Array(UInt64),
    host_gaps Array(UInt64),
    gaps UInt64,
    written_at DateTime64(3, 'UTC'),
    expires_at DateTime('UTC'),
    -- Recovery after a restart or a rebalance looks up rows by partition and offset.
    INDEX partition_offsets (topic, partition, last_offset) TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tier, window_start, topic, partition, first_offset)
TTL expires_at
SETTINGS non_replicated_deduplication_window = 1000;
