// Testbed hosts as network namespaces on one machine:
//
//   netns <prefix>-<id>-sw (the "switch")          netns <prefix>-<id>-h1 ... -hN (the hosts)
//   +------------------------------------+         +-----------------------------------+
//   | br0 (no address, IPv6 off, STP off)|         | eth0 10.200.0.i/24, fd00:200::i/64 |
//   |   p1 ... pN  <---- veth pairs ---->|-------->| lo (the agent's Kafka relay)       |
//   +------------------------------------+         +-----------------------------------+
//
// Everything lives inside namespaces this run created (nothing is added to the root namespace), so deleting the
// namespaces removes every interface with them. Traffic is injected on pI, the switch side of host I's veth, so it
// arrives at the host's eth0 exactly as in the pcap. Hosts are kept silent (no DAD, router solicitations, RA; frames
// addressed to a foreign MAC are dropped after the hooks instead of answered) so an interface sees only what is sent.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { forgetCleanup, onCleanup } from './cleanup';

export interface TestbedOptions {
  hosts: number;
  /** Namespace name prefix (default "tma"); names are <prefix>-<random id>-sw / -h<i>. */
  prefix?: string;
  /** Queues per veth (default 2, one per sender CPU: native XDP on veth drops at a single full ring). */
  queues?: number;
  /** Where the run registry lives (default $TMA_STATE_DIR or <repo>/.state, under testbed/). */
  stateDir?: string;
  /** Milliseconds to let link-up chatter (MLD reports) pass before the testbed is handed out (default 1500). */
  settleMs?: number;
}

export interface Host {
  index: number;
  /** Network namespace name. */
  netns: string;
  netnsPath: string;
  /** The host's interface (inside its namespace). */
  ifname: string;
  /** Switch-side peer of the host's veth (inside the switch namespace): where traffic is injected. */
  peer: string;
  mac: string;
  ipv4: string;
  ipv6: string;
}

export interface LinkCounters {
  rx: { packets: number; bytes: number; dropped: number };
  tx: { packets: number; bytes: number; dropped: number };
}

export interface ReplayOptions {
  /** Packets per second; default: as fast as possible (--topspeed). */
  pps?: number;
  /** Times to send the file (default 1). */
  loop?: number;
  /** Pin the sender to this CPU. On veth the receive path (and so the hooks) runs on the sender's CPU, so this
   *  also decides which CPU's per-CPU sketches count the packets. */
  cpu?: number;
}

/** CPU seconds tcpreplay used. On veth the receiver's softirq work runs in the sender's context and, without
 *  IRQ time accounting, is charged to the sender: this is the per-packet cost of the whole path. */
export interface ReplayCpu {
  user: number;
  system: number;
}

export interface ReplayResult {
  packets: number;
  bytes: number;
  failed: number;
  seconds: number;
  pps: number;
  cpu?: ReplayCpu;
}

interface Registry {
  pid: number;
  created: string;
  namespaces: string[];
}

const REPO_ROOT = resolve(__dirname, '../../..');

export function defaultStateDir(): string {
  return process.env.TMA_STATE_DIR ?? join(REPO_ROOT, '.state');
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function deleteNetns(name: string): void {
  if (!existsSync(`/run/netns/${name}`)) return;
  try {
    execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore' });
  } catch {
    // already gone between the check and the delete
  }
}

/** Tools the testbed runs; returns the missing ones with the package that brings each. */
export function missingTools(tools: string[] = ['ip', 'nsenter', 'taskset', 'tcpreplay', 'ethtool']): string[] {
  const pkg: Record<string, string> = {
    taskset: 'util-linux',
    ip: 'iproute2',
    nsenter: 'util-linux',
    tcpreplay: 'tcpreplay',
    ethtool: 'ethtool',
    tcpdump: 'tcpdump',
  };
  return tools
    .filter((t) => {
      try {
        execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
        return false;
      } catch {
        return true;
      }
    })
    .map((t) => `${t} (apt-get install ${pkg[t] ?? t})`);
}

/**
 * Removes namespaces left by earlier runs whose process died without cleaning up (SIGKILL, power loss). Only names
 * listed in those runs' own registries are touched.
 */
export function reapStaleRuns(stateDir = defaultStateDir()): string[] {
  const dir = join(stateDir, 'testbed', 'runs');
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    const path = join(dir, f);
    let reg: Registry;
    try {
      reg = JSON.parse(readFileSync(path, 'utf8')) as Registry;
    } catch {
      continue;
    }
    if (reg.pid === process.pid || pidAlive(reg.pid)) continue;
    for (const ns of reg.namespaces) {
      if (existsSync(`/run/netns/${ns}`)) {
        deleteNetns(ns);
        removed.push(ns);
      }
    }
    rmSync(path, { force: true });
  }
  return removed;
}

