// The agent's CLI as users run it (the built dist/main.js), with its stdout, its JSON log lines and its exit code.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
export const MAIN = path.join(ROOT, 'apps', 'edge-agent', 'dist', 'main.js');

export interface Cli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** every JSON log line so far */
  events: () => Record<string, unknown>[];
  exited: Promise<number | null>;
  /** resolves with the first log line whose event is `event` */
  waitFor: (event: string, timeoutMs?: number) => Promise<Record<string, unknown>>;
}

/**
 * Starts the CLI; `prefix` runs it under another command (e.g. nsenter), `env` is added to this process's, `main`
 * is the script node runs (a wrapper of main.js in fault tests).
 */
export function startCli(args: string[], prefix: string[] = [], env: NodeJS.ProcessEnv = {}, main = MAIN): Cli {
  const cmd = prefix.length ? prefix[0] : process.execPath;
  const argv = prefix.length ? [...prefix.slice(1), process.execPath, main, ...args] : [main, ...args];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) =>
    child.on('exit', (code, signal) => r(code ?? (signal ? 128 + signalNumber(signal) : null))),
  );
  const events = () =>
    err
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const waitFor = async (event: string, timeoutMs = 30_000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const e = events().find((x) => x.event === event);
      if (e) return e;
      if (Date.now() > until || child.exitCode !== null) throw new Error(`no ${event} event; stderr:\n${err}`);
      await sleep(50);
    }
  };
  return { child, stdout: () => out, stderr: () => err, events, exited, waitFor };
}

const signalNumber = (s: NodeJS.Signals) => ({ SIGTERM: 15, SIGKILL: 9, SIGINT: 2 })[s as string] ?? 0;

/**
 * The arguments the specs start the agent with: one interface, the interval, snapshots on stdout, no metrics
 * listener, a spool of its own; then `more` (e.g. '--pin-dir', 'off').
 */
export function agentArgs(iface: string, interval: string, spool: string, ...more: string[]): string[] {
  return [
    '--interfaces',
    iface,
    '--interval',
    interval,
    '--stdout',
    '--metrics-port',
    '0',
    '--spool-dir',
    spool,
    ...more,
  ];
}
