-- Readable rollups for people who write SQL, rebuilt from agg_partials each time a window's set of partial rows
-- grows (closing, late rows, other writers). Every table is keyed per window so a rebuild replaces the rows it
-- rebuilds: version = number of partial rows the rebuild merged (a rebuild that saw more rows wins). Read with
-- FINAL. Estimates carry their error bound: CMS bound ε·N holds with probability `confidence`; HLL values carry
-- their relative standard error.
CREATE TABLE IF NOT EXISTS {database}.agg_window_totals
(
    tier LowCardinality(String),
    window_start DateTime('UTC'),
    window_seconds UInt32,
    version UInt64,
    partials UInt32,
    snapshots UInt64,
    hosts UInt32,
    packets UInt64,
    bytes UInt64,
    distinct_flows Float64,
    distinct_sources Float64,
    distinct_destinations Float64,
    distinct_ports Float64,
    hll_standard_error Float64,
    cms_epsilon Float64,
    cms_confidence Float64,
    gaps UInt64,
    late_partials UInt32,
    updated_at DateTime64(3, 'UTC'),
    expires_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tier, window_start)
TTL expires_at;

-- Top flows per window, ranked by packets and, separately, by bytes: `rank` is part of the key so a rebuild in
-- which a flow drops out of the top replaces its row.
CREATE TABLE IF NOT EXISTS {database}.agg_top_flows
(
    tier LowCardinality(String),
    window_start DateTime('UTC'),
    ranked_by LowCardinality(String),
    rank UInt16,
    version UInt64,
    src String,
    dst String,
    sport UInt16,
    dport UInt16,
    protocol UInt8,
    flow_key_hex String,
    packets Float64,
    packets_bound Float64,
    bytes Float64,
    bytes_bound Float64,
    confidence Float64,
    updated_at DateTime64(3, 'UTC'),
    expires_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tier, window_start, ranked_by, rank)
TTL expires_at;

-- Exact per-host totals per window, with the sequence gaps seen (snapshots the host never delivered).
CREATE TABLE IF NOT EXISTS {database}.agg_host_totals
(
    tier LowCardinality(String),
    window_start DateTime('UTC'),
    host String,
    version UInt64,
    snapshots UInt64,
    packets UInt64,
    bytes UInt64,
    gaps UInt64,
    updated_at DateTime64(3, 'UTC'),
    expires_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tier, window_start, host)
TTL expires_at;

-- Exact per-IP-protocol totals per window.
CREATE TABLE IF NOT EXISTS {database}.agg_protocol_totals
(
    tier LowCardinality(String),
    window_start DateTime('UTC'),
    protocol UInt8,
    version UInt64,
    packets UInt64,
    bytes UInt64,
    updated_at DateTime64(3, 'UTC'),
    expires_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tier, window_start, protocol)
TTL expires_at;
