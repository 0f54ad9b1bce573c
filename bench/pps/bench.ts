// Receiver packets per second on a veth, side by side in one run: no program, the TMA program on TC clsact
// (ingress + egress) and as native XDP attached by bpftool (the data path alone), the real agent on TC and on XDP
// (data path plus its reads every second), an XDP_PASS no-op (the cost of veth's XDP mode itself), and
// `tcpdump -w` capturing. Each case runs in every round, in rotating order; medians are reported as
// ratios to the no-program baseline, with tcpdump's captured fraction and CPU.
// Run: bench/pps/run.sh [--rounds 5] [--loops 8] [--pps N]   (root)
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AgentProcess } from '../../apps/edge-agent/src/testbed/agents';
import { Testbed, type Host } from '../../apps/edge-agent/src/testbed/netns';
import { generateTraffic, writeTraffic } from '../../apps/edge-agent/src/testbed/traffic';

// compiled to bench/pps/.build/js/bench/pps/
const REPO = resolve(__dirname, '../../../../../..');
const TMA_OBJ = join(REPO, 'bpf/dist/tma.bpf.o');
const NOOP_OBJ = join(REPO, 'bench/bpf/.build/noop.bpf.o');
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

interface Args {
  rounds: number;
  loops: number;
  pps?: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { rounds: 5, loops: 8 };
  for (let i = 0; i < argv.length; i++) {
    const v = Number(argv[i + 1]);
    if (argv[i] === '--rounds') a.rounds = v;
    else if (argv[i] === '--loops') a.loops = v;
    else if (argv[i] === '--pps') a.pps = v;
    else throw new Error(`unknown argument ${argv[i]}`);
    i++;
  }
  return a;
}

interface Trial {
  sent: number;
  delivered: number;
  seconds: number;
  pps: number;
  /** Packets the TMA program counted (its totals map), when attached. */
  counted?: number;
  /** CPU time of the sender per delivered frame, ns: on veth it carries the receive path and the hooks. */
  cpuNsPerPacket: number;
  tcpdump?: { captured: number; cpu: number };
  /** The agent process's CPU over the trial, fraction of one core. */
  agentCpu?: number;
}

interface Case {
  name: string;
  setup: (tb: Testbed, h: Host) => void | Promise<void>;
  teardown: (tb: Testbed, h: Host) => void | Promise<void>;
  tcpdump?: boolean;
  counts?: boolean;
  /** Runs the real agent (--stdout, 1 s interval); its snapshots' totals are the count. */
  agent?: 'tc' | 'xdp';
}

let agent: AgentProcess | undefined;
let agentDir = '';

async function startAgent(tb: Testbed, h: Host, hook: 'tc' | 'xdp'): Promise<void> {
  rmSync(agentDir, { recursive: true, force: true });
  agent = AgentProcess.start(tb, h, {
    main: join(REPO, 'apps/edge-agent/dist/main.js'),
    interval: '1s',
    hook,
    hostId: `bench-${hook}`,
    stateDir: agentDir,
    extraArgs: ['--stdout', '--metrics-port', '0'],
  });
  await agent.waitStarted();
}

function readLog(file = 'agent.log'): string {
  try {
    return readFileSync(join(agentDir, file), 'utf8');
  } catch {
    return '';
  }
}

/** Packets in the agent's snapshots (its --stdout lines). */
function agentCounted(): number {
  let sum = 0;
  for (const line of readLog('agent.stdout').split('\n')) {
    if (!line.includes('"totals"')) continue;
    const snap = JSON.parse(line) as { totals?: { packets: number } };
    sum += Number(snap.totals?.packets ?? 0);
  }
  return sum;
}

const pinDir = `/sys/fs/bpf/tma-bench-pps-${process.pid}`;

function bpftool(args: string[]): string {
  return execFileSync('bpftool', args, { encoding: 'utf8' });
}

/** Sum over CPUs of the first u64 (packets) of tma_totals[copy 0]: the program never flips epochs here. */
function countedPackets(): number {
  const j = JSON.parse(bpftool(['-j', 'map', 'lookup', 'pinned', `${pinDir}/tma/maps/tma_totals`, 'key', '0', '0', '0', '0'])) as {
    values: Array<{ value: string[] }>;
  };
  let sum = 0;
  for (const v of j.values) sum += Number(Buffer.from(v.value.slice(0, 8).map((x) => parseInt(x, 16))).readBigUInt64LE(0));
  return sum;
}

