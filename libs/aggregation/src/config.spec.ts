import { ConfigError } from '@tma/config';
import { expandHashSeed, PUBLIC_HASH_KEY } from '@tma/sketch';
import { loadAggregatorConfig, parseDuration } from './config';

describe('loadAggregatorConfig', () => {
  it('has the documented defaults', () => {
    const c = loadAggregatorConfig({});
    expect(c).toMatchObject({
      windowMs: 60_000,
      allowedLatenessMs: 30_000,
      idleCloseMs: 15_000,
      flushIntervalMs: 1000,
      rollupDelayMs: 5000,
      provisionalIntervalMs: 2000,
      provisionalTtlSeconds: 3600,
      maxFutureMs: 600_000,
      maxPastMs: 7 * 86_400_000,
      maxOpenWindows: 6,
      maxSequenceJump: 1000,
      topK: 100,
      sessionTimeoutMs: 30_000,
      groupId: 'tma-aggregator',
      topicPrefix: 'tma',
      topicPartitions: 12,
      httpHost: '127.0.0.1',
      httpPort: 9464,
      retention: {
        partials: 7 * 86_400,
        windowTotals: 30 * 86_400,
        topFlows: 30 * 86_400,
        hostTotals: 30 * 86_400,
        protocolTotals: 30 * 86_400,
        hourTier: 400 * 86_400,
        dayTier: 1100 * 86_400,
      },
    });
    expect(c.writerId).toMatch(new RegExp(`-${process.pid}$`));
  });

  it('reads the variables', () => {
    expect(
      loadAggregatorConfig({
        TMA_AGG_WINDOW: '10s',
        TMA_AGG_TOP_K: '5',
        TMA_AGG_GROUP_ID: ' g1 ',
        TMA_AGG_HTTP_HOST: ' ::1 ',
        TMA_AGG_TTL_PARTIALS: '14d',
        TMA_AGG_IDLE_CLOSE: '',
      }),
    ).toMatchObject({ windowMs: 10_000, topK: 5, groupId: 'g1', httpHost: '::1', idleCloseMs: 15_000 });
  });

  it('lists every unusable variable by name', () => {
    const env = { TMA_AGG_WINDOW: '7s', TMA_AGG_TOP_K: '0', TMA_AGG_GROUP_ID: 'a b', TMA_AGG_SESSION_TIMEOUT: '5s' };
    expect(() => loadAggregatorConfig(env)).toThrow(ConfigError);
    let message = '';
    try {
      loadAggregatorConfig(env);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'TMA_AGG_TOP_K: "0" must be an integer from 1 to 10000',
      'TMA_AGG_SESSION_TIMEOUT: 5000 ms is outside 6s..300s',
      'TMA_AGG_GROUP_ID: "a b" may hold only letters, digits, ".", "_" and "-"',
      'TMA_AGG_WINDOW: 7000 ms must be whole seconds that divide one hour (e.g. 10s, 1m, 5m) so the 1 h tier is built from whole windows',
    ]);
    expect(() => loadAggregatorConfig({ TMA_AGG_TTL_PARTIALS: '30m' })).toThrow(/TMA_AGG_TTL_PARTIALS: .* is outside/);
    expect(() => loadAggregatorConfig({ TMA_AGG_WINDOW: 'x' })).toThrow(/TMA_AGG_WINDOW: "x" is not a duration/);
  });

  it('takes the hash seed snapshots are checked against, and refuses a malformed one naming the variable', () => {
    expect(loadAggregatorConfig({}).hashSeed.seed).toBe(PUBLIC_HASH_KEY);
    expect(loadAggregatorConfig({ TMA_HASH_SEED: 'fedcba9876543210' }).hashSeed.seed).toEqual(
      expandHashSeed(0xfedcba9876543210n),
    );
    expect(() => loadAggregatorConfig({ TMA_HASH_SEED: '0xfedcba98' })).toThrow(ConfigError);
    expect(() => loadAggregatorConfig({ TMA_HASH_SEED_FILE: '/nonexistent/seed' })).toThrow(
      /^TMA_HASH_SEED_FILE: cannot read/,
    );
  });

  it('refuses a provisional retention shorter than a window stays open, and a too frequent provisional write', () => {
    expect(() => loadAggregatorConfig({ TMA_AGG_TTL_PROVISIONAL: '1m' })).toThrow(
      /^TMA_AGG_TTL_PROVISIONAL: 60000 ms must exceed the window plus the allowed lateness plus the idle close \(105000 ms\)$/,
    );
    expect(loadAggregatorConfig({ TMA_AGG_TTL_PROVISIONAL: '1m', TMA_AGG_PROVISIONAL_INTERVAL: '0s' })).toMatchObject({
      provisionalIntervalMs: 0,
    });
    expect(() => loadAggregatorConfig({ TMA_AGG_PROVISIONAL_INTERVAL: '100ms' })).toThrow(
      /TMA_AGG_PROVISIONAL_INTERVAL: 100 ms: use 0s \(off\) or at least 200ms/,
    );
  });

  it('parses a duration naming the setting', () => {
    expect(parseDuration('X', '12h')).toBe(43_200_000);
    expect(() => parseDuration('X', 'soon')).toThrow(/^X: "soon" is not a duration/);
  });
});
