// Receiver packets per second on a veth, side by side in one run: no program; no-op programs on tcx and on native
// XDP (what each hook costs by itself); the TMA program on tcx (ingress + egress) and on native XDP, attached with
// links like the agent does (the data path alone); the real agent on TC and on XDP (data path plus a read every
// second); and `tcpdump -w` capturing. Every round runs every case in rotating order in two set-ups:
//   shared: sender pinned to CPU 0; veth runs the whole receive path in the sender's context on that CPU, so the
//           sender's CPU per frame is the path's cost and the delivered rate is CPU-bound on one core.
//   split:  sender pinned to CPU 0 and paced (--split-pps); the receiving veth in NAPI mode (GRO on, sender TSO
//           off) with threaded NAPI pinned to CPU 1 and interrupt-style coalescing (gro_flush_timeout 200 µs): the
//           receive path, hooks included, runs in that kernel thread in batches, like a NIC's receive queue, and its
//           own run time per frame is the receiver's cost, apart from the sender's. Pacing keeps the batches alike
//           across cases (an unpaced sender sets a different batch size, and so a different per-frame cost, each time).
// Medians over the rounds are reported as ratios to no program.
// Run: bench/pps/run.sh [--rounds 11] [--loops 8] [--pps N] [--split-pps 150000] [--modes shared,split] [--object tma.bpf.o]
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isRoot } from '@tma/kernel/testing';
import { AgentProcess } from '../../tools/testbed/src/agents';
import { Testbed, type Host } from '../../tools/testbed/src/netns';
import { generateTraffic, writeTraffic } from '../../tools/testbed/src/traffic';

// compiled to bench/pps/.build/js/bench/pps/
const REPO = resolve(__dirname, '../../../../../..');
const NOOP_OBJ = join(REPO, 'bench/bpf/.build/noop.bpf.o');
const ATTACH = join(REPO, 'bench/pps/.build/pps-attach');
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const SENDER_CPU = 0;
const RECEIVER_CPU = 1;

type Mode = 'shared' | 'split';

interface Args {
  rounds: number;
  loops: number;
  pps?: number;
  splitPps: number;
  modes: Mode[];
  object: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    rounds: 11,
    loops: 8,
    splitPps: 150_000,
    modes: ['shared', 'split'],
    object: join(REPO, 'bpf/dist/tma.bpf.o'),
  };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (argv[i] === '--rounds') a.rounds = Number(v);
    else if (argv[i] === '--loops') a.loops = Number(v);
    else if (argv[i] === '--pps') a.pps = Number(v);
    else if (argv[i] === '--split-pps') a.splitPps = Number(v);
    else if (argv[i] === '--object') a.object = resolve(v);
    else if (argv[i] === '--modes') {
      a.modes = v.split(',') as Mode[];
      if (a.modes.some((m) => m !== 'shared' && m !== 'split')) throw new Error(`--modes takes shared,split; got ${v}`);
    } else throw new Error(`unknown argument ${argv[i]}`);
  }
  return a;
}

interface Trial {
  sent: number;
  delivered: number;
  seconds: number;
  pps: number;
  /** Sender's CPU per delivered frame, ns (in shared mode it carries the receive path and the hooks). */
  senderNs: number;
  /** Threaded-NAPI receiver's run time per delivered frame, ns (split mode). */
  receiverNs?: number;
  /** Packets the agent's snapshots counted. */
  counted?: number;
  tcpdump?: { captured: number; cpu: number };
  /** The agent process's CPU over the trial, fraction of one core. */
  agentCpu?: number;
}

interface Case {
  name: string;
  setup: (tb: Testbed, h: Host) => Promise<void>;
  teardown: () => Promise<void>;
  tcpdump?: boolean;
  agent?: 'tc' | 'xdp';
  /** the no-op case of the same hook, to split hook cost from program cost */
  hookBase?: string;
}

let args: Args;
let agent: AgentProcess | undefined;
let agentDir = '';
let attached: ChildProcess | undefined;

