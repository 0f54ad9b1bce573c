-- Ownership epochs: fences a partial row written by an instance that had already lost its partition (docs/aggregator.md,
-- "Fencing a write in flight"). On every assignment the new owner of a partition records its epoch (the consumer
-- group's generation), the offset it resumes from and the first offsets of the stored rows it kept as covered,
-- before it merges anything. Every 1 min partial row carries the epoch it was merged under. Readers drop a row of
-- epoch e whose first_offset is at or past the from_offset of a later epoch that did not keep it (libs/rollup
-- fence.ts holds the rule, once).
CREATE TABLE IF NOT EXISTS {database}.agg_partition_owners
(
    topic LowCardinality(String),
    partition UInt32,
    epoch UInt32,
    owner String,
    from_offset UInt64,
    -- First offsets of the rows of earlier epochs at or past from_offset that this owner loaded as covered (it
    -- skips their messages, so they stay counted).
    kept Array(UInt64),
    at DateTime64(3, 'UTC'),
    -- Outlives every partial row the owner could fence (the aggregator sets it from the partials' retention).
    expires_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, epoch)
TTL expires_at;

-- Rows written before epochs existed read back as epoch 0. The epoch joins the key: an old owner's late row and the
-- new owner's row for the same messages can share (window, partition, first_offset), and neither may replace the other.
ALTER TABLE {database}.agg_partials ADD COLUMN IF NOT EXISTS epoch UInt32 AFTER first_offset, MODIFY ORDER BY (tier, window_start, topic, partition, first_offset, epoch);