export class Testbed {
  readonly id: string;
  readonly switchNs: string;
  readonly hosts: Host[] = [];
  private readonly created: string[] = [];
  private readonly registryPath: string;
  private destroyed = false;

  private constructor(readonly options: Required<TestbedOptions>) {
    this.id = randomBytes(3).toString('hex');
    this.switchNs = `${options.prefix}-${this.id}-sw`;
    this.registryPath = join(options.stateDir, 'testbed', 'runs', `${options.prefix}-${this.id}.json`);
  }

  /** Creates the switch and N hosts; on any failure removes what it had made and rethrows. Needs root. */
  static async create(opts: TestbedOptions): Promise<Testbed> {
    const o: Required<TestbedOptions> = {
      hosts: opts.hosts,
      prefix: opts.prefix ?? 'tma',
      queues: opts.queues ?? 2,
      stateDir: opts.stateDir ?? defaultStateDir(),
      settleMs: opts.settleMs ?? 1500,
    };
    if (!Number.isInteger(o.hosts) || o.hosts < 1 || o.hosts > 250)
      throw new RangeError(`hosts must be in 1..250, got ${opts.hosts}`);
    if (!/^[a-z][a-z0-9]{0,7}$/.test(o.prefix))
      throw new RangeError(`prefix must be 1-8 lowercase letters/digits, got ${o.prefix}`);
    if (process.getuid?.() !== 0) throw new Error('the testbed creates network namespaces: run it as root');
    const missing = missingTools();
    if (missing.length) throw new Error(`missing tools: ${missing.join(', ')}`);
    reapStaleRuns(o.stateDir);

    const tb = new Testbed(o);
    onCleanup({ name: `netns ${tb.switchNs}`, run: () => tb.destroy(), runSync: () => tb.destroy() });
    try {
      tb.build();
    } catch (err) {
      tb.destroy();
      throw err;
    }
    await new Promise((r) => setTimeout(r, o.settleMs));
    return tb;
  }

  private addNetns(name: string): void {
    // record before creating, so a failure halfway still gets it removed
    this.created.push(name);
    this.saveRegistry();
    run('ip', ['netns', 'add', name]);
  }

  private saveRegistry(): void {
    mkdirSync(join(this.options.stateDir, 'testbed', 'runs'), { recursive: true });
    const reg: Registry = { pid: process.pid, created: new Date().toISOString(), namespaces: this.created };
    writeFileSync(this.registryPath, `${JSON.stringify(reg)}\n`);
  }

