// Request and response schemas of POST /v1/sql for the OpenAPI document: the body states exactly what the controller
// checks (sql.controller.ts); what only the engine can judge (the SQL itself, parameter names) is said in words and
// refused with a 400.
import { int, num, str } from '../common/openapi';

/** Longest statement accepted, in characters (Unicode code points, as JSON Schema's maxLength counts). */
export const MAX_SQL_CHARS = 100_000;

/**
 * What String.prototype.trim() removes (ECMAScript WhiteSpace and LineTerminator), spelled out: a statement must hold
 * something else. Written as a class rather than \s so every regex dialect that reads the document means the same set.
 */
export const JS_WHITESPACE = '\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';
export const NOT_BLANK = new RegExp(`[^${JS_WHITESPACE}]`);

export const sqlBodySchema = {
  type: 'object',
  required: ['sql'],
  description: 'other members are ignored',
  properties: {
    sql: {
      type: 'string',
      maxLength: MAX_SQL_CHARS,
      pattern: NOT_BLANK.source,
      description:
        "one read-only statement (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN …) with query parameters written {name:Type}; not only whitespace. The engine judges the SQL: a statement it refuses (syntax, unknown table or function, a write, DDL, SET, file/network table functions, a limit) is a 400 whose message starts with sql: and ClickHouse's error name",
      example:
        'SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts WHERE active AND database = {db:String} GROUP BY table ORDER BY bytes DESC',
    },
    params: {
      type: 'object',
      additionalProperties: str,
      description:
        'query parameters as text, the way clickhouse-client takes --param_name; names are identifiers ([A-Za-z_][A-Za-z0-9_]*, others are refused with a 400)',
      example: { db: 'tma' },
    },
  },
};

export const sqlResultSchema = {
  type: 'object',
  required: ['columns', 'rows', 'statistics'],
  properties: {
    columns: {
      type: 'array',
      description: 'the result columns in order, with their ClickHouse types',
      items: { type: 'object', required: ['name', 'type'], properties: { name: str, type: str } },
    },
    rows: {
      type: 'array',
      description:
        'one array per row, in column order, values as ClickHouse writes them in JSON: 64-bit integers as strings (exact), NULL as null',
      items: { type: 'array', items: {} },
    },
    statistics: {
      type: 'object',
      required: ['rows', 'elapsedSeconds', 'rowsRead', 'bytesRead'],
      properties: {
        rows: { ...int, minimum: 0, description: 'rows in the answer' },
        elapsedSeconds: { ...num, minimum: 0 },
        rowsRead: { ...int, minimum: 0, description: 'rows the engine read' },
        bytesRead: { ...int, minimum: 0, description: 'bytes the engine read' },
      },
    },
  },
};
