import type { ClickHouseSettings } from '@clickhouse/client';

/**
 * Settings sent with every statement, on chDB and on servers alike. Each one either has a different default
 * between embedded chDB (ClickHouse 26.7) and the servers we accept (24.8 and newer), or is a behaviour the
 * code relies on that a server profile could change. Every name here exists on 24.8, so no server refuses it.
 * docs/storage.md explains each line and how the defaults were measured.
 */
export const PINNED_SETTINGS = {
  // 26.2 turned async inserts on; with them an INSERT returns before its rows are visible (or waits
  // for a batch timer). Writers here need "rows are readable once the INSERT returns".
  async_insert: 0,
  wait_for_async_insert: 1,
  // Retried writes with the same insert_deduplication_token must be dropped, also in views fed by the table
  // (26.2 changed the view default from 0 to 1).
  insert_deduplicate: 1,
  deduplicate_blocks_in_dependent_materialized_views: 1,
  // 25.8 stopped quoting 64-bit integers in JSON output. Quoted is lossless: counters above 2^53 reach
  // JavaScript as strings, never as silently rounded numbers.
  output_format_json_quote_64bit_integers: 1,
  // 26.5 changed this from 'basic' to 'best_effort'. best_effort accepts JavaScript's ISO-8601 form
  // (2026-01-02T03:04:05.678Z) as well as 'YYYY-MM-DD hh:mm:ss[.fff]'.
  date_time_input_format: 'best_effort',
  // chDB runs in UTC; a server runs in its host's zone. Pinning the session zone makes DateTime text
  // (inputs, outputs, query parameters) mean UTC everywhere.
  session_timezone: 'UTC',
  // 26.7 switched float parsing to the exact algorithm; results must not depend on the server version.
  precise_float_parsing: 1,
  // chDB waits for mutations (ALTER … UPDATE/DELETE) by default, servers do not.
  mutations_sync: '1',
  // A misspelt column in an insert must fail, not be dropped (default 1 on both).
  input_format_skip_unknown_fields: 0,
} as const satisfies ClickHouseSettings;

export type PinnedSettingName = keyof typeof PINNED_SETTINGS;
