// Cluster DDL from the same migration files: each table of a migration becomes a replicated local table on every
// host (`<name>_local`, Replicated<Engine>MergeTree, one Keeper path per shard) and a Distributed table under the
// table's own name, so every query and insert written against `{database}.<name>` runs unchanged on a cluster.
// There is no hand-written cluster copy of any migration: the migrator runs this generator when a cluster is
// configured, and `./tma ddl --cluster NAME` prints what it would run. docs/scale.md explains the choices.
import { StorageError } from './errors';
import type { Migration } from './migrations';

/** Suffix of the replicated tables that hold the rows; the Distributed table keeps the migration's name. */
export const LOCAL_SUFFIX = '_local';

/**
 * Distributed tables route each row by a sharding key. Readers deduplicate with FINAL or `LIMIT 1 BY <key>`, which
 * only see the versions of a key that sit on one shard; so a sharding key must be a function of the table's sorting
 * key (the dedup key of Replacing/Summing/Aggregating engines): all versions of a row then land on one shard. The
 * generator checks that. Tables not listed here shard by a hash of their whole sorting key.
 */
export const SHARDING_KEYS: Readonly<Record<string, { key: string; why: string }>> = {
  agg_partials: {
    key: 'cityHash64(topic, `partition`)',
    why:
      'all rows of one Kafka partition on one shard: every flush spreads over the shards as the partitions do, ' +
      'a recovery lookup by (topic, partition, offset) reads one shard, and the newest window never piles onto one shard',
  },
  agg_window_totals: {
    key: 'cityHash64(tier, window_start)',
    why: 'a window on one shard: a rebuild replaces its rows with one block on one shard, windows spread over the shards',
  },
  agg_top_flows: {
    key: 'cityHash64(tier, window_start)',
    why: 'a window on one shard: the ranks of one rebuild replace each other in one block, never half on another shard',
  },
  agg_host_totals: {
    key: 'cityHash64(tier, window_start)',
    why: 'a window on one shard, as for the other rollups',
  },
  agg_protocol_totals: {
    key: 'cityHash64(tier, window_start)',
    why: 'a window on one shard, as for the other rollups',
  },
};

export interface ClusterDdlOptions {
  /** Cluster name as in the servers' remote_servers configuration. */
  cluster: string;
  /** Database the statements are written for (the migrations' `{database}`). */
  database: string;
  /** Per-table sharding keys; defaults to SHARDING_KEYS. */
  shardingKeys?: Readonly<Record<string, { key: string; why?: string }>>;
}

/** One generated statement. */
export interface ClusterStatement {
  sql: string;
  /** What the statement does, e.g. `agg_partials_local: ReplicatedReplacingMergeTree, …` (for the printed DDL). */
  note: string;
}

export interface ClusterMigration {
  version: number;
  name: string;
  /** The file's checksum: a migration is recorded the same way on a single server and on a cluster. */
  checksum: string;
  statements: ClusterStatement[];
}

/** A construct the generator cannot turn into cluster DDL; the message names the migration and the statement. */
export class ClusterDdlError extends StorageError {}

// ----------------------------------------------------------------------------------------------------------------
// Tokens: enough of ClickHouse's lexer to find clause boundaries without being fooled by strings or comments.

type TokenKind = 'word' | 'quoted' | 'string' | 'number' | 'placeholder' | 'punct' | 'comment';
interface Token {
  kind: TokenKind;
  text: string;
  start: number;
  end: number;
}

