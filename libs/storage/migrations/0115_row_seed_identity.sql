-- The hash seed identity of each partial row's sketches, as a column the row listings read without the sketches: the
-- query API answers from the rows of its own seed and says how many windows it left out (after a seed rotation, rows
-- of the old seed are not merged and not an error). The identity is bytes 8–11 (little-endian) of every libs/sketch
-- header; a DEFAULT computes it from `cms_packets` for new rows (no writer change) and, for rows written before this
-- column existed, on read until a merge writes it into their parts.
-- agg_provisional has agg_partials' columns (0108): added to both.
ALTER TABLE {database}.agg_partials
    ADD COLUMN IF NOT EXISTS seed_id UInt32 DEFAULT reinterpretAsUInt32(substring(cms_packets, 9, 4)) AFTER cms_packets;
ALTER TABLE {database}.agg_provisional
    ADD COLUMN IF NOT EXISTS seed_id UInt32 DEFAULT reinterpretAsUInt32(substring(cms_packets, 9, 4)) AFTER cms_packets;
