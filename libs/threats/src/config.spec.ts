import { ConfigError } from '@tma/config';
import { DEFAULT_THREAT_CONFIG, loadThreatConfig } from './config';

describe('loadThreatConfig', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_THREAT_CONFIG).toMatchObject({
      enabled: true,
      alpha: 0.2,
      warmupWindows: 5,
      zThreshold: 6,
      riseFactor: 3,
      floodMinShare: 0.05,
      resolveAfterWindows: 2,
      ttlSeconds: 90 * 86_400,
    });
  });

  it('reads the environment and names every bad variable at once', () => {
    expect(loadThreatConfig({ TMA_THREATS: 'off', TMA_THREATS_Z: '4.5' })).toMatchObject({
      enabled: false,
      zThreshold: 4.5,
    });
    let err: unknown;
    try {
      loadThreatConfig({ TMA_THREATS_ALPHA: '2', TMA_THREATS_WARMUP: '0', TMA_THREATS_TTL: 'soon' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const names = (err as ConfigError).problems.map((p) => p.name);
    expect(names).toEqual(['TMA_THREATS_ALPHA', 'TMA_THREATS_WARMUP', 'TMA_THREATS_TTL']);
  });
});
