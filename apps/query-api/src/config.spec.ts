import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '@tma/config';
import { expandHashSeed, resolveHashSeed } from '@tma/sketch';
import { DEFAULT_MERGE_WORKERS, loadQueryApiConfig, parseTokens } from './config';

const SECRET = '0123456789abcdef';

describe('loadQueryApiConfig', () => {
  it('has the documented defaults', () => {
    expect(loadQueryApiConfig({ TMA_API_AUTH: 'off' })).toEqual({
      host: '127.0.0.1',
      port: 8080,
      authEnabled: false,
      tokens: [],
      maxRangeMs: 31 * 86_400_000,
      maxPoints: 1000,
      maxK: 1000,
      cacheBytes: 256 * 1024 * 1024,
      indexRefreshMs: 1000,
      mergeCache: true,
      mergeCacheBytes: 128 * 1024 * 1024,
      mergeWorkers: DEFAULT_MERGE_WORKERS,
      mergeQueue: 256,
      fleetRows: true,
      hashSeed: resolveHashSeed({}),
      sqlLimits: {
        maxExecutionSeconds: 30,
        maxResultRows: 100_000,
        maxResultBytes: 64 * 1024 * 1024,
        maxMemoryBytes: 2048 * 1024 * 1024,
      },
      // the default broker and the API's own address are protected from block rules
      mitigation: {
        commands: true,
        topicPrefix: 'tma',
        maxRules: 256,
        protect: ['127.0.0.1'],
        auditTtlMs: 365 * 86_400_000,
      },
    });
    expect(
      loadQueryApiConfig({
        TMA_API_AUTH: 'off',
        TMA_API_SQL_TIMEOUT: '5s',
        TMA_API_SQL_MAX_ROWS: '10',
        TMA_API_SQL_MAX_RESULT_MB: '1',
        TMA_API_SQL_MAX_MEMORY_MB: '256',
      }).sqlLimits,
    ).toEqual({
      maxExecutionSeconds: 5,
      maxResultRows: 10,
      maxResultBytes: 1024 * 1024,
      maxMemoryBytes: 256 * 1024 * 1024,
    });
    expect(() => loadQueryApiConfig({ TMA_API_AUTH: 'off', TMA_API_SQL_TIMEOUT: '10ms' })).toThrow(
      /TMA_API_SQL_TIMEOUT/,
    );
  });

  it('mitigation: the cap is validated at start-up; the brokers, the API host and listed addresses are protected', () => {
    const m = loadQueryApiConfig({
      TMA_API_AUTH: 'off',
      TMA_API_HOST: '192.0.2.10',
      TMA_KAFKA_BROKERS: '198.51.100.1:9092,[2001:db8::1]:9092',
      TMA_MITIGATION_PROTECT: '203.0.113.5',
      TMA_MITIGATION_MAX_RULES: '10',
    }).mitigation;
    expect(m).toMatchObject({ maxRules: 10, protect: ['198.51.100.1', '2001:db8::1', '192.0.2.10', '203.0.113.5'] });
    expect(() => loadQueryApiConfig({ TMA_API_AUTH: 'off', TMA_MITIGATION_MAX_RULES: '5000' })).toThrow(
      /TMA_MITIGATION_MAX_RULES/,
    );
    expect(() => loadQueryApiConfig({ TMA_API_AUTH: 'off', TMA_MITIGATION_PROTECT: 'not-an-address' })).toThrow(
      /not-an-address/,
    );
  });

  it('takes the hash seed its point lookups hash with, and refuses a malformed one naming the variable', () => {
    const env = { TMA_API_AUTH: 'off' };
    expect(loadQueryApiConfig({ ...env, TMA_HASH_SEED: '0x0123456789abcdef' }).hashSeed.seed).toEqual(
      expandHashSeed(0x0123456789abcdefn),
    );
    expect(() => loadQueryApiConfig({ ...env, TMA_HASH_SEED: 'secret' })).toThrow(ConfigError);
    expect(() => loadQueryApiConfig({ ...env, TMA_HASH_SEED: 'secret' })).toThrow(/^TMA_HASH_SEED: .*16 hex digits/);
  });

  it('reads tokens from the variable or a file, and the limits', () => {
    expect(loadQueryApiConfig({ TMA_API_TOKENS: `ops:${SECRET}:admin` }).tokens).toEqual([
      { name: 'ops', secret: SECRET, scopes: ['admin', 'read'] },
    ]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tma-api-config-'));
    try {
      const file = path.join(dir, 'tokens');
      fs.writeFileSync(file, `# readers\nr1:${SECRET}\n`);
      expect(loadQueryApiConfig({ TMA_API_TOKENS_FILE: file }).tokens).toEqual([
        { name: 'r1', secret: SECRET, scopes: ['read'] },
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(
      loadQueryApiConfig({
        TMA_API_AUTH: 'off',
        TMA_API_MAX_RANGE: '7d',
        TMA_API_INDEX_REFRESH: '0',
        TMA_API_CACHE_MB: '0',
        TMA_API_MERGE_CACHE: 'off',
        TMA_API_MERGE_CACHE_MB: '16',
        TMA_API_MERGE_WORKERS: '0',
        TMA_API_MERGE_QUEUE: '8',
      }),
    ).toMatchObject({
      maxRangeMs: 7 * 86_400_000,
      indexRefreshMs: 0,
      cacheBytes: 0,
      mergeCache: false,
      mergeCacheBytes: 16 * 1024 * 1024,
      mergeWorkers: 0,
      mergeQueue: 8,
    });
  });

  it.each([
    [{}, /no API tokens/],
    [{ TMA_API_AUTH: 'maybe' }, /TMA_API_AUTH: "maybe" must be on or off/],
    [{ TMA_API_TOKENS: 'a:short' }, /TMA_API_TOKENS: entry 1 \(a\): the secret must be at least 16 characters/],
    [{ TMA_API_TOKENS: `a:${SECRET}`, TMA_API_TOKENS_FILE: '/etc/hostname' }, /both set/],
    [{ TMA_API_TOKENS_FILE: '/nonexistent/tokens' }, /TMA_API_TOKENS_FILE: cannot read/],
    [{ TMA_API_AUTH: 'off', TMA_API_MAX_RANGE: '0d' }, /TMA_API_MAX_RANGE: 0 ms is below the minimum/],
    [{ TMA_API_AUTH: 'off', TMA_API_PORT: '99999' }, /TMA_API_PORT: "99999" must be an integer from 0 to 65535/],
    [{ TMA_API_AUTH: 'off', TMA_API_MERGE_CACHE: 'no' }, /TMA_API_MERGE_CACHE: "no" must be on or off/],
  ])('refuses %j', (env, message) => {
    expect(() => loadQueryApiConfig(env)).toThrow(ConfigError);
    expect(() => loadQueryApiConfig(env)).toThrow(message);
  });

  it('never puts a secret in a message', () => {
    expect(() => parseTokens(`a:${SECRET}\nb:${SECRET}`, 'test')).toThrow(ConfigError);
    expect(() => parseTokens(`a:${SECRET}\nb:${SECRET}`, 'test')).not.toThrow(new RegExp(SECRET));
  });
});

describe('parseTokens', () => {
  it('keeps a # inside a secret; a comment starts at a line start or after a space', () => {
    const hashed = 'abc#def#0123456789';
    expect(parseTokens(`a:${hashed}:read`, '')).toEqual([{ name: 'a', secret: hashed, scopes: ['read'] }]);
    expect(parseTokens(`# all readers\nb:${hashed} # the second reader\n  # c:${SECRET}`, '')).toEqual([
      { name: 'b', secret: hashed, scopes: ['read'] },
    ]);
    expect(loadQueryApiConfig({ TMA_API_TOKENS: `ops:${hashed}:admin` }).tokens[0].secret).toBe(hashed);
  });
});