function tokenize(sql: string, where: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const push = (kind: TokenKind, end: number) => {
    tokens.push({ kind, text: sql.slice(i, end), start: i, end });
    i = end;
  };
  const closing = (quote: string): number => {
    let j = i + 1;
    while (j < sql.length) {
      if (sql[j] === '\\') j += 2;
      else if (sql[j] === quote && sql[j + 1] === quote) j += 2;
      else if (sql[j] === quote) return j + 1;
      else j++;
    }
    throw new ClusterDdlError(`${where}: unterminated ${quote} quote`);
  };
  while (i < sql.length) {
    const c = sql[i];
    const rest = sql.slice(i);
    if (/\s/.test(c)) i++;
    else if (rest.startsWith('--')) push('comment', sql.indexOf('\n', i) === -1 ? sql.length : sql.indexOf('\n', i));
    else if (rest.startsWith('/*')) {
      const end = sql.indexOf('*/', i + 2);
      if (end === -1) throw new ClusterDdlError(`${where}: unterminated /* comment`);
      push('comment', end + 2);
    } else if (c === "'") push('string', closing("'"));
    else if (c === '`' || c === '"') push('quoted', closing(c));
    else if (rest.startsWith('{database}')) push('placeholder', i + '{database}'.length);
    else if (/[A-Za-z_]/.test(c)) push('word', i + /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest)![0].length);
    else if (/[0-9]/.test(c)) push('number', i + /^[0-9][0-9A-Za-z_.]*/.exec(rest)![0].length);
    else push('punct', i + 1);
  }
  return tokens;
}

const isWord = (t: Token | undefined, ...words: string[]): boolean =>
  t !== undefined && t.kind === 'word' && words.includes(t.text.toUpperCase());

/** Reads a statement's tokens (comments left out) from the front. */
class Cursor {
  pos = 0;
  constructor(
    readonly sql: string,
    readonly tokens: Token[],
    readonly fail: (message: string) => never,
  ) {}

  peek(offset = 0): Token | undefined {
    return this.tokens[this.pos + offset];
  }
  done(): boolean {
    return this.pos >= this.tokens.length;
  }
  /** Consumes the words if they come next (case-insensitive). */
  accept(...words: string[]): boolean {
    if (!words.every((w, k) => isWord(this.peek(k), w))) return false;
    this.pos += words.length;
    return true;
  }
  expect(...words: string[]): void {
    if (!this.accept(...words)) this.fail(`expected ${words.join(' ')} at "${this.context()}"`);
  }
  context(): string {
    const t = this.peek();
    return t ? this.sql.slice(t.start, t.start + 40).split('\n')[0] : '<end>';
  }
  /** `{database}.name`: every table of a migration is qualified this way. */
  table(): string {
    const db = this.peek();
    const dot = this.peek(1);
    const name = this.peek(2);
    if (db?.kind !== 'placeholder' || dot?.text !== '.' || name === undefined)
      this.fail(`expected {database}.<table> at "${this.context()}" (migrations qualify every table with {database})`);
    this.pos += 3;
    const text = name.kind === 'quoted' ? name.text.slice(1, -1) : name.text;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(text)) this.fail(`table name ${name.text} is not a plain identifier`);
    return text;
  }
  /** Index just past the parenthesis group starting at the current token. */
  group(): { start: number; end: number } {
    const open = this.peek();
    if (open?.text !== '(') this.fail(`expected "(" at "${this.context()}"`);
    let depth = 0;
    for (let k = this.pos; k < this.tokens.length; k++) {
      const t = this.tokens[k];
      if (t.text === '(') depth++;
      else if (t.text === ')' && --depth === 0) {
        this.pos = k + 1;
        return { start: open.start, end: t.end };
      }
    }
    return this.fail('unbalanced parentheses');
  }
}

/** Splits `a, f(b, c), d` (tokens between the outer parentheses, or a list) at top-level commas. */
function splitTopLevel(tokens: Token[]): Token[][] {
  const parts: Token[][] = [[]];
  let depth = 0;
  for (const t of tokens) {
    if (t.text === '(' || t.text === '[') depth++;
    if (t.text === ')' || t.text === ']') depth--;
    if (t.text === ',' && depth === 0) parts.push([]);
    else parts[parts.length - 1].push(t);
  }
  return parts.filter((p) => p.some((t) => t.kind !== 'comment'));
}

const textOf = (sql: string, tokens: Token[]): string =>
  tokens.length === 0 ? '' : sql.slice(tokens[0].start, tokens[tokens.length - 1].end);

/** Identifiers (not function names) used by an expression. */
function identifiers(tokens: Token[]): Set<string> {
  const names = new Set<string>();
  tokens.forEach((t, k) => {
    if (t.kind === 'quoted') names.add(t.text.slice(1, -1));
    else if (t.kind === 'word' && tokens[k + 1]?.text !== '(' && !isWord(t, 'TUPLE')) names.add(t.text);
  });
  return names;
}