  private build(): void {
    const { hosts, queues } = this.options;
    const q = String(queues);
    this.addNetns(this.switchNs);
    this.sysctl(this.switchNs, ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    run('ip', ['-n', this.switchNs, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0']);
    run('ip', ['-n', this.switchNs, 'link', 'set', 'br0', 'up']);

    for (let i = 1; i <= hosts; i++) {
      const netns = `${this.options.prefix}-${this.id}-h${i}`;
      const host: Host = {
        index: i,
        netns,
        netnsPath: `/run/netns/${netns}`,
        ifname: 'eth0',
        peer: `p${i}`,
        mac: `02:74:6d:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
        ipv4: `10.200.0.${i}`,
        ipv6: `fd00:200::${i.toString(16)}`,
      };
      this.addNetns(netns);
      // silence before the interface exists: defaults apply to interfaces created afterwards
      this.sysctl(
        netns,
        ['accept_dad=0', 'router_solicitations=0', 'accept_ra=0', 'addr_gen_mode=1'].flatMap((kv) => [
          `net.ipv6.conf.default.${kv}`,
          `net.ipv6.conf.all.${kv}`,
        ]),
      );
      run('ip', [
        '-n',
        this.switchNs,
        'link',
        'add',
        host.peer,
        'numtxqueues',
        q,
        'numrxqueues',
        q,
        'type',
        'veth',
        'peer',
        'name',
        host.ifname,
        'address',
        host.mac,
        'netns',
        netns,
        'numtxqueues',
        q,
        'numrxqueues',
        q,
      ]);
      run('ip', ['-n', this.switchNs, 'link', 'set', host.peer, 'master', 'br0', 'up']);
      run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
      run('ip', ['-n', netns, 'addr', 'add', `${host.ipv4}/24`, 'dev', host.ifname]);
      run('ip', ['-n', netns, 'addr', 'add', `${host.ipv6}/64`, 'dev', host.ifname, 'nodad']);
      run('ip', ['-n', netns, 'link', 'set', host.ifname, 'up']);
      if (queues > 1) {
        this.exec(netns, ['ethtool', '-L', host.ifname, 'rx', q, 'tx', q]);
        this.exec(this.switchNs, ['ethtool', '-L', host.peer, 'rx', q, 'tx', q]);
      }
      this.hosts.push(host);
    }
  }

  private sysctl(netns: string, settings: string[]): void {
    this.exec(netns, ['sysctl', '-q', '-w', ...settings]);
  }

  /** Runs a command inside a namespace of this testbed (nsenter keeps the root mount namespace: BPF pins stay visible). */
  exec(netns: string, argv: string[]): string {
    this.own(netns);
    return run('nsenter', [`--net=/run/netns/${netns}`, '--', ...argv]);
  }

  /** argv prefix that runs a program inside a namespace of this testbed. */
  nsenterArgs(netns: string): string[] {
    this.own(netns);
    return [`--net=/run/netns/${netns}`, '--'];
  }

  private own(netns: string): void {
    if (netns !== this.switchNs && !this.hosts.some((h) => h.netns === netns) && !this.created.includes(netns)) {
      throw new Error(`${netns} is not a namespace of this testbed`);
    }
  }

  /** Kernel counters of a host's interface. */
  counters(host: Host): LinkCounters {
    const j = JSON.parse(run('ip', ['-n', host.netns, '-s', '-j', 'link', 'show', 'dev', host.ifname])) as Array<{
      stats64: {
        rx: { packets: number; bytes: number; dropped: number };
        tx: { packets: number; bytes: number; dropped: number };
      };
    }>;
    const s = j[0].stats64;
    return {
      rx: { packets: s.rx.packets, bytes: s.rx.bytes, dropped: s.rx.dropped },
      tx: { packets: s.tx.packets, bytes: s.tx.bytes, dropped: s.tx.dropped },
    };
  }

  /** Sends a pcap into the host's eth0 from the switch side of its veth (tcpreplay; no qdisc bypass). */
  replay(host: Host, pcap: string, opts: ReplayOptions = {}): Promise<ReplayResult> {
    const rate = opts.pps ? ['--pps', String(opts.pps)] : ['--topspeed'];
    // bash's `times` reports the CPU time of its finished children: tcpreplay's, including softirq work it carried
    const args = [
      ...this.nsenterArgs(this.switchNs),
      ...(opts.cpu !== undefined ? ['taskset', '-c', String(opts.cpu)] : []),
      'bash',
      '-c',
      'tcpreplay "$@"; rc=$?; times; exit $rc',
      'tcpreplay',
      '-i',
      host.peer,
      ...rate,
      '--loop',
      String(opts.loop ?? 1),
      pcap,
    ];
    return new Promise((resolveP, reject) => {
      const child = spawn('nsenter', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code !== 0) return reject(new Error(`tcpreplay exited with ${code}: ${out.trim()}`));
        try {
          resolveP(parseTcpreplay(out));
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  /** Deletes every namespace this testbed created (their interfaces go with them). Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const ns of [...this.created].reverse()) deleteNetns(ns);
    rmSync(this.registryPath, { force: true });
    forgetCleanup(`netns ${this.switchNs}`);
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }
}

/** Reads tcpreplay's summary ("Actual: N packets (B bytes) sent in S seconds", "Failed packets: F"). */
export function parseTcpreplay(out: string): ReplayResult {
  const actual = /Actual:\s+(\d+) packets \((\d+) bytes\) sent in ([\d.]+) seconds/.exec(out);
  if (!actual) throw new Error(`unexpected tcpreplay output: ${out.trim()}`);
  const failed = /Failed packets:\s+(\d+)/.exec(out);
  const packets = Number(actual[1]);
  const seconds = Number(actual[3]);
  const r: ReplayResult = {
    packets,
    bytes: Number(actual[2]),
    failed: failed ? Number(failed[1]) : 0,
    seconds,
    pps: seconds > 0 ? packets / seconds : 0,
  };
  // `times` prints the shell's own user/system times, then its children's: "0m0.512s 0m1.234s"
  const times = [...out.matchAll(/^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/gm)];
  if (times.length > 0) {
    const t = times[times.length - 1];
    r.cpu = { user: Number(t[1]) * 60 + Number(t[2]), system: Number(t[3]) * 60 + Number(t[4]) };
  }
  return r;
}

/** Names of every network namespace currently present (for tests that check nothing is left behind). */
export function listNetns(): string[] {
  if (!existsSync('/run/netns')) return [];
  return readdirSync('/run/netns');
}