/** Attaches with pps-attach inside the host's namespace and resolves once the links exist. */
async function attach(
  tb: Testbed,
  h: Host,
  obj: string,
  hook: 'tcx' | 'xdp',
  ...progs: [string] | [string, string]
): Promise<void> {
  // tcx takes the ingress program and optionally the egress one (the agent links tma_tc and tma_tc_eg).
  const child = spawn('nsenter', [...tb.nsenterArgs(h.netns), ATTACH, obj, hook, ...progs, h.ifname], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  attached = child;
  let out = '';
  await new Promise<void>((res, rej) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('attached')) res();
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => rej(new Error(`pps-attach exited with ${code}: ${out.trim()}`)));
  });
}

async function detach(): Promise<void> {
  const child = attached;
  attached = undefined;
  if (!child || child.exitCode !== null) return;
  child.removeAllListeners('exit');
  const done = new Promise<void>((res) => child.on('exit', () => res()));
  child.stdin!.end(); // links go with the process
  await done;
}

async function startAgent(tb: Testbed, h: Host, hook: 'tc' | 'xdp'): Promise<void> {
  rmSync(agentDir, { recursive: true, force: true });
  agent = AgentProcess.start(tb, h, {
    main: join(REPO, 'apps/edge-agent/dist/main.js'),
    interval: '1s',
    hook,
    hostId: `bench-${hook}`,
    stateDir: agentDir,
    extraArgs: ['--stdout', '--metrics-port', '0', '--object', args.object],
  });
  await agent.waitStarted();
}

/** Packets in the agent's snapshots (its --stdout lines). */
function agentCounted(): number {
  let sum = 0;
  let text = '';
  try {
    text = readFileSync(join(agentDir, 'agent.stdout'), 'utf8');
  } catch {
    return 0;
  }
  for (const line of text.split('\n')) {
    if (!line.includes('"totals"')) continue;
    const snap = JSON.parse(line) as { totals?: { packets: number } };
    sum += Number(snap.totals?.packets ?? 0);
  }
  return sum;
}

const cases: Case[] = [
  { name: 'no program', setup: async () => undefined, teardown: async () => undefined },
  { name: 'no-op on tcx', setup: (tb, h) => attach(tb, h, NOOP_OBJ, 'tcx', 'noop_tc'), teardown: detach },
  {
    name: 'TMA on tcx',
    hookBase: 'no-op on tcx',
    setup: (tb, h) => attach(tb, h, args.object, 'tcx', 'tma_tc', 'tma_tc_eg'),
    teardown: detach,
  },
  {
    name: 'TMA agent, TC',
    hookBase: 'no-op on tcx',
    agent: 'tc',
    setup: (tb, h) => startAgent(tb, h, 'tc'),
    teardown: async () => {
      await agent?.stop();
    },
  },
  { name: 'no-op on XDP', setup: (tb, h) => attach(tb, h, NOOP_OBJ, 'xdp', 'noop_xdp'), teardown: detach },
  {
    name: 'TMA on XDP',
    hookBase: 'no-op on XDP',
    setup: (tb, h) => attach(tb, h, args.object, 'xdp', 'tma_xdp'),
    teardown: detach,
  },
  {
    name: 'TMA agent, XDP',
    hookBase: 'no-op on XDP',
    agent: 'xdp',
    setup: (tb, h) => startAgent(tb, h, 'xdp'),
    teardown: async () => {
      await agent?.stop();
    },
  },
  { name: 'tcpdump -w', tcpdump: true, setup: async () => undefined, teardown: async () => undefined },
];

function cpuTicks(pid: number): number {
  // fields after the command name: utime is the 14th, stime the 15th field of /proc/PID/stat
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

/** Scheduler run time of a thread, ns (exact, unlike tick-sampled utime/stime). */
function runNs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
}

