// The one loader: precedence flag > environment > file > default, every problem listed at once, named by source.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadSettings, optional, rules, setting } from './index';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tma-config-loader-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const file = (content: unknown) => {
  const f = path.join(dir, `c${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(f, JSON.stringify(content));
  return f;
};

const SETTINGS = {
  interval: setting({ env: 'T_INTERVAL', flag: 'interval', schema: rules.duration({ min: 1000 }), default: 10_000 }),
  port: setting({ env: 'T_PORT', flag: 'port', schema: rules.integer({ min: 0, max: 65535 }), default: 8080 }),
  mode: setting<'a' | 'b'>({ env: 'T_MODE', flag: 'mode', schema: rules.oneOf(['a', 'b']), default: 'a' }),
  verbose: setting({ env: 'T_VERBOSE', flag: 'verbose', switch: true, schema: rules.boolean(), default: false }),
};
const load = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
  loadSettings(SETTINGS, { argv, env, switches: ['help'], file: { flag: 'config', env: 'T_CONFIG' } });

describe('loadSettings', () => {
  it('takes a flag over the environment over the file over the default', () => {
    const f = file({ interval: '30s', port: 1, mode: 'b' });
    expect(load([]).values).toEqual({ interval: 10_000, port: 8080, mode: 'a', verbose: false });
    expect(load(['--config', f]).values).toMatchObject({ interval: 30_000, port: 1, mode: 'b' });
    const both = load(['--config', f, '--port', '3'], { T_PORT: '2', T_INTERVAL: '1m' });
    expect(both.values).toMatchObject({ interval: 60_000, port: 3, mode: 'b' });
    expect(both.from).toEqual({ interval: 'env T_INTERVAL', port: 'flag --port', mode: `file ${f}` });
    expect(load([], { T_CONFIG: f }).values.port).toBe(1);
    expect(load(['--verbose', '--help']).values.verbose).toBe(true);
    expect(load(['--help']).switches).toEqual({ help: true });
  });

  it('counts a blank variable as unset', () => {
    expect(load([], { T_PORT: '  ', T_MODE: '' }).values).toMatchObject({ port: 8080, mode: 'a' });
  });

  it('lists every problem in one ConfigError, each named by setting and source', () => {
    let error: unknown;
    try {
      load(['--port', '70000', '--config', file({ mode: 'c', colour: 'red' })], { T_INTERVAL: 'soon' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const lines = (error as ConfigError).message.split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^config file .*: unknown setting "colour" \(known: interval, port, mode, verbose\)$/),
        'interval (env T_INTERVAL): "soon" is not a duration like 10s, 500ms, 2m, 12h or 7d',
        'port (flag --port): "70000" must be an integer from 0 to 65535',
        expect.stringMatching(/^mode \(file .*\): "c" must be one of a, b$/),
      ]),
    );
    expect(lines).toHaveLength(4);
    expect((error as ConfigError).problems).toHaveLength(4);
  });

  it('names environment-only settings by their variable and runs cross-setting checks', () => {
    const settings = {
      a: optional('T_A', rules.integer({ min: 1, max: 9 })),
      b: optional('T_B', rules.text()),
    };
    const run = (env: NodeJS.ProcessEnv) =>
      loadSettings(settings, { env }, ({ values }, report) => {
        if (values.a !== undefined && values.b === undefined) report('T_B', 'is needed with T_A');
      });
    expect(run({ T_A: '3', T_B: ' x ' }).values).toEqual({ a: 3, b: 'x' });
    expect(run({}).values).toEqual({ a: undefined, b: undefined });
    expect(() => run({ T_A: '0' })).toThrow('T_A: "0" must be an integer from 1 to 9');
    expect(() => run({ T_A: '2' })).toThrow(/^T_B: is needed with T_A$/);
  });

  it('refuses unknown flags and unreadable files', () => {
    expect(() => load(['--nope'])).toThrow(/Unknown option '--nope'/);
    expect(() => load(['--config', path.join(dir, 'missing.json')])).toThrow(/config file .*missing\.json: ENOENT/);
    expect(() => load(['--config', file([1])])).toThrow(/must hold a JSON object/);
  });
});
