// The testbed CLI's argument handling: defaults, validation with the flag named.
import { parseArgs } from './main';

describe('testbed CLI arguments', () => {
  it('has the main-job defaults and takes every flag', () => {
    const d = parseArgs([]);
    expect(d).toMatchObject({
      hosts: 2,
      intervalMs: 5000,
      interval: '5s',
      flows: 2000,
      packets: 20_000,
      agent: true,
      agentArgs: [],
    });
    const o = parseArgs([
      '--hosts',
      '3',
      '--interval',
      '1s',
      '--hook',
      'xdp',
      '--flows',
      '100',
      '--packets',
      '1000',
      '--zipf',
      '1.3',
      '--pps',
      '50000',
      '--duration',
      '30s',
      '--seed',
      '7',
      '--no-agent',
      '--agent',
      '/x/main.js',
      '--agent-arg',
      '--topic-prefix',
      '--agent-arg',
      'lab',
      '--keep-pcaps',
      '--restart-agents',
      '--attacks',
    ]);
    expect(o).toEqual({
      hosts: 3,
      intervalMs: 1000,
      interval: '1s',
      hook: 'xdp',
      flows: 100,
      packets: 1000,
      zipf: 1.3,
      pps: 50_000,
      durationMs: 30_000,
      seed: 7,
      agent: false,
      agentMain: '/x/main.js',
      agentArgs: ['--topic-prefix', 'lab'],
      keepPcaps: true,
      restartAgents: true,
      attacks: true,
    });
  });

  it('refuses bad values naming the flag', () => {
    expect(() => parseArgs(['--hosts', '0'])).toThrow(/--hosts needs an integer in 1..250/);
    expect(() => parseArgs(['--hook', 'kprobe'])).toThrow(/--hook is tc or xdp/);
    expect(() => parseArgs(['--flows', '5000', '--packets', '100'])).toThrow(
      /--packets \(100\) must be at least --flows \(5000\)/,
    );
    expect(() => parseArgs(['--interval'])).toThrow(/--interval needs a value/);
    expect(() => parseArgs(['--bogus'])).toThrow(/unknown argument --bogus/);
  });
});