/** Kernel threads named napi/<ifname>-<id>: the threaded NAPI pollers. */
function napiThreads(ifname: string): Set<number> {
  const out = new Set<number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim().startsWith(`napi/${ifname}-`)) out.add(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

/** State of the split set-up: the receiver's NAPI thread (and the last one found, as it may outlive a mode switch). */
let napiPid: number | undefined;
let knownNapi: number | undefined;

/** Switches the veth between the two set-ups (see the top of the file). */
function setMode(tb: Testbed, h: Host, mode: Mode): void {
  const sysfs = `/sys/class/net/${h.ifname}`;
  const hostSh = (cmd: string) => execFileSync('ip', ['netns', 'exec', h.netns, 'sh', '-c', cmd], { encoding: 'utf8' });
  if (mode === 'shared') {
    // (writing the flag fails while the device has no NAPI instance, i.e. before split mode ever ran)
    if (hostSh(`cat ${sysfs}/threaded`).trim() !== '0') hostSh(`echo 0 > ${sysfs}/threaded`);
    hostSh(`echo 0 > ${sysfs}/napi_defer_hard_irqs; echo 0 > ${sysfs}/gro_flush_timeout`);
    tb.exec(h.netns, ['ethtool', '-K', h.ifname, 'gro', 'off']);
    tb.exec(tb.switchNs, ['ethtool', '-K', h.peer, 'tso', 'on']);
    napiPid = undefined;
    return;
  }
  // veth hands frames to NAPI only when the receiver has GRO on and the sender does not do TSO
  const before = napiThreads(h.ifname);
  tb.exec(tb.switchNs, ['ethtool', '-K', h.peer, 'tso', 'off']);
  tb.exec(h.netns, ['ethtool', '-K', h.ifname, 'gro', 'on']);
  hostSh(`echo 1 > ${sysfs}/threaded`);
  // coalescing: after a poll the NAPI stays scheduled and polls again 200 µs later instead of being woken per frame
  hostSh(`echo 1000 > ${sysfs}/napi_defer_hard_irqs; echo 200000 > ${sysfs}/gro_flush_timeout`);
  // other namespaces may have an interface of the same name: take the thread that appeared, or the one seen before
  const fresh = [...napiThreads(h.ifname)].filter((p) => !before.has(p));
  const candidates = fresh.length ? fresh : knownNapi && before.has(knownNapi) ? [knownNapi] : [];
  if (candidates.length !== 1)
    throw new Error(`expected one new NAPI thread for ${h.ifname}, found ${candidates.length}`);
  napiPid = knownNapi = candidates[0];
  execFileSync('taskset', ['-p', '-c', String(RECEIVER_CPU), String(napiPid)], { stdio: 'ignore' });
}

async function trial(tb: Testbed, h: Host, c: Case, pcap: string, dir: string, mode: Mode): Promise<Trial> {
  let dump: ReturnType<typeof spawn> | undefined;
  let dumpErr = '';
  if (c.tcpdump) {
    dump = spawn(
      'nsenter',
      [...tb.nsenterArgs(h.netns), 'tcpdump', '-p', '-n', '-i', h.ifname, '-w', join(dir, 'capture.pcap')],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    await new Promise<void>((res, rej) => {
      dump!.stderr!.on('data', (d: Buffer) => {
        dumpErr += d.toString();
        if (dumpErr.includes('listening on')) res();
      });
      dump!.on('exit', (code) => rej(new Error(`tcpdump exited with ${code}: ${dumpErr}`)));
    });
  }
  const before = tb.counters(h);
  const ticks0 = dump ? cpuTicks(dump.pid!) : 0;
  const agentTicks0 = c.agent ? cpuTicks(agent!.pid) : 0;
  const napi0 = napiPid ? runNs(napiPid) : 0;
  const pps = mode === 'split' ? args.splitPps : args.pps;
  const sent = await tb.replay(h, pcap, { pps, loop: args.loops, cpu: SENDER_CPU });
  const napi1 = napiPid ? runNs(napiPid) : 0;
  const after = tb.counters(h);
  const delivered = after.rx.packets - before.rx.packets;
  const t: Trial = {
    sent: sent.packets,
    delivered,
    seconds: sent.seconds,
    pps: delivered / sent.seconds,
    senderNs: ((sent.cpu!.user + sent.cpu!.system) * 1e9) / delivered,
  };
  if (napiPid) t.receiverNs = (napi1 - napi0) / delivered;
  if (c.agent) {
    t.agentCpu = (cpuTicks(agent!.pid) - agentTicks0) / CLK_TCK / sent.seconds;
    await agent!.stop(); // its final snapshot covers the rest of the trial
    t.counted = agentCounted();
  }
  if (dump) {
    await new Promise((r) => setTimeout(r, 300)); // let it drain its ring
    const cpu = (cpuTicks(dump.pid!) - ticks0) / CLK_TCK / sent.seconds;
    dump.removeAllListeners('exit');
    const done = new Promise<void>((res) => dump!.on('exit', () => res()));
    dump.kill('SIGINT');
    await done;
    const captured = Number(/(\d+) packets? captured/.exec(dumpErr)?.[1] ?? NaN);
    t.tcpdump = { captured, cpu };
    rmSync(join(dir, 'capture.pcap'), { force: true });
  }
  return t;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** Interquartile range: how much the rounds disagree. */
const iqr = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(p * (s.length - 1))))];
  return q(0.75) - q(0.25);
};
const fmt = (x: number, d = 3, w = 8) => (Number.isFinite(x) ? x.toFixed(d) : '-').padStart(w);