// ----------------------------------------------------------------------------------------------------------------
// Statements.

const q = (name: string): string => `\`${name}\``;
const str = (text: string): string => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** MergeTree engines that have a Replicated twin taking the same arguments after the Keeper path and replica. */
const MERGE_TREE_RE = /^(|Replacing|Summing|Aggregating|Collapsing|VersionedCollapsing|Graphite|Coalescing)MergeTree$/;

/** Clauses that may follow ENGINE = … in CREATE TABLE (kept verbatim on the local table). */
const TABLE_CLAUSES = [
  ['ORDER', 'BY'],
  ['PARTITION', 'BY'],
  ['PRIMARY', 'KEY'],
  ['SAMPLE', 'BY'],
  ['TTL'],
  ['SETTINGS'],
  ['COMMENT'],
];

/** ALTER actions that change columns: applied to the local and the Distributed table alike. */
const COLUMN_ACTIONS = [
  ['ADD', 'COLUMN'],
  ['DROP', 'COLUMN'],
  ['MODIFY', 'COLUMN'],
  ['RENAME', 'COLUMN'],
  ['COMMENT', 'COLUMN'],
];
/** ALTER actions about storage, indexes or data: the local table only (a Distributed table holds no rows). */
const LOCAL_ACTIONS = [
  ['ADD', 'INDEX'],
  ['DROP', 'INDEX'],
  ['MATERIALIZE', 'INDEX'],
  ['CLEAR', 'INDEX'],
  ['ADD', 'PROJECTION'],
  ['DROP', 'PROJECTION'],
  ['MATERIALIZE', 'PROJECTION'],
  ['ADD', 'CONSTRAINT'],
  ['DROP', 'CONSTRAINT'],
  ['MODIFY', 'TTL'],
  ['REMOVE', 'TTL'],
  ['MATERIALIZE', 'TTL'],
  ['MODIFY', 'SETTING'],
  ['RESET', 'SETTING'],
  ['MATERIALIZE', 'COLUMN'],
  ['CLEAR', 'COLUMN'],
  ['MODIFY', 'ORDER', 'BY'],
  ['UPDATE'],
  ['DELETE', 'WHERE'],
];

interface TableInfo {
  /** The sorting-key expressions (ORDER BY), the dedup key of the Replacing family. */
  sortingKey: Token[][];
  engine: string;
}

/** Generator state across a migration sequence: tables created so far and what they are made of. */
class Generator {
  readonly tables = new Map<string, TableInfo>();
  private readonly shardingKeys: Readonly<Record<string, { key: string; why?: string }>>;
  private readonly on: string;

