-- Sketches in forms plain SQL can merge (docs/sql.md), written by the rollup builder beside the readable rollups of
-- every window (1m and 1h tiers, fleet-wide: one row per window, not per partition). agg_partials keeps the binary
-- forms the aggregator and the query API merge; these tables let ClickHouse alone answer fleet-wide questions over
-- any range: CMS cells merge with sumForEach, HLL registers with maxForEach.
--
-- A rebuild of a window writes its flows first, then its sketches row with the same version (partial rows merged):
-- the sketches row names the version of the window's flows that readers take (a flow dropped by a rebuild keeps
-- its older version and is no longer read). Read both with FINAL, or through the views below.
CREATE TABLE IF NOT EXISTS {database}.agg_window_sketches
(
    tier LowCardinality(String),
    window_start DateTime('UTC'),
    window_seconds UInt32,
    version UInt64,
    snapshots UInt64,
    packets UInt64,
    bytes UInt64,
    -- CMS counters row after row (depth × width; cell d·width + c), as in libs/sketch.
    cms_packets Array(UInt64) CODEC(ZSTD(1)),
    cms_bytes Array(UInt64) CODEC(ZSTD(1)),
    -- HLL registers (2^p one-byte ranks); the estimate is tma_hll_estimate().
    hll_flows Array(UInt8) CODEC(ZSTD(1)),
    hll_sources Array(UInt8) CODEC(ZSTD(1)),
    hll_destinations Array(UInt8) CODEC(ZSTD(1)),
    hll_ports Array(UInt8) CODEC(ZSTD(1)),
    updated_at DateTime64(3, 'UTC'),
    expires_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tier, window_start)
TTL expires_at;

-- The window's candidate flows (the same list the query API ranks: a 1 h row's shortlist, a 1 min window's union,
-- shortlisted alike above HOUR_CANDIDATES per ranking) with the CMS cells of each: the flow hash is keyed, so SQL
-- cannot compute it; the writer stores where each flow sits instead. A flow's estimate over a range is the minimum of
-- its cells in the range's summed CMS (tma_cms_estimate).
CREATE TABLE IF NOT EXISTS {database}.agg_window_flows
(
    tier LowCardinality(String),
    window_start DateTime('UTC'),
    version UInt64,
    -- The 5-tuple as the query API writes it (IPv4 dotted, IPv6 RFC 5952): the flow's identity here.
    src String,
    dst String,
    sport UInt16,
    dport UInt16,
    protocol UInt8,
    -- 0-based positions in cms_packets / cms_bytes, one per CMS row.
    cms_cells Array(UInt16),
    -- Kernel counts summed over hosts: lower bounds of the flow's traffic while it was tracked.
    kernel_packets UInt64,
    kernel_bytes UInt64,
    expires_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tier, window_start, src, dst, sport, dport, protocol)
TTL expires_at;

-- Ertl's improved HLL estimator ("New cardinality estimation algorithms for HyperLogLog sketches", 2017), step for
-- step as libs/sketch/src/hll.ts, so SQL gives the number the query API gives (same doubles, same operation order).
-- σ and τ iterate to convergence there; here a fixed 64 steps, enough for every precision (4..18): once a term no
-- longer changes the sum, every later term is smaller still. Functions are server-wide (not per database).
CREATE FUNCTION IF NOT EXISTS tma_hll_sigma AS (x) -> if(x = 1, inf,
    arrayFold((acc, i) -> (acc.1 * acc.1, acc.2 + acc.2, acc.3 + acc.1 * acc.1 * acc.2), range(64), (toFloat64(x), 1.0, toFloat64(x))).3);
CREATE FUNCTION IF NOT EXISTS tma_hll_tau AS (x) -> if(x = 0 OR x = 1, 0.0,
    arrayFold((acc, i) -> (sqrt(acc.1), acc.2 * 0.5, acc.3 - (1 - sqrt(acc.1)) * (1 - sqrt(acc.1)) * (acc.2 * 0.5)), range(64), (toFloat64(x), 1.0, 1 - toFloat64(x))).3 / 3);
CREATE FUNCTION IF NOT EXISTS tma_hll_from_histogram AS (c, m) -> if(c[1] = m, 0.0,
    (m * m) / (2 * 0.6931471805599453 * (
        arrayFold((z, k) -> 0.5 * (z + c[k + 1]), range(length(c) - 2, 0, -1), m * tma_hll_tau(1 - c[length(c)] / m))
        + m * tma_hll_sigma(c[1] / m))));