function report(mode: Mode, results: Map<string, Trial[]>): void {
  const med = (name: string, f: (t: Trial) => number) => median(results.get(name)!.map(f));
  const cost = (t: Trial) => (mode === 'split' ? t.receiverNs! : t.senderNs);
  const basePps = med('no program', (t) => t.pps);
  const baseCost = med('no program', cost);
  const what = mode === 'split' ? 'receiver (NAPI thread)' : 'sender+receiver (one CPU)';
  process.stdout.write(
    `\n[${mode}] cost = ${what} CPU per delivered frame; capacity = no-program cost / case cost (of the medians); ` +
      `paired = median over rounds of the same ratio within each round (rounds share the machine's load)\n` +
      `${'case'.padEnd(16)} ${'rx kpps'.padStart(8)} ${'vs none'.padStart(8)} ${'deliv.'.padStart(7)} ${'cost ns'.padStart(8)} ` +
      `${'IQR'.padStart(4)} ${'+ns'.padStart(5)} ${'hook ns'.padStart(7)} ${'prog ns'.padStart(7)} ${'capacity'.padStart(8)} ${'paired'.padStart(6)}  notes\n`,
  );
  const base = results.get('no program')!;
  for (const c of cases) {
    const ts = results.get(c.name)!;
    const paired = median(ts.map((t, r) => cost(base[r]) / cost(t)));
    const pps = median(ts.map((t) => t.pps));
    const costNs = median(ts.map(cost));
    const delivered = ts.reduce((a, t) => a + t.delivered, 0) / ts.reduce((a, t) => a + t.sent, 0);
    // hook = the no-op's extra cost over none; prog = this case's extra over the no-op of its hook
    const hookNs = c.hookBase ? med(c.hookBase, cost) - baseCost : NaN;
    const progNs = c.hookBase ? costNs - med(c.hookBase, cost) : NaN;
    const notes: string[] = [];
    // paced sender: its CPU is mostly the pacing loop; what matters is how busy the receive thread was
    if (mode === 'split') notes.push(`receive thread busy ${((100 * costNs * pps) / 1e9).toFixed(0)} %`);
    if (c.agent) {
      const exact = ts.every((t) => t.counted === t.delivered);
      notes.push(
        exact
          ? 'agent counted every frame'
          : `agent counted ${ts.map((t) => t.counted).join('/')} of ${ts.map((t) => t.delivered).join('/')}`,
      );
      notes.push(`agent CPU ${(100 * median(ts.map((t) => t.agentCpu!))).toFixed(1)} %`);
    }
    if (c.tcpdump) {
      const frac = median(ts.map((t) => t.tcpdump!.captured / t.delivered));
      notes.push(
        `captured ${(100 * frac).toFixed(1)} %, tcpdump CPU ${(100 * median(ts.map((t) => t.tcpdump!.cpu))).toFixed(0)} %`,
      );
    }
    process.stdout.write(
      `${c.name.padEnd(16)} ${fmt(pps / 1000, 1)} ${fmt(pps / basePps)} ${(100 * delivered).toFixed(1).padStart(6)}% ${fmt(costNs, 0)} ${fmt(iqr(ts.map(cost)), 0, 4)} ` +
        `${fmt(costNs - baseCost, 0, 5)} ${fmt(hookNs, 0, 7)} ${fmt(progNs, 0, 7)} ${fmt(baseCost / costNs)} ${fmt(paired, 3, 6)}  ${notes.join('; ')}\n`,
    );
  }
}