  constructor(private readonly options: ClusterDdlOptions) {
    for (const [what, name] of [
      ['cluster', options.cluster],
      ['database', options.database],
    ])
      if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name))
        throw new ClusterDdlError(`${what} name "${name}" is not a plain identifier (letters, digits, "_", "-")`);
    this.shardingKeys = options.shardingKeys ?? SHARDING_KEYS;
    this.on = `ON CLUSTER ${q(options.cluster)}`;
  }

  private ident(table: string): string {
    return `${q(this.options.database)}.${q(table)}`;
  }

  statement(sql: string, where: string): ClusterStatement[] {
    const fail = (message: string): never => {
      throw new ClusterDdlError(
        `${where}: ${message}. The cluster DDL generator (libs/storage/src/cluster-ddl.ts) must learn it before this migration can run on a cluster`,
      );
    };
    const all = tokenize(sql, where);
    const c = new Cursor(
      sql,
      all.filter((t) => t.kind !== 'comment'),
      fail,
    );
    if (c.accept('CREATE', 'TABLE')) return this.create(c, all, fail);
    if (c.accept('ALTER', 'TABLE')) return this.alter(c, fail);
    if (c.accept('DROP', 'TABLE')) return this.drop(c, fail);
    if (c.accept('CREATE', 'FUNCTION')) return this.createFunction(c, fail);
    if (c.accept('CREATE', 'VIEW')) return this.createView(c, fail);
    if (c.accept('INSERT', 'INTO')) {
      // Data, not schema: written once, through the Distributed table that carries the migration's name.
      c.table();
      return [{ sql: this.substitute(sql), note: 'rows, through the Distributed table' }];
    }
    const head = c.tokens
      .slice(0, 3)
      .map((t) => t.text)
      .join(' ');
    return fail(
      `"${head} …" is not a statement the generator knows (CREATE TABLE, ALTER TABLE, DROP TABLE, INSERT INTO, CREATE FUNCTION, CREATE VIEW)`,
    );
  }

  private substitute(sql: string): string {
    return sql.split('{database}').join(q(this.options.database));
  }

  private create(c: Cursor, all: Token[], fail: (m: string) => never): ClusterStatement[] {
    const ifNotExists = c.accept('IF', 'NOT', 'EXISTS');
    if (!ifNotExists) fail('CREATE TABLE without IF NOT EXISTS is not repeatable (docs/storage.md, Migrations)');
    const name = c.table();
    if (name.endsWith(LOCAL_SUFFIX)) fail(`table names ending in ${LOCAL_SUFFIX} are kept for the replicated tables`);
    // `AS {database}.other`: the columns of a table an earlier migration created (AS SELECT and EMPTY hold rows).
    let like: string | undefined;
    if (isWord(c.peek(), 'AS')) {
      c.pos++;
      if (c.peek()?.kind !== 'placeholder')
        fail(`CREATE TABLE ${name} AS "${c.context()}": only AS {database}.<table> is supported (not AS SELECT)`);
      like = c.table();
      if (!this.tables.has(like)) fail(`CREATE TABLE ${name} AS ${like}: no earlier migration creates ${like}`);
    } else if (c.peek()?.text !== '(')
      fail(`CREATE TABLE ${name} must list its columns or copy them (AS {database}.<table>); EMPTY is not supported`);
    const columnsGroup = like === undefined ? c.group() : undefined;
    const inner = columnsGroup ? all.filter((t) => t.start > columnsGroup.start && t.end < columnsGroup.end) : [];
    c.expect('ENGINE');
    if (c.peek()?.text === '=') c.pos++;
    const engineToken = c.peek();
    if (engineToken?.kind !== 'word') return fail(`CREATE TABLE ${name}: expected an engine name`);
    c.pos++;
    const engine = engineToken.text;
    if (!MERGE_TREE_RE.test(engine))
      fail(
        `CREATE TABLE ${name}: engine ${engine} is not a non-replicated MergeTree engine (only those have a Replicated twin the generator can build)`,
      );
    let engineArgs = '';
    if (c.peek()?.text === '(') {
      const g = c.group();
      engineArgs = c.sql.slice(g.start + 1, g.end - 1).trim();
    }
    const clausesStart = c.peek()?.start ?? c.sql.length;
    // Find the clauses after the engine, and the sorting key among them.
    const clauses: { words: string[]; tokens: Token[] }[] = [];
    while (!c.done()) {
      const clause = TABLE_CLAUSES.find((words) => words.every((w, k) => isWord(c.peek(k), w)));
      if (!clause)
        fail(
          `CREATE TABLE ${name}: "${c.context()}" is not a table clause the generator knows (${TABLE_CLAUSES.map((w) => w.join(' ')).join(', ')})`,
        );
      c.pos += clause.length;
      const tokens: Token[] = [];
      let depth = 0;
      while (!c.done()) {
        const t = c.peek()!;
        if (depth === 0 && TABLE_CLAUSES.some((words) => words.every((w, k) => isWord(c.peek(k), w)))) break;
        if (depth === 0 && isWord(t, 'AS', 'EMPTY', 'POPULATE'))
          fail(
            `CREATE TABLE ${name}: "${c.context()}" is not a table clause the generator knows (a table is created empty, from its column list)`,
          );
        if (t.text === '(') depth++;
        if (t.text === ')') depth--;
        tokens.push(t);
        c.pos++;
      }
      clauses.push({ words: clause, tokens });
    }
    const orderBy = clauses.find((cl) => cl.words[0] === 'ORDER');
    if (!orderBy) return fail(`CREATE TABLE ${name}: no ORDER BY (a MergeTree table needs one)`);
    let keyTokens = orderBy.tokens;
    if (keyTokens[0]?.text === '(' && keyTokens[keyTokens.length - 1]?.text === ')') keyTokens = keyTokens.slice(1, -1);
    const sortingKey = splitTopLevel(keyTokens);
    if (sortingKey.length === 0 || isWord(sortingKey[0][0], 'TUPLE'))
      fail(`CREATE TABLE ${name}: ORDER BY tuple() has no key to shard by`);
    for (const column of splitTopLevel(inner)) {
      const words = column.filter((t) => t.kind !== 'comment');
      if (!isWord(words[0], 'INDEX', 'PROJECTION', 'CONSTRAINT') && words.some((t, k) => k > 0 && isWord(t, 'TTL')))
        fail(
          `CREATE TABLE ${name}: column TTL ("${textOf(c.sql, words).split('\n')[0]}") is not supported; use a table TTL`,
        );
    }
    this.tables.set(name, { sortingKey, engine });

    const shardingKey = this.shardingKey(name, sortingKey, c.sql, fail);
    const path = `/clickhouse/tables/{shard}/${this.options.database}/{table}`;
    const replicatedArgs = [str(path), str('{replica}'), ...(engineArgs ? [engineArgs] : [])].join(', ');
    // A copied table copies the other's local table; its Distributed table takes the columns from that one too.
    const columnsText = columnsGroup
      ? c.sql.slice(columnsGroup.start, columnsGroup.end)
      : `AS ${this.ident(like + LOCAL_SUFFIX)}`;
    const local =
      `CREATE TABLE IF NOT EXISTS ${this.ident(name + LOCAL_SUFFIX)} ${this.on}\n${columnsText}\n` +
      `ENGINE = Replicated${engine}(${replicatedArgs})\n${c.sql.slice(clausesStart).trim()}`;
    // The Distributed table lists the same columns (defaults and EPHEMERAL included, so inserts keep working) but
    // no indexes, projections or constraints: those belong to the tables that hold rows.
    const columns = splitTopLevel(inner)
      .map((tokens) => tokens.filter((t) => t.kind !== 'comment'))
      .filter((tokens) => !isWord(tokens[0], 'INDEX', 'PROJECTION', 'CONSTRAINT'))
      .map((tokens) => withoutCodec(c.sql, tokens).text);
    const distributedColumns = columnsGroup
      ? `(\n    ${columns.join(',\n    ')}\n)`
      : `AS ${this.ident(like + LOCAL_SUFFIX)}`;
    const distributed =
      `CREATE TABLE IF NOT EXISTS ${this.ident(name)} ${this.on}\n${distributedColumns}\n` +
      `ENGINE = Distributed(${str(this.options.cluster)}, ${str(this.options.database)}, ${str(name + LOCAL_SUFFIX)}, ${shardingKey})`;
    return [
      { sql: this.substitute(local), note: `${name}${LOCAL_SUFFIX}: Replicated${engine}, one per shard replica` },
      {
        sql: distributed,
        note:
          `${name}: Distributed over ${name}${LOCAL_SUFFIX}, sharded by ${shardingKey}` +
          `: ${this.shardingKeys[name]?.why ?? 'the whole sorting key (all versions of a row on one shard)'}`,
      },
    ];
  }

  private shardingKey(name: string, sortingKey: Token[][], sql: string, fail: (m: string) => never): string {
    const custom = this.shardingKeys[name];
    if (!custom) return `cityHash64(${sortingKey.map((e) => textOf(sql, e)).join(', ')})`;
    const keyColumns = identifiers(sortingKey.flat());
    const used = identifiers(tokenize(custom.key, `sharding key of ${name}`));
    const outside = [...used].filter((n) => !keyColumns.has(n));
    if (outside.length > 0)
      fail(
        `sharding key ${custom.key} of ${name} uses ${outside.join(', ')}, outside the sorting key (${[...keyColumns].join(', ')}): versions of one row could land on different shards and FINAL would keep both`,
      );
    return custom.key;
  }

  private alter(c: Cursor, fail: (m: string) => never): ClusterStatement[] {
    const name = c.table();
    if (!this.tables.has(name)) fail(`ALTER TABLE ${name}: no earlier migration creates ${name}`);
    const actions = splitTopLevel(c.tokens.slice(c.pos));
    const local: string[] = []; // every action, in the file's order
    const both: string[] = []; // column changes, repeated on the Distributed table (without codecs)
    for (const action of actions) {
      const text = textOf(c.sql, action);
      if (COLUMN_ACTIONS.some((words) => words.every((w, k) => isWord(action[k], w)))) {
        if (action.some((t) => isWord(t, 'TTL')) && !isWord(action[0], 'DROP', 'RENAME', 'COMMENT'))
          fail(
            `ALTER TABLE ${name}: "${text}" sets a column TTL, which a Distributed table cannot take; use a table TTL`,
          );
        local.push(text);
        const plain = withoutCodec(c.sql, action);
        // `MODIFY COLUMN c CODEC(…)` alone changes nothing a Distributed table has.
        if (plain.tokens > 3 || !isWord(action[0], 'MODIFY')) both.push(plain.text);
      } else if (LOCAL_ACTIONS.some((words) => words.every((w, k) => isWord(action[k], w)))) local.push(text);
      else fail(`ALTER TABLE ${name}: the action "${text.split('\n')[0]}" is not one the generator knows`);
    }
    const out: ClusterStatement[] = [];
    out.push({
      sql: this.substitute(`ALTER TABLE ${this.ident(name + LOCAL_SUFFIX)} ${this.on}\n    ${local.join(',\n    ')}`),
      note: `${name}${LOCAL_SUFFIX}: ALTER`,
    });
    if (both.length > 0)
      out.push({
        sql: this.substitute(`ALTER TABLE ${this.ident(name)} ${this.on}\n    ${both.join(',\n    ')}`),
        note: `${name}: the same column change on the Distributed table`,
      });
    return out;
  }

  /** A SQL function is server-wide and holds no rows: the same definition on every server. */
  private createFunction(c: Cursor, fail: (m: string) => never): ClusterStatement[] {
    if (!c.accept('IF', 'NOT', 'EXISTS'))
      fail('CREATE FUNCTION without IF NOT EXISTS is not repeatable (docs/storage.md, Migrations)');
    const name = c.peek();
    if (name?.kind !== 'word' || !isWord(c.peek(1), 'AS'))
      return fail(`expected CREATE FUNCTION IF NOT EXISTS <name> AS … at "${c.context()}"`);
    const body = this.substitute(c.sql.slice(c.peek(1)!.start).trim());
    return [{ sql: `CREATE FUNCTION IF NOT EXISTS ${name.text} ${this.on} ${body}`, note: `${name.text}: function` }];
  }

  /** A (parameterized) view holds no rows: one per server, reading the Distributed tables by their names. */
  private createView(c: Cursor, fail: (m: string) => never): ClusterStatement[] {
    if (!c.accept('IF', 'NOT', 'EXISTS'))
      fail('CREATE VIEW without IF NOT EXISTS is not repeatable (docs/storage.md, Migrations)');
    const name = c.table();
    if (!isWord(c.peek(), 'AS')) return fail(`CREATE VIEW ${name}: expected AS SELECT at "${c.context()}"`);
    const query = this.substitute(c.sql.slice(c.peek()!.start).trim());
    return [{ sql: `CREATE VIEW IF NOT EXISTS ${this.ident(name)} ${this.on} ${query}`, note: `${name}: view` }];
  }

  private drop(c: Cursor, fail: (m: string) => never): ClusterStatement[] {
    c.accept('IF', 'EXISTS');
    const name = c.table();
    if (!c.done()) fail(`DROP TABLE ${name}: "${c.context()}" after the table name is not supported`);
    this.tables.delete(name);
    return [name, name + LOCAL_SUFFIX].map((table) => ({
      sql: `DROP TABLE IF EXISTS ${this.ident(table)} ${this.on} SYNC`,
      note: `${table}: dropped`,
    }));
  }
}