-- registers: Array(UInt8) of 2^p ranks (e.g. maxForEach(hll_sources)); 0 for an empty array.
CREATE FUNCTION IF NOT EXISTS tma_hll_estimate AS (registers) -> if(empty(registers), 0.0,
    tma_hll_from_histogram(arrayMap(k -> toFloat64(countEqual(registers, k)), range(64 - toUInt32(log2(length(registers))) + 2)), toFloat64(length(registers))));
-- A CMS point query: the smallest of the flow's cells (0-based positions) in the summed counters.
CREATE FUNCTION IF NOT EXISTS tma_cms_estimate AS (cells, positions) -> arrayMin(arrayMap(i -> cells[i + 1], positions));

-- The windows that answer [from, to), chosen as the query API chooses its rows: whole hours inside the range from
-- the 1 h tier where it has the hour, every other window from the 1 min tier. Mixing tiers otherwise would count
-- an hour twice in sums. SELECT … FROM tma_windows(from = '2026-12-01 00:00:00', to = now()).
CREATE VIEW IF NOT EXISTS {database}.tma_windows AS
SELECT tier, window_start, window_seconds, version, snapshots, packets, bytes, cms_packets, cms_bytes,
       hll_flows, hll_sources, hll_destinations, hll_ports
FROM {database}.agg_window_sketches FINAL
WHERE (tier = '1h'
       AND window_start >= toStartOfHour(addSeconds({from:DateTime}, 3599))
       AND window_start < toStartOfHour({to:DateTime}))
   OR (tier = '1m'
       AND window_start >= {from:DateTime} AND window_start < {to:DateTime}
       AND toStartOfHour(window_start) NOT IN (
           SELECT window_start FROM {database}.agg_window_sketches FINAL
           WHERE tier = '1h'
             AND window_start >= toStartOfHour(addSeconds({from:DateTime}, 3599))
             AND window_start < toStartOfHour({to:DateTime})));

-- The candidate flows of those windows, at the version of each window's sketches.
CREATE VIEW IF NOT EXISTS {database}.tma_window_flows AS
SELECT tier, window_start, src, dst, sport, dport, protocol, cms_cells, kernel_packets, kernel_bytes
FROM {database}.agg_window_flows FINAL
WHERE (tier, window_start, version) IN (
    SELECT tier, window_start, version FROM {database}.tma_windows(from = {from:DateTime}, to = {to:DateTime}));

-- Every candidate flow of [from, to) estimated on the range's summed CMS pair (what the query API's top flows rank):
-- SELECT * FROM tma_flows(from = …, to = …) ORDER BY packets DESC, bytes DESC LIMIT 10.
CREATE VIEW IF NOT EXISTS {database}.tma_flows AS
WITH
    (SELECT sumForEach(cms_packets) FROM {database}.tma_windows(from = {from:DateTime}, to = {to:DateTime})) AS cms_p,
    (SELECT sumForEach(cms_bytes) FROM {database}.tma_windows(from = {from:DateTime}, to = {to:DateTime})) AS cms_b
SELECT src, dst, sport, dport, protocol,
       tma_cms_estimate(cms_p, any(cms_cells)) AS packets,
       tma_cms_estimate(cms_b, any(cms_cells)) AS bytes,
       sum(kernel_packets) AS kernel_packets, sum(kernel_bytes) AS kernel_bytes
FROM {database}.tma_window_flows(from = {from:DateTime}, to = {to:DateTime})
GROUP BY src, dst, sport, dport, protocol;

-- Exact totals and distinct counts of [from, to), fleet-wide: one row.
CREATE VIEW IF NOT EXISTS {database}.tma_summary AS
SELECT count() AS windows, sum(snapshots) AS snapshots, sum(packets) AS packets, sum(bytes) AS bytes,
       tma_hll_estimate(maxForEach(hll_flows)) AS distinct_flows,
       tma_hll_estimate(maxForEach(hll_sources)) AS distinct_sources,
       tma_hll_estimate(maxForEach(hll_destinations)) AS distinct_destinations,
       tma_hll_estimate(maxForEach(hll_ports)) AS distinct_ports
FROM {database}.tma_windows(from = {from:DateTime}, to = {to:DateTime});
