-- Heavy prefixes counted in the kernel (docs/sketch.md, "Heavy prefixes"): per partial row, the merged prefix counts
-- with their bounds (source and destination; IPv4 /8 /16 /24, IPv6 /32 /48 /64) as the JSON of @tma/sketch
-- PrefixCounts.encode(), at most 64 prefixes per side and level with each level's floor. Rows written before this
-- column existed read back '' and readers count their traffic as unknown prefixes (every floor raised by it).
ALTER TABLE {database}.agg_partials ADD COLUMN IF NOT EXISTS prefixes String DEFAULT '';
-- agg_provisional has agg_partials' columns (0108): the same column.
ALTER TABLE {database}.agg_provisional ADD COLUMN IF NOT EXISTS prefixes String DEFAULT '';
