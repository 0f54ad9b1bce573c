// Configuration: precedence flags > env > file > defaults, and a clear error for every bad value.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expandHashSeed } from '@tma/sketch';
import { ConfigError, loadConfig } from './config';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tma-ea-config-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(content: unknown): string {
  const f = path.join(dir, `c${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content));
  return f;
}

const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadConfig(argv, env).config;
const fails = (argv: string[], env: NodeJS.ProcessEnv, message: RegExp) => {
  expect(() => loadConfig(argv, env)).toThrow(ConfigError);
  expect(() => loadConfig(argv, env)).toThrow(message);
};

describe('agent configuration', () => {
  it('has the documented defaults', () => {
    const c = load([], {});
    expect(c).toMatchObject({
      interfaces: null,
      hook: 'tc',
      xdpMode: 'auto',
      tcAttach: 'auto',
      intervalMs: 10_000,
      hostId: os.hostname(),
      samplingRate: 1,
      candidateThreshold: 32,
      tunnels: 'outer',
      spoolMaxBytes: 256 * 1024 * 1024,
      metricsPort: 9465,
      metricsHost: '127.0.0.1',
      topicPrefix: 'tma',
      compression: 'gzip',
      once: false,
      stdout: false,
    });
    expect(c.spoolDir).toBe(path.join('/var/lib/tma/edge-agent', os.hostname()));
    expect(load([], { TMA_STATE_DIR: '/srv/state' }).spoolDir).toBe('/srv/state/edge-agent/' + os.hostname());
  });

  it('takes flags over environment over file', () => {
    const f = file({
      interfaces: ['eth1', 'eth2'],
      interval: '30s',
      hostId: 'from-file',
      samplingRate: 4,
      metricsPort: 0,
    });
    const env = { TMA_AGENT_INTERVAL: '5s', TMA_AGENT_HOST_ID: 'from-env' };
    const c = load(['--config', f, '--host-id', 'from-flag', '--once', '--stdout'], env);
    expect(c).toMatchObject({
      interfaces: ['eth1', 'eth2'],
      intervalMs: 5000,
      hostId: 'from-flag',
      samplingRate: 4,
      metricsPort: 0,
      once: true,
      stdout: true,
    });
    expect(
      load(['--interfaces', 'veth0, veth1,veth0', '--interval', '1s', '--spool-max-bytes', '64Mi'], {}),
    ).toMatchObject({
      interfaces: ['veth0', 'veth1'],
      intervalMs: 1000,
      spoolMaxBytes: 64 * 1024 * 1024,
    });
    expect(load(['--hook', 'xdp', '--xdp-mode', 'generic'], {})).toMatchObject({ hook: 'xdp', xdpMode: 'generic' });
    expect(load([], { TMA_AGENT_TUNNELS: 'inner' }).tunnels).toBe('inner');
    expect(load(['--tunnels', 'outer'], { TMA_AGENT_TUNNELS: 'inner' }).tunnels).toBe('outer');
    fails(['--tunnels', 'both'], {}, /tunnels/);
    expect(load([], { TMA_AGENT_INTERVAL: '2m', TMA_AGENT_ONCE: 'true' })).toMatchObject({
      intervalMs: 120_000,
      once: true,
    });
    expect(load(['--config', file({ compression: 'snappy' })], {}).compression).toBe('snappy');
    expect(load(['--config', file({ compression: 'snappy' })], { TMA_AGENT_COMPRESSION: 'zstd' }).compression).toBe(
      'zstd',
    );
    expect(load(['--compression', 'none'], { TMA_AGENT_COMPRESSION: 'zstd' }).compression).toBe('none');
  });

  it('takes the hash seed from the environment only, and refuses a malformed one naming the variable', () => {
    expect(loadConfig([], { TMA_HASH_SEED: '0x00000000000000aa' }).config.hashSeed.seed).toEqual(expandHashSeed(0xaan));
    expect(loadConfig([], {}).config.hashSeed.warnings).toEqual([expect.stringContaining('PUBLIC seed')]);
    fails([], { TMA_HASH_SEED: 'aa' }, /^TMA_HASH_SEED: .*16 hex digits/);
  });

  it('refuses bad values with the setting, its source and what is accepted', () => {
    fails(['--interval', '500ms'], {}, /interval \(flag --interval\): 500 ms is outside 1s\.\.300s/);
    fails([], { TMA_AGENT_INTERVAL: '301s' }, /interval \(env TMA_AGENT_INTERVAL\): 301000 ms is outside/);
    fails(['--interval', 'soon'], {}, /not a duration like 10s/);
    fails(['--hook', 'kprobe'], {}, /hook \(flag --hook\): "kprobe" must be one of tc, xdp/);
    fails(['--hook', 'tc', '--xdp-mode', 'native'], {}, /xdpMode .* only applies with hook xdp/);
    fails(['--sampling-rate', '0'], {}, /samplingRate .* must be an integer from 1 to 1000000/);
    fails(['--metrics-port', '70000'], {}, /metricsPort .* from 0 to 65535/);
    fails(['--interfaces', 'a b'], {}, /"a b" is not an interface name/);
    fails(['--interfaces', ','], {}, /empty list/);
    fails(['--host-id', 'bad host'], {}, /hostId \(flag --host-id\)/);
    fails(['--spool-max-bytes', '1000'], {}, /below the 1 MiB minimum/);
    fails(['--topic-prefix', 'a/b'], {}, /topicPrefix/);
    fails(
      ['--compression', 'lz4'],
      {},
      /compression \(flag --compression\): "lz4" must be one of none, gzip, snappy, zstd/,
    );
    fails([], { TMA_AGENT_COMPRESSION: 'ZSTD' }, /compression \(env TMA_AGENT_COMPRESSION\): "ZSTD" must be one of/);
    fails(['--no-such-flag'], {}, /Unknown option '--no-such-flag'/);
    fails(['--config', path.join(dir, 'missing.json')], {}, /config file .*missing\.json: ENOENT/);
    fails(['--config', file('{not json')], {}, /config file .*: .*JSON/);
    fails(['--config', file({ intervall: '10s' })], {}, /unknown setting "intervall"/);
    fails(['--config', file([1, 2])], {}, /must hold a JSON object/);
  });
});
