-- TCP flag counts per server address (the snapshot's synFlags block: SYN, SYN-ACK, RST and ACK counts in a small
-- Count-Min sketch with the SYN candidate addresses; docs/threats.md, syn-flood), merged per row like the other
-- sketches: the libs/sketch SynCounts binary form, empty when no snapshot of the row carried them (rows written
-- before this column read back empty too). agg_provisional has the same columns (0108).
ALTER TABLE {database}.agg_partials ADD COLUMN IF NOT EXISTS syn_flags_hex String EPHEMERAL '' AFTER candidates, ADD COLUMN IF NOT EXISTS syn_flags String DEFAULT unhex(syn_flags_hex) CODEC(ZSTD(1)) AFTER syn_flags_hex;
ALTER TABLE {database}.agg_provisional ADD COLUMN IF NOT EXISTS syn_flags_hex String EPHEMERAL '' AFTER candidates, ADD COLUMN IF NOT EXISTS syn_flags String DEFAULT unhex(syn_flags_hex) CODEC(ZSTD(1)) AFTER syn_flags_hex;
