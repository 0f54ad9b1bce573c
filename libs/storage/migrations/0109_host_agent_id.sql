-- The agent id of each host's stream, per partial row, parallel to `hosts`: the stream (boot, agent id) whose
-- sequence `host_last_seq` is. After a restart or a rebalance the aggregator reloads sequence positions per
-- (host, boot, agent), so an agent that lost its state (new agent id, sequences from 0 again on the same boot) is a
-- new stream, not a run of duplicates. Rows written before this column existed read back as an empty array: readers
-- resize it to `hosts` (an empty agent id: unknown, the position is adopted by the first stream of that boot).
-- agg_provisional has agg_partials' columns (0108): added to both.
ALTER TABLE {database}.agg_partials ADD COLUMN IF NOT EXISTS host_agent Array(String) DEFAULT [] AFTER host_agent_version;
ALTER TABLE {database}.agg_provisional ADD COLUMN IF NOT EXISTS host_agent Array(String) DEFAULT [] AFTER host_agent_version;