/** A column definition's text without `CODEC(…)`: compression is the business of the tables that store rows. */
function withoutCodec(sql: string, tokens: Token[]): { text: string; tokens: number } {
  const k = tokens.findIndex((t, i) => isWord(t, 'CODEC') && tokens[i + 1]?.text === '(');
  if (k === -1) return { text: textOf(sql, tokens), tokens: tokens.length };
  let depth = 0;
  let end = k + 1;
  for (; end < tokens.length; end++) {
    if (tokens[end].text === '(') depth++;
    if (tokens[end].text === ')' && --depth === 0) break;
  }
  const before = tokens.slice(0, k);
  const after = tokens.slice(end + 1);
  const text = [textOf(sql, before), textOf(sql, after)].filter((t) => t !== '').join(' ');
  return { text, tokens: before.length + after.length };
}

/**
 * Cluster DDL for a sequence of migrations, in order (ALTERs need the tables earlier files created). Throws a
 * ClusterDdlError naming the file and statement of the first construct it does not understand.
 */
export function clusterMigrations(migrations: readonly Migration[], options: ClusterDdlOptions): ClusterMigration[] {
  const generator = new Generator(options);
  const out = migrations.map((m) => ({
    version: m.version,
    name: m.name,
    checksum: m.checksum,
    statements: m.statements.flatMap((sql, i) =>
      generator.statement(sql, `migration ${m.name}, statement ${i + 1} of ${m.statements.length}`),
    ),
  }));
  const custom = options.shardingKeys ?? SHARDING_KEYS;
  const stale = Object.keys(custom).filter((t) => !generator.tables.has(t));
  if (stale.length > 0)
    throw new ClusterDdlError(
      `sharding keys are given for ${stale.join(', ')}, which no migration creates: remove them`,
    );
  return out;
}