function loadTma(): void {
  rmSync(`${pinDir}/tma`, { recursive: true, force: true });
  mkdirSync(pinDir, { recursive: true });
  bpftool(['prog', 'loadall', TMA_OBJ, `${pinDir}/tma`, 'pinmaps', `${pinDir}/tma/maps`]);
}

const cases: Case[] = [
  { name: 'no program', setup: () => undefined, teardown: () => undefined },
  {
    name: 'TMA on TC clsact',
    counts: true,
    setup: (tb, h) => {
      loadTma();
      tb.exec(h.netns, ['tc', 'qdisc', 'add', 'dev', h.ifname, 'clsact']);
      // one program serves both directions (older objects had one per direction)
      const one = existsSync(`${pinDir}/tma/tma_tc`);
      for (const dir of ['ingress', 'egress']) {
        const prog = one ? `${pinDir}/tma/tma_tc` : `${pinDir}/tma/tma_tc_${dir}`;
        tb.exec(h.netns, ['tc', 'filter', 'add', 'dev', h.ifname, dir, 'bpf', 'da', 'pinned', prog]);
      }
    },
    teardown: (tb, h) => {
      tb.exec(h.netns, ['tc', 'qdisc', 'del', 'dev', h.ifname, 'clsact']);
      rmSync(`${pinDir}/tma`, { recursive: true, force: true });
    },
  },
  {
    name: 'TMA on native XDP',
    counts: true,
    setup: (tb, h) => {
      loadTma();
      tb.exec(h.netns, ['bpftool', 'net', 'attach', 'xdpdrv', 'pinned', `${pinDir}/tma/tma_xdp`, 'dev', h.ifname]);
    },
    teardown: (tb, h) => {
      tb.exec(h.netns, ['bpftool', 'net', 'detach', 'xdpdrv', 'dev', h.ifname]);
      rmSync(`${pinDir}/tma`, { recursive: true, force: true });
    },
  },
  {
    name: 'XDP_PASS no-op, native',
    setup: (tb, h) => {
      rmSync(`${pinDir}/noop`, { recursive: true, force: true });
      mkdirSync(pinDir, { recursive: true });
      bpftool(['prog', 'loadall', NOOP_OBJ, `${pinDir}/noop`]);
      tb.exec(h.netns, ['bpftool', 'net', 'attach', 'xdpdrv', 'pinned', `${pinDir}/noop/noop_xdp`, 'dev', h.ifname]);
    },
    teardown: (tb, h) => {
      tb.exec(h.netns, ['bpftool', 'net', 'detach', 'xdpdrv', 'dev', h.ifname]);
      rmSync(`${pinDir}/noop`, { recursive: true, force: true });
    },
  },
  { name: 'tcpdump -w (no program)', tcpdump: true, setup: () => undefined, teardown: () => undefined },
  {
    name: 'TMA agent, TC',
    agent: 'tc',
    counts: true,
    setup: (tb, h) => startAgent(tb, h, 'tc'),
    teardown: async () => {
      await agent?.stop();
    },
  },
  {
    name: 'TMA agent, native XDP',
    agent: 'xdp',
    counts: true,
    setup: (tb, h) => startAgent(tb, h, 'xdp'),
    teardown: async () => {
      await agent?.stop();
    },
  },
];

