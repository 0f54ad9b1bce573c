-- Facts every writer of this database must agree on, one row per key; e.g. the sketch specification
-- (parameters and hash seed) the stored sketches were built with, so a writer whose sketches would not
-- merge with the stored ones can refuse to start. The newest updated_at wins.
CREATE TABLE IF NOT EXISTS {database}.tma_meta
(
    key String,
    value String,
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY key;