/** The database and the migration bookkeeping table on every host (the migrator's own statements). */
export function clusterBootstrap(options: ClusterDdlOptions, migrationsTableSql: string): ClusterStatement[] {
  const generator = new Generator(options);
  return [
    {
      sql: `CREATE DATABASE IF NOT EXISTS ${q(options.database)} ON CLUSTER ${q(options.cluster)}`,
      note: `database ${options.database} on every host`,
    },
    ...generator.statement(migrationsTableSql, 'the migrations table'),
  ];
}

export interface ClusterTopology {
  cluster: string;
  shards: number;
  replicas: number;
  /** Host name of each server, with `{shard}` and `{replica}` (1-based) in it, e.g. `clickhouse-{shard}-{replica}`. */
  host: string;
  /** Native protocol port the servers talk to each other on. */
  port?: number;
}

/** Environment variable holding the cluster's inter-server secret on every server. */
export const INTERSERVER_SECRET_ENV = 'TMA_CLICKHOUSE_INTERSERVER_SECRET';

/**
 * The servers' `<remote_servers>` entry for a cluster of `shards` × `replicas`, to drop into config.d/ on every
 * server. internal_replication: a Distributed insert goes to one replica per shard and the Replicated table copies
 * it to the others (writing every replica itself would double the rows and skip the insert deduplication).
 */