function cpuTicks(pid: number): number {
  // fields after the command name: utime is the 14th, stime the 15th field of /proc/PID/stat
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

async function trial(tb: Testbed, h: Host, c: Case, pcap: string, args: Args, dir: string): Promise<Trial> {
  let dump: ReturnType<typeof spawn> | undefined;
  let dumpErr = '';
  if (c.tcpdump) {
    dump = spawn('nsenter', [...tb.nsenterArgs(h.netns), 'tcpdump', '-p', '-n', '-i', h.ifname, '-w', join(dir, 'capture.pcap')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
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
  const sent = await tb.replay(h, pcap, { pps: args.pps, loop: args.loops });
  const after = tb.counters(h);
  const delivered = after.rx.packets - before.rx.packets;
  const t: Trial = {
    sent: sent.packets,
    delivered,
    seconds: sent.seconds,
    pps: delivered / sent.seconds,
    cpuNsPerPacket: ((sent.cpu!.user + sent.cpu!.system) * 1e9) / delivered,
  };
  if (c.agent) {
    t.agentCpu = (cpuTicks(agent!.pid) - agentTicks0) / CLK_TCK / sent.seconds;
    await agent!.stop(); // its final snapshot covers the rest of the trial
    t.counted = agentCounted();
  } else if (c.counts) {
    t.counted = countedPackets();
  }
  if (dump) {
    await new Promise((r) => setTimeout(r, 300)); // let it drain its ring
    const cpu = ((cpuTicks(dump.pid!) - ticks0) / CLK_TCK) / sent.seconds;
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

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark creates namespaces and attaches programs');
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
        `${traffic.truth.distinct.flows} flows; tcpreplay --${args.pps ? `pps ${args.pps}` : 'topspeed'} into one veth; ${args.rounds} rounds\n`,
    );
    const results = new Map<string, Trial[]>(cases.map((c) => [c.name, []]));
    for (let r = 0; r < args.rounds; r++) {
      for (let k = 0; k < cases.length; k++) {
        const c = cases[(k + r) % cases.length];
        await c.setup(tb, h);
        try {
          const t = await trial(tb, h, c, pcap, args, dir);
          results.get(c.name)!.push(t);
          if (c.counts && t.counted !== t.delivered) {
            process.stdout.write(`  note: ${c.name} counted ${t.counted} of ${t.delivered} delivered frames\n`);
          }
        } finally {
          await c.teardown(tb, h);
        }
      }
      process.stdout.write(`round ${r + 1}/${args.rounds}: ${cases.map((c) => `${c.name} ${(results.get(c.name)!.at(-1)!.pps / 1000).toFixed(0)}k`).join(', ')}\n`);
    }

    const base = median(results.get('no program')!.map((t) => t.pps));
    const noop = median(results.get('XDP_PASS no-op, native')!.map((t) => t.pps));
    // Wall-clock pps on a shared 2-CPU machine moves with whatever else runs; the sender's CPU time per frame
    // (which on veth includes the receive path and the hooks) does not, so its ratio is the throughput ratio a
    // CPU-bound receiver would see.
    const baseCpu = median(results.get('no program')!.map((t) => t.cpuNsPerPacket));
    process.stdout.write(
      `\n${'case'.padEnd(26)} ${'rx kpps'.padStart(9)} ${'vs none'.padStart(8)} ${'delivered'.padStart(10)} ${'sender ns/pkt'.padStart(13)} ${'extra'.padStart(6)} ${'CPU ratio'.padStart(9)}  notes\n`,
    );
    for (const c of cases) {
      const ts = results.get(c.name)!;
      const pps = median(ts.map((t) => t.pps));
      const delivered = ts.reduce((a, t) => a + t.delivered, 0) / ts.reduce((a, t) => a + t.sent, 0);
      const notes: string[] = [];
      if (c.counts) {
        const exact = ts.every((t) => t.counted === t.delivered);
        notes.push(exact ? 'program counted every delivered frame' : 'program count differs from delivered');
      }
      if (c.name === 'TMA on native XDP' || c.agent === 'xdp') notes.push(`${(pps / noop).toFixed(3)} of the XDP no-op`);
      if (c.agent) notes.push(`agent CPU ${(100 * median(ts.map((t) => t.agentCpu!))).toFixed(1)} % of a core`);
      if (c.tcpdump) {
        const frac = median(ts.map((t) => t.tcpdump!.captured / t.delivered));
        const cpu = median(ts.map((t) => t.tcpdump!.cpu));
        notes.push(`captured ${(100 * frac).toFixed(1)} %, tcpdump CPU ${(100 * cpu).toFixed(0)} % of a core`);
      }
      const cpu = median(ts.map((t) => t.cpuNsPerPacket));
      process.stdout.write(
        `${c.name.padEnd(26)} ${(pps / 1000).toFixed(1).padStart(9)} ${(pps / base).toFixed(3).padStart(8)} ${(100 * delivered).toFixed(1).padStart(9)}% ` +
          `${cpu.toFixed(0).padStart(13)} ${(cpu - baseCpu).toFixed(0).padStart(6)} ${(baseCpu / cpu).toFixed(3).padStart(9)}  ${notes.join('; ')}\n`,
      );
    }
  } finally {
    tb.destroy();
    rmSync(pinDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench/pps: ${err.stack ?? err.message}\n`);
  rmSync(pinDir, { recursive: true, force: true });
  process.exit(1);
});
