// The agent's edges in time, as the CLI runs: the last interval at shutdown is long enough to be accepted, and a
// SIGTERM at any point of the start-up leaves nothing attached and exits cleanly (root, a veth pair of its own).
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { OBJECT_PATH, rootDescribe } from '@tma/kernel/testing';
import { INTERVAL_MIN_MS } from '@tma/sketch';
import { Agent } from './agent';
import { loadConfig } from './config';
import type { Logger } from './log';
import { agentArgs, startCli } from './test-support/cli';
import { vethSuite } from './test-support/suite';
import { closedPort } from './test-support/kafka';

const run = rootDescribe('edge-agent lifecycle tests');

run('edge agent start and stop', () => {
  const { ns, dir } = vethSuite('tma-ea-life-');

  afterAll(() => ns.destroy());

  /** What is attached to the interface, from the kernel's own view (tcx links, tc filters, XDP). */
  const attached = (): string =>
    [
      execFileSync('bpftool', ['net', 'show', 'dev', ns.outer], { encoding: 'utf8' }),
      execFileSync('tc', ['filter', 'show', 'dev', ns.outer, 'ingress'], { encoding: 'utf8' }),
      execFileSync('tc', ['filter', 'show', 'dev', ns.outer, 'egress'], { encoding: 'utf8' }),
    ].join('\n');

  it('stopped right after an interval boundary, the final interval is still at least the minimum length', async () => {
    const cli = startCli(agentArgs(ns.outer, '1s', dir()));
    await cli.waitFor('agent_started');
    while (!cli.stdout().includes('\n')) await sleep(5); // the first interval just ended
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    const snaps = cli
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { intervalStartMs: number; intervalEndMs: number; sequence: number });
    expect(snaps.length).toBeGreaterThanOrEqual(2);
    const last = snaps.at(-1)!;
    expect(last.intervalEndMs - last.intervalStartMs).toBeGreaterThanOrEqual(INTERVAL_MIN_MS);
    expect(last.intervalStartMs).toBe(snaps.at(-2)!.intervalEndMs);
  }, 60_000);

  it('a stop() while start() is under way waits for it and undoes all of it: nothing attached, /metrics closed', async () => {
    for (const mode of ['stdout', 'kafka']) {
      const metricsPort = await closedPort();
      const args = ['--interfaces', ns.outer, '--interval', '1s', '--spool-dir', dir(), '--tc-attach', 'netlink'];
      const { config } = loadConfig([...args, '--metrics-port', String(metricsPort)], {});
      const levels: string[] = [];
      const log: Logger = (level, event) => levels.push(`${level} ${event}`);
      const agent = new Agent(
        { ...config, objectPath: OBJECT_PATH, stdout: mode === 'stdout' },
        { log, out: () => undefined, env: { TMA_KAFKA_BROKERS: `127.0.0.1:${await closedPort()}` } },
      );
      const started = agent.start(); // runs up to its first await (the /metrics listener) and is suspended there
      const stopped = agent.stop(100);
      await started;
      await stopped;
      expect(attached()).not.toMatch(/tma_/);
      expect(agent.attachments).toEqual([]);
      await expect(fetch(`http://127.0.0.1:${metricsPort}/metrics`)).rejects.toThrow();
      expect(levels.filter((l) => l.startsWith('error'))).toEqual([]);
      expect(levels).toContain('info agent_stopped');
    }
  }, 60_000);

  for (const mode of ['stdout', 'kafka']) {
    for (const afterMs of [0, 100, 300, 600, 900]) {
      it(`SIGTERM ${afterMs} ms into the start-up (${mode}, tcx and netlink) leaves nothing attached`, async () => {
        for (const tcAttach of ['auto', 'netlink']) {
          const args = ['--interfaces', ns.outer, '--interval', '1s', '--spool-dir', dir(), '--tc-attach', tcAttach];
          if (mode === 'stdout') args.push('--stdout');
          const cli = startCli([...args, '--metrics-port', String(await closedPort())], [], {
            TMA_KAFKA_BROKERS: `127.0.0.1:${await closedPort()}`,
          });
          await sleep(afterMs);
          cli.child.kill('SIGTERM');
          const code = await cli.exited;
          expect([0, 143]).toContain(code);
          expect(cli.stderr()).not.toMatch(/"level":"(error|fatal)"|"level":50|"level":60/);
          expect(attached()).not.toMatch(/tma_/);
        }
      }, 60_000);
    }
  }
});