export function remoteServersXml(t: ClusterTopology): string {
  if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(t.cluster))
    throw new ClusterDdlError(`cluster name "${t.cluster}" is not a plain identifier (letters, digits, "_", "-")`);
  for (const [what, n] of [
    ['shards', t.shards],
    ['replicas', t.replicas],
  ] as const)
    if (!Number.isInteger(n) || n < 1 || n > 100)
      throw new ClusterDdlError(`${what} must be a whole number from 1 to 100`);
  if (!t.host.includes('{shard}') || (t.replicas > 1 && !t.host.includes('{replica}')))
    throw new ClusterDdlError(`host pattern "${t.host}" must hold {shard} and {replica} to name every server apart`);
  const lines = [
    '<clickhouse>',
    '    <remote_servers>',
    `        <${t.cluster}>`,
    // Queries between the servers run as the user who sent the first one (no shared "default" user needed).
    `            <secret from_env="${INTERSERVER_SECRET_ENV}"/>`,
  ];
  for (let s = 1; s <= t.shards; s++) {
    lines.push('            <shard>', '                <internal_replication>true</internal_replication>');
    for (let r = 1; r <= t.replicas; r++) {
      const host = t.host.replaceAll('{shard}', String(s)).replaceAll('{replica}', String(r));
      lines.push(`                <replica><host>${host}</host><port>${t.port ?? 9000}</port></replica>`);
    }
    lines.push('            </shard>');
  }
  lines.push(`        </${t.cluster}>`, '    </remote_servers>', '</clickhouse>', '');
  return lines.join('\n');
}