async function main(): Promise<void> {
  args = parseArgs(process.argv.slice(2));
  if (!isRoot()) throw new Error('run as root: the benchmark creates namespaces and attaches programs');
  for (const f of [args.object, NOOP_OBJ, ATTACH])
    if (!existsSync(f)) throw new Error(`${f} is missing (run bench/pps/run.sh)`);
  const dir = mkdtempSync(join(tmpdir(), 'tma-bench-pps-'));
  agentDir = join(dir, 'agent');
  const tb = await Testbed.create({ hosts: 1, queues: 1, stateDir: join(REPO, '.state') });
  const h = tb.hosts[0];
  try {
    const traffic = generateTraffic({ seed: 42, flows: 2000, packets: 50_000 });
    const { pcap } = writeTraffic(traffic, join(dir, 'traffic'));
    const frames = traffic.truth.packets * args.loops;
    const avgLen = traffic.truth.bytes / traffic.truth.packets;
    process.stdout.write(
      `traffic: ${traffic.truth.packets} frames × ${args.loops} loops = ${frames} per trial, mean frame ${avgLen.toFixed(0)} B, ` +
        `${traffic.truth.distinct.flows} flows; tcpreplay --${args.pps ? `pps ${args.pps}` : 'topspeed'} (split: --pps ${args.splitPps}) on CPU ${SENDER_CPU} into one veth; ` +
        `${args.rounds} rounds × modes ${args.modes.join(', ')}; object ${args.object}\n`,
    );
    const results = new Map<Mode, Map<string, Trial[]>>(
      args.modes.map((m) => [m, new Map(cases.map((c) => [c.name, []]))]),
    );
    for (let r = 0; r < args.rounds; r++) {
      for (let mi = 0; mi < args.modes.length; mi++) {
        const mode = args.modes[(mi + r) % args.modes.length];
        setMode(tb, h, mode);
        for (let k = 0; k < cases.length; k++) {
          const c = cases[(k + r) % cases.length];
          await c.setup(tb, h);
          try {
            results
              .get(mode)!
              .get(c.name)!
              .push(await trial(tb, h, c, pcap, dir, mode));
          } finally {
            await c.teardown();
          }
        }
        const last = (n: string) => results.get(mode)!.get(n)!.at(-1)!;
        process.stdout.write(
          `round ${r + 1}/${args.rounds} ${mode}: ` +
            cases
              .map(
                (c) =>
                  `${c.name} ${(last(c.name).pps / 1000).toFixed(0)}k/${(mode === 'split' ? last(c.name).receiverNs! : last(c.name).senderNs).toFixed(0)}ns`,
              )
              .join(', ') +
            '\n',
        );
      }
    }
    for (const m of args.modes) report(m, results.get(m)!);
  } finally {
    await detach().catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    tb.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench/pps: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
