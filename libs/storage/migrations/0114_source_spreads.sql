-- Per-source spreads (docs/threats.md "Per-source spreads"): each partial row's merged SpreadSketch of distinct
-- destinations and destination ports per source (libs/sketch encodeSpread; empty in rows written before, and when no
-- snapshot of the row carried one). Written through its _hex EPHEMERAL twin like the other sketch columns.
-- agg_provisional mirrors agg_partials' columns (0108), so it gets the same columns.
ALTER TABLE {database}.agg_partials
    ADD COLUMN IF NOT EXISTS spread_hex String EPHEMERAL '' AFTER candidates,
    ADD COLUMN IF NOT EXISTS spread String DEFAULT unhex(spread_hex) AFTER spread_hex;
ALTER TABLE {database}.agg_provisional
    ADD COLUMN IF NOT EXISTS spread_hex String EPHEMERAL '' AFTER candidates,
    ADD COLUMN IF NOT EXISTS spread String DEFAULT unhex(spread_hex) AFTER spread_hex;
