-- Provisional rows: what an aggregator holds in memory for a window it has not written yet (docs/aggregator.md,
-- "Provisional windows"), rewritten every few seconds while the window changes, so answers show the newest interval
-- within seconds instead of after the window's end plus the allowed lateness. They never take part in offsets,
-- commits or the exactly-once rows of agg_partials: readers merge a provisional row only while no agg_partials row
-- of its window and partition starts at or before its last offset (docs/query-api.md), so a window is never counted
-- twice once its final rows exist.
--
-- Same columns as agg_partials (one row builder writes both: @tma/rollup partialRow), so a later migration that
-- adds a column to agg_partials must add it here too. One row per (window, topic, partition): the newest write wins
-- (version = the writer's wall clock in ms). Rows expire soon after their window (TMA_AGG_TTL_PROVISIONAL).
CREATE TABLE IF NOT EXISTS {database}.agg_provisional AS {database}.agg_partials
ENGINE = ReplacingMergeTree(version)
-- Stated, not copied: agg_partials' primary key (0103) is longer than this table's sorting key.
PRIMARY KEY (tier, window_start, topic, partition)
ORDER BY (tier, window_start, topic, partition)
TTL expires_at;
