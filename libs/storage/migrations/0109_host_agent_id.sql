-- The agent id of each host's stream, per partial row, parallel to `hosts`: the stream (boot, agent id) whose
-- sequence `host_last_seq` is. After a restart or a rebalance the aggregator reloads sequence positions per
-- (host, boot, agent), so an agent that lost its state (new agent id, sequences from 0 again on the same boot) is a
-- new stream, not a run of duplicates. Rows written before this column existed read back as an empty array: readers
-- resize it to `hosts` (an empty agent id: unknown, the position is adopted by the first stream of that boot).
--
-- `earlier_stream_*` (parallel arrays, not parallel to `hosts`): the streams a host had earlier in the same window,
-- when its stream changed inside it (an agent that lost its state, a reboot), with the last sequence of each; empty
-- in nearly every row. Without them the position of the stream replaced would be missing from the reload.
-- agg_provisional has agg_partials' columns (0108): added to both.
ALTER TABLE {database}.agg_partials
    ADD COLUMN IF NOT EXISTS host_agent Array(String) DEFAULT [] AFTER host_agent_version,
    ADD COLUMN IF NOT EXISTS earlier_stream_host Array(String) DEFAULT [] AFTER host_gaps,
    ADD COLUMN IF NOT EXISTS earlier_stream_boot Array(String) DEFAULT [] AFTER earlier_stream_host,
    ADD COLUMN IF NOT EXISTS earlier_stream_agent Array(String) DEFAULT [] AFTER earlier_stream_boot,
    ADD COLUMN IF NOT EXISTS earlier_stream_last_seq Array(UInt64) DEFAULT [] AFTER earlier_stream_agent;
ALTER TABLE {database}.agg_provisional
    ADD COLUMN IF NOT EXISTS host_agent Array(String) DEFAULT [] AFTER host_agent_version,
    ADD COLUMN IF NOT EXISTS earlier_stream_host Array(String) DEFAULT [] AFTER host_gaps,
    ADD COLUMN IF NOT EXISTS earlier_stream_boot Array(String) DEFAULT [] AFTER earlier_stream_host,
    ADD COLUMN IF NOT EXISTS earlier_stream_agent Array(String) DEFAULT [] AFTER earlier_stream_boot,
    ADD COLUMN IF NOT EXISTS earlier_stream_last_seq Array(UInt64) DEFAULT [] AFTER earlier_stream_agent;
