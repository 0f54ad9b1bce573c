// ./tma sql: one read-only SQL statement against the single-machine store (docs/sql.md). Embedded chDB allows one
// process per data directory: when a live process holds it (the stack under `./tma start`), the statement goes to
// that process's query API (POST /v1/sql, admin token); otherwise this process opens the store itself. Either way
// it runs on a readonly = 1 session with the time, size and memory limits of @tma/storage.
'use strict';
const fs = require('node:fs');
const { DEFAULT_SQL_LIMITS, SqlRefusedError, createStorage, loadStorageConfig, lockHolder } = require('@tma/storage');
const { tokenFile } = require('../stack/local-token');

const USAGE = `usage: ./tma sql [--param_NAME=VALUE]... [--json] ["SELECT …"]
  Runs one read-only statement against this machine's store and prints the rows as a table (--json: one JSON
  object per line). Without a statement argument, reads it from standard input. {NAME:Type} in the SQL takes
  --param_NAME. While ./tma start runs, the statement goes through its query API (TMA_API_URL, default
  http://127.0.0.1:8080; token TMA_API_TOKEN or .state/api-admin-token). Examples: docs/sql.md.`;

class UsageError extends Error {}

function parseArgs(argv) {
  const params = {};
  let json = false;
  let sql;
  for (const a of argv) {
    const p = /^--param_([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(a);
    if (p) params[p[1]] = p[2];
    else if (a === '--json') json = true;
    else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    else if (sql === undefined) sql = a;
    else throw new UsageError('give one statement (quote it as one argument)');
  }
  if (sql === undefined) sql = fs.readFileSync(0, 'utf8');
  if (sql.trim() === '') throw new UsageError('no statement given');
  return { sql, params, json };
}

/** Through the running query API. */
async function viaApi(sql, params) {
  const url = `${(process.env.TMA_API_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '')}/v1/sql`;
  let token = process.env.TMA_API_TOKEN;
  if (!token) {
    const file = tokenFile('admin');
    if (!fs.existsSync(file))
      throw new UsageError(
        `the store is held by a running process, and there is no admin token in ${file} or TMA_API_TOKEN`,
      );
    token = fs.readFileSync(file, 'utf8').trim();
  }
  let res;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sql, params }),
    });
  } catch (err) {
    throw new UsageError(
      `the store is held by a running process, but its query API at ${url} does not answer: ${err.cause?.message ?? err.message}`,
    );
  }
  const body = await res.json().catch(() => ({}));
  if (res.status !== 200) throw new UsageError(`${url} answered ${res.status}: ${body.message ?? res.statusText}`);
  return body;
}

/** Opening the store in this process. */
async function direct(config, sql, params) {
  const storage = await createStorage(config);
  try {
    const reader = storage.sqlReader(DEFAULT_SQL_LIMITS);
    try {
      return await reader.query(sql, params);
    } finally {
      await reader.close();
    }
  } catch (err) {
    if (err instanceof SqlRefusedError) throw new UsageError(`${err.code}: ${err.message}`);
    throw err;
  } finally {
    await storage.close();
  }
}

const cell = (v) => (v === null ? 'NULL' : typeof v === 'object' ? JSON.stringify(v) : String(v));

function print(result, json) {
  const names = result.columns.map((c) => c.name);
  if (json) {
    for (const row of result.rows)
      process.stdout.write(`${JSON.stringify(Object.fromEntries(names.map((n, i) => [n, row[i]])))}\n`);
    return;
  }
  const text = [names, ...result.rows.map((r) => r.map(cell))];
  const widths = names.map((_, i) => Math.max(...text.map((r) => r[i].length)));
  const line = (r) =>
    r
      .map((v, i) => v.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${line(text[0])}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const r of text.slice(1)) process.stdout.write(`${line(r)}\n`);
  process.stderr.write(`${result.rows.length} row${result.rows.length === 1 ? '' : 's'}\n`);
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const { sql, params, json } = parseArgs(argv);
  const config = loadStorageConfig(process.env);
  const holder = config.kind === 'chdb' ? lockHolder(config.path) : undefined;
  const result = holder && holder.pid !== process.pid ? await viaApi(sql, params) : await direct(config, sql, params);
  print(result, json);
}

main().catch((err) => {
  process.stderr.write(`tma sql: ${err.message}\n`);
  if (err instanceof UsageError && /^(unknown option|give one|no statement)/.test(err.message))
    process.stderr.write(`${USAGE}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
