// Edge agents inside testbed hosts: each runs under `nsenter --net` (not `ip netns exec`, which remounts /sys and
// hides the BPF pins under /sys/fs/bpf), with its own host id, state directory and log file, and is stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { forgetCleanup, onCleanup } from './cleanup';
import type { Host, Testbed } from './netns';

export interface AgentOptions {
  /** The agent's entry point (default: the built edge agent, apps/edge-agent/dist/main.js). */
  main?: string;
  /** Interval flag value, e.g. "1s" or "5s". */
  interval: string;
  hook?: 'tc' | 'xdp';
  hostId: string;
  /** State directory of this agent (spool and anything else it keeps); created if missing. */
  stateDir: string;
  /** Extra flags passed as they are. */
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

/** The built edge agent's entry point; this file is in tools/testbed/src or tools/testbed/dist alike. */
export function defaultAgentMain(): string {
  return resolve(__dirname, '..', '..', '..', 'apps', 'edge-agent', 'dist', 'main.js');
}

export class AgentProcess {
  /** The agent's log (its stderr: JSON log lines). */
  readonly log: string;
  /** Its stdout, kept apart so large --stdout snapshot lines never interleave with log lines. */
  readonly stdout: string;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly exited: Promise<void>;

  private constructor(
    readonly host: Host,
    readonly hostId: string,
    private readonly child: ChildProcess,
    log: string,
    stdoutPath: string,
  ) {
    this.log = log;
    this.stdout = stdoutPath;
    this.exited = new Promise((res) =>
      child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        res();
      }),
    );
  }

  static start(tb: Testbed, host: Host, o: AgentOptions): AgentProcess {
    const main = o.main ?? defaultAgentMain();
    if (!existsSync(main))
      throw new Error(`agent entry point ${main} does not exist: build the edge agent first (./tma setup)`);
    mkdirSync(o.stateDir, { recursive: true });
    const log = join(o.stateDir, 'agent.log');
    const stdoutPath = join(o.stateDir, 'agent.stdout');
    // the agent writes straight into the files (no pipe through this process): nothing it writes just before
    // exiting can be lost, and its output survives the testbed
    const err = openSync(log, 'a');
    const out = openSync(stdoutPath, 'a');
    const args = [
      ...tb.nsenterArgs(host.netns),
      process.execPath,
      main,
      '--interfaces',
      host.ifname,
      '--interval',
      o.interval,
      '--host-id',
      o.hostId,
      ...(o.hook ? ['--hook', o.hook] : []),
      ...(o.extraArgs ?? []),
    ];
    // nsenter execs the agent after entering the namespace, so the child's PID is the agent's own
    let child: ChildProcess;
    try {
      child = spawn('nsenter', args, {
        stdio: ['ignore', out, err],
        env: { ...process.env, TMA_STATE_DIR: o.stateDir, ...o.env },
      });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    const agent = new AgentProcess(host, o.hostId, child, log, stdoutPath);
    onCleanup({ name: agent.cleanupName, run: () => agent.stop(), runSync: () => agent.kill('SIGKILL') });
    return agent;
  }

  private get cleanupName(): string {
    return `agent ${this.hostId} pid ${this.child.pid}`;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  get exit(): { code: number | null; signal: NodeJS.Signals | null } | null {
    return this.exitInfo;
  }

  private kill(sig: NodeJS.Signals): void {
    if (this.exitInfo === null && this.child.pid) {
      try {
        process.kill(this.child.pid, sig);
      } catch {
        // exited in between
      }
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    forgetCleanup(this.cleanupName);
    if (this.exitInfo !== null) return;
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /**
   * Resolves once the agent logged `agent_started` (attached, counting); rejects if it exits first or takes longer
   * than `timeoutMs`. Traffic sent before this is not in its snapshots.
   */
  async waitStarted(timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      let text = '';
      try {
        text = readFileSync(this.log, 'utf8');
      } catch {
        // not created yet
      }
      if (text.includes('"event":"agent_started"')) return;
      if (this.exitInfo !== null)
        throw new Error(
          `agent ${this.hostId} exited (${JSON.stringify(this.exitInfo)}) before starting:\n${text.slice(-2000)}`,
        );
      if (Date.now() > end)
        throw new Error(`agent ${this.hostId} did not start within ${timeoutMs} ms:\n${text.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Resolves when the process exits (for callers that want to notice crashes). */
  whenExited(): Promise<void> {
    return this.exited;
  }
}
