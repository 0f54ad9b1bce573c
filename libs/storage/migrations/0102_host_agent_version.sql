-- The agent version each host reported, per partial row, parallel to `hosts` (newest snapshot of the window).
-- Rows written before this column existed read back as an empty array: readers resize it to `hosts`.
ALTER TABLE {database}.agg_partials ADD COLUMN IF NOT EXISTS host_agent_version Array(String) DEFAULT [] AFTER host_last_seq;
