import { ConfigError } from '@tma/config';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeStorageConfig, loadStorageConfig, redact } from './config';

describe('loadStorageConfig: embedded chDB (default)', () => {
  const repo = mkdtempSync(join(tmpdir(), 'tma-config-spec-'));
  const nested = join(repo, 'apps', 'query-api');
  beforeAll(() => {
    writeFileSync(join(repo, 'nx.json'), '{}');
    mkdirSync(nested, { recursive: true });
  });
  afterAll(() => rmSync(repo, { recursive: true, force: true }));

  it('uses <repo>/.state/chdb and database tma with nothing set, from any folder of the repo', () => {
    expect(loadStorageConfig({}, nested)).toEqual({
      kind: 'chdb',
      path: join(repo, '.state', 'chdb'),
      database: 'tma',
    });
  });

  it('falls back to the working directory outside a repository', () => {
    const outside = mkdtempSync(join(tmpdir(), 'tma-config-outside-'));
    try {
      expect(loadStorageConfig({}, outside)).toMatchObject({ path: join(outside, '.state', 'chdb') });
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('honours TMA_STATE_DIR, TMA_CHDB_PATH (relative to the working directory) and TMA_CLICKHOUSE_DATABASE', () => {
    expect(loadStorageConfig({ TMA_STATE_DIR: '/srv/tma' }, nested)).toMatchObject({ path: '/srv/tma/chdb' });
    expect(loadStorageConfig({ TMA_CHDB_PATH: 'data/ch', TMA_CLICKHOUSE_DATABASE: 'fleet_1' }, nested)).toEqual({
      kind: 'chdb',
      path: join(nested, 'data', 'ch'),
      database: 'fleet_1',
    });
    // Empty means unset, as shells often export empty variables.
    expect(loadStorageConfig({ TMA_CLICKHOUSE_URL: '', TMA_CHDB_PATH: '/x/y' }, nested)).toMatchObject({
      path: '/x/y',
    });
  });

  it.each([
    [{ TMA_CHDB_PATH: ':memory:' }, /:memory: is not supported/],
    [{ TMA_CLICKHOUSE_DATABASE: 'my-db' }, /TMA_CLICKHOUSE_DATABASE: "my-db" is not a usable database name/],
    [{ TMA_CLICKHOUSE_DATABASE: '1abc' }, /not a usable database name/],
    [{ TMA_CLICKHOUSE_USER: 'bob' }, /TMA_CLICKHOUSE_USER is set but TMA_CLICKHOUSE_URL is not/],
    [{ TMA_CLICKHOUSE_PASSWORD: 'pw' }, /TMA_CLICKHOUSE_PASSWORD is set but TMA_CLICKHOUSE_URL is not/],
  ])('refuses %j', (env, message) => {
    expect(() => loadStorageConfig(env, nested)).toThrow(ConfigError);
    expect(() => loadStorageConfig(env, nested)).toThrow(message);
  });
});

describe('loadStorageConfig: ClickHouse server by URL', () => {
  it('takes user, password and database from the URL, keeping them out of the URL it returns', () => {
    const config = loadStorageConfig({ TMA_CLICKHOUSE_URL: 'https://tma%40ops:p%3Ass@ch.example.com:8443/fleet' });
    expect(config).toEqual({
      kind: 'server',
      url: 'https://ch.example.com:8443',
      username: 'tma@ops',
      password: 'p:ss',
      database: 'fleet',
      requestTimeoutMs: 30000,
    });
    expect(describeStorageConfig(config)).toBe(
      'ClickHouse server https://ch.example.com:8443 as tma@ops, database fleet',
    );
  });

  it('takes them from separate variables instead, with defaults', () => {
    expect(
      loadStorageConfig({
        TMA_CLICKHOUSE_URL: 'http://127.0.0.1:8123',
        TMA_CLICKHOUSE_USER: 'writer',
        TMA_CLICKHOUSE_PASSWORD: ' spaced ',
        TMA_CLICKHOUSE_DATABASE: 'tma_prod',
        TMA_CLICKHOUSE_REQUEST_TIMEOUT_MS: '5000',
      }),
    ).toEqual({
      kind: 'server',
      url: 'http://127.0.0.1:8123',
      username: 'writer',
      password: ' spaced ',
      database: 'tma_prod',
      requestTimeoutMs: 5000,
    });
    expect(loadStorageConfig({ TMA_CLICKHOUSE_URL: 'http://[::1]:8123/' })).toMatchObject({
      url: 'http://[::1]:8123',
      username: 'default',
      password: '',
      database: 'tma',
    });
    // The same value given both ways is not a conflict.
    expect(
      loadStorageConfig({
        TMA_CLICKHOUSE_URL: 'http://u@h:8123/db',
        TMA_CLICKHOUSE_USER: 'u',
        TMA_CLICKHOUSE_DATABASE: 'db',
      }),
    ).toMatchObject({ username: 'u', database: 'db' });
  });

  it.each([
    [{ TMA_CLICKHOUSE_URL: 'not a url' }, /is not a URL/],
    [{ TMA_CLICKHOUSE_URL: 'tcp://h:9000' }, /scheme "tcp" is not supported; use http:\/\/ or https:\/\//],
    [{ TMA_CLICKHOUSE_URL: 'http://h:8123/?database=x' }, /query strings and fragments are not accepted/],
    [{ TMA_CLICKHOUSE_URL: 'http://h:8123/a/b' }, /more than one segment/],
    [{ TMA_CLICKHOUSE_URL: 'http://h:8123/bad-name' }, /"bad-name" is not a usable database name/],
    [{ TMA_CLICKHOUSE_URL: 'http://a@h:8123', TMA_CLICKHOUSE_USER: 'b' }, /user is given twice, differently/],
    [{ TMA_CLICKHOUSE_URL: 'http://a:x@h:8123', TMA_CLICKHOUSE_PASSWORD: 'y' }, /password is given twice/],
    [{ TMA_CLICKHOUSE_URL: 'http://h:8123/a', TMA_CLICKHOUSE_DATABASE: 'b' }, /database is given twice/],
    [{ TMA_CLICKHOUSE_URL: 'http://h:8123', TMA_CHDB_PATH: '/x' }, /both set.*keep one/],
    [{ TMA_CLICKHOUSE_URL: 'http://h:8123', TMA_CLICKHOUSE_REQUEST_TIMEOUT_MS: '5s' }, /whole number of milliseconds/],
    [
      { TMA_CLICKHOUSE_URL: 'http://h:8123', TMA_CLICKHOUSE_CLUSTER: 'two words' },
      /"two words" is not a usable cluster name/,
    ],
    [{ TMA_CLICKHOUSE_CLUSTER: 'tma' }, /TMA_CLICKHOUSE_CLUSTER is set but TMA_CLICKHOUSE_URL is not/],
  ])('refuses %j', (env, message) => {
    expect(() => loadStorageConfig(env)).toThrow(ConfigError);
    expect(() => loadStorageConfig(env)).toThrow(message);
  });

  it('takes a cluster name, which the migrator then builds replicated and Distributed tables on', () => {
    const config = loadStorageConfig({ TMA_CLICKHOUSE_URL: 'http://h:8123', TMA_CLICKHOUSE_CLUSTER: 'tma-prod' });
    expect(config).toMatchObject({ kind: 'server', cluster: 'tma-prod' });
    expect(describeStorageConfig(config)).toBe(
      'ClickHouse server http://h:8123 as default, database tma, cluster tma-prod',
    );
    expect(loadStorageConfig({ TMA_CLICKHOUSE_URL: 'http://h:8123' })).not.toHaveProperty('cluster');
  });

  it('never puts the password in an error message', () => {
    expect(() => loadStorageConfig({ TMA_CLICKHOUSE_URL: 'ftp://u:secret@h' })).not.toThrow(/secret/);
    expect(redact('http://u:secret@h:8123/db')).toBe('http://u:***@h:8123/db');
  });
});
