// Namespaces as hosts (root only): built with addresses inside the namespaces only, reachable through the switch,
// silent on their own, fed exactly the pcap by a replay, and removed completely — also when the process is killed.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { listNetns, missingTools, parseTcpreplay, reapStaleRuns, Testbed } from './netns';
import { isLoopback, KafkaRelay, parseBrokers } from './relay';
import { generateTraffic, writeTraffic } from './traffic';

const isRoot = process.getuid?.() === 0;
const missing = isRoot ? missingTools() : [];

describe('broker list', () => {
  it('parses host:port lists and knows loopback addresses', () => {
    expect(parseBrokers('127.0.0.1:9092, localhost:9093,[::1]:9094')).toEqual([
      { host: '127.0.0.1', port: 9092 },
      { host: 'localhost', port: 9093 },
      { host: '::1', port: 9094 },
    ]);
    expect(() => parseBrokers('kafka')).toThrow(/not host:port/);
    expect(['127.0.0.1', '127.1.2.3', 'localhost', '::1'].every(isLoopback)).toBe(true);
    expect(['10.0.0.1', 'kafka.example', '::2'].some(isLoopback)).toBe(false);
  });
});

describe('tcpreplay summary', () => {
  it('reads packets, bytes, failures and duration', () => {
    const r = parseTcpreplay(
      'Actual: 103237 packets (43825943 bytes) sent in 0.352155 seconds\nRated: 1 Bps\nStatistics for network device: p1\n\tSuccessful packets:        103237\n\tFailed packets:            2\n',
    );
    expect(r).toEqual({ packets: 103237, bytes: 43825943, failed: 2, seconds: 0.352155, pps: 103237 / 0.352155 });
    const withTimes = parseTcpreplay(
      'Actual: 10 packets (600 bytes) sent in 0.5 seconds\n0m0.001s 0m0.002s\n0m0.125s 1m2.500s\n',
    );
    expect(withTimes.cpu).toEqual({ user: 0.125, system: 62.5 });
    expect(() => parseTcpreplay('nothing')).toThrow(/unexpected tcpreplay output/);
  });
});

if (!isRoot || missing.length > 0) {
  describe('testbed namespaces', () => {
    it('needs root and its tools', () => {
      throw new Error(
        !isRoot
          ? 'the namespace tests must run as root (CI runs as root)'
          : `missing tools: ${missing.join(', ')} (./tma setup installs them)`,
      );
    });
  });
} else {
  describe('testbed namespaces', () => {
    let dir: string;
    let tb: Testbed | undefined;
    const rootLinksBefore = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tma-netns-'));
      tb = await Testbed.create({ hosts: 2, stateDir: dir });
    });
    afterAll(() => {
      tb?.destroy();
      rmSync(dir, { recursive: true, force: true });
    });

    it('creates a switch and two hosts with private addresses inside their namespaces only', () => {
      const t = tb!;
      const names = listNetns();
      expect(names).toEqual(expect.arrayContaining([t.switchNs, ...t.hosts.map((h) => h.netns)]));
      for (const h of t.hosts) {
        const addrs = t.exec(h.netns, ['ip', '-o', 'addr', 'show', 'dev', 'eth0']);
        expect(addrs).toContain(`${h.ipv4}/24`);
        expect(addrs).toContain(`${h.ipv6}/64`);
        expect(addrs).not.toContain('fe80'); // no link-local chatter
        expect(t.exec(h.netns, ['ip', '-o', 'link', 'show', 'dev', 'eth0'])).toContain(h.mac);
        expect(t.exec(h.netns, ['ethtool', '-l', 'eth0'])).toMatch(/Current hardware settings:\s+RX:\s+2\s+TX:\s+2/);
      }
      // no end of any veth of ours is in the root namespace (other suites may add their own links meanwhile)
      const rootLinks = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
      expect(rootLinks).not.toContain(t.id);
      expect(
        rootLinks.split('\n').filter((l) => / (p\d+|eth0)@/.test(l) && !rootLinksBefore.includes(l.split(':')[1])),
      ).toEqual([]);
    });

    it('connects the hosts through the switch over IPv4 and IPv6', async () => {
      const t = tb!;
      const [h1, h2] = t.hosts;
      // a TCP echo in h2, reached from h1 by address family
      const server = spawn(
        'nsenter',
        [
          ...t.nsenterArgs(h2.netns),
          process.execPath,
          '-e',
          "require('net').createServer((s) => s.pipe(s)).listen(7000, '::', () => console.log('up'))",
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      try {
        await new Promise<void>((res) => server.stdout.once('data', () => res()));
        for (const addr of [h2.ipv4, h2.ipv6]) {
          const reply = t.exec(h1.netns, [
            process.execPath,
            '-e',
            `const s = require('net').connect(7000, ${JSON.stringify(addr)}, () => s.write('hello ${addr}'));
             s.setTimeout(3000, () => process.exit(2)); s.on('data', (d) => { process.stdout.write(d); s.destroy(); });`,
          ]);
          expect(reply).toBe(`hello ${addr}`);
        }
      } finally {
        server.kill('SIGKILL');
      }
    });

    it('delivers a replayed pcap to the host interface exactly, and the host sends nothing back', async () => {
      const t = tb!;
      const traffic = generateTraffic({ seed: 11, flows: 500, packets: 20_000, scanPorts: 200, floodSources: 300 });
      const files = writeTraffic(traffic, join(dir, 'replay'));
      const h = t.hosts[1];
      await new Promise((r) => setTimeout(r, 1500)); // let the ping's neighbour entries settle (ARP/ND retries)
      const before = t.counters(h);
      const sent = await t.replay(h, files.pcap);
      await new Promise((r) => setTimeout(r, 200));
      const after = t.counters(h);
      expect(sent.packets).toBe(traffic.truth.packets);
      expect(sent.bytes).toBe(traffic.truth.bytes);
      expect(sent.failed).toBe(0);
      expect(sent.cpu!.user + sent.cpu!.system).toBeGreaterThan(0);
      expect(after.rx.packets - before.rx.packets).toBe(traffic.truth.packets);
      expect(after.rx.bytes - before.rx.bytes).toBe(traffic.truth.bytes);
      expect(after.rx.dropped - before.rx.dropped).toBe(0);
      expect(after.tx.packets - before.tx.packets).toBe(0);
    });

    it('relays a loopback service of the root namespace into every host, and stops the relay', async () => {
      const t = tb!;
      // a line-echo service on root-namespace loopback, unreachable from a host namespace without the relay
      const server = createServer((c) => c.on('data', (d) => c.write(`root saw ${d.toString()}`)));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      const port = (server.address() as { port: number }).port;
      // asynchronous: the relay's root side runs in this very process and must keep serving meanwhile
      const ask = (netns: string): Promise<string> =>
        new Promise((res, rej) => {
          const c = spawn(
            'nsenter',
            [
              ...t.nsenterArgs(netns),
              process.execPath,
              '-e',
              `const s = require('net').connect(${port}, '127.0.0.1', () => s.write('${netns}'));
             s.on('error', () => process.exit(3)); s.setTimeout(3000, () => process.exit(2));
             s.on('data', (d) => { process.stdout.write(d); s.destroy(); });`,
            ],
            { stdio: ['ignore', 'pipe', 'ignore'] },
          );
          let out = '';
          c.stdout.on('data', (d: Buffer) => (out += d.toString()));
          c.on('close', (code) => (code === 0 ? res(out) : rej(new Error(`exit ${code}`))));
        });
      try {
        await expect(ask(t.hosts[0].netns)).rejects.toThrow(/exit 3/); // refused: nothing listens in the namespace
        const relay = await KafkaRelay.start(t, `127.0.0.1:${port}`, join(dir, 'relay'));
        for (const h of t.hosts) expect(await ask(h.netns)).toBe(`root saw ${h.netns}`);
        await relay.stop();
        await expect(ask(t.hosts[0].netns)).rejects.toThrow(/exit 3/);
        await expect(KafkaRelay.start(t, '10.1.2.3:9092', join(dir, 'relay2'))).rejects.toThrow(
          /relays only loopback brokers/,
        );
      } finally {
        server.close();
      }
    });

    it('refuses to run commands in namespaces it did not create', () => {
      expect(() => tb!.exec('some-other-ns', ['true'])).toThrow(/not a namespace of this testbed/);
    });

    it('removes every namespace it created and its registry', async () => {
      const t = await Testbed.create({ hosts: 1, stateDir: dir, settleMs: 0 });
      const mine = [t.switchNs, ...t.hosts.map((h) => h.netns)];
      expect(listNetns()).toEqual(expect.arrayContaining(mine));
      t.destroy();
      t.destroy(); // idempotent
      expect(listNetns().filter((n) => mine.includes(n))).toEqual([]);
      expect(existsSync(join(dir, 'testbed', 'runs', `tma-${t.id}.json`))).toBe(false);
    });

    it('reaps namespaces of a run whose process died, and only those', () => {
      const dead = spawn('true');
      const deadPid = dead.pid!;
      return new Promise<void>((done) => dead.on('close', () => done())).then(() => {
        const name = `tmat-${process.pid}-sw`;
        execFileSync('ip', ['netns', 'add', name]);
        const runs = join(dir, 'testbed', 'runs');
        mkdirSync(runs, { recursive: true });
        writeFileSync(
          join(runs, 'stale.json'),
          JSON.stringify({ pid: deadPid, created: '', namespaces: [name, 'tmat-never-made'] }),
        );
        writeFileSync(
          join(runs, 'alive.json'),
          JSON.stringify({ pid: process.pid, created: '', namespaces: [t2Name] }),
        );
        execFileSync('ip', ['netns', 'add', t2Name]);
        try {
          expect(reapStaleRuns(dir)).toEqual([name]);
          expect(listNetns()).not.toContain(name);
          expect(listNetns()).toContain(t2Name);
          expect(existsSync(join(runs, 'stale.json'))).toBe(false);
        } finally {
          for (const n of [name, t2Name]) if (existsSync(`/run/netns/${n}`)) execFileSync('ip', ['netns', 'delete', n]);
          rmSync(join(runs, 'alive.json'), { force: true });
        }
      });
    });
    const t2Name = `tmat-${process.pid}-alive`;

    it('removes its namespaces when its process gets SIGTERM', async () => {
      // compile the testbed alone (it has no workspace imports) and run it in a child that waits to be killed
      const out = join(dir, 'build');
      const src = resolve(__dirname);
      execFileSync(process.execPath, [
        require.resolve('typescript/bin/tsc'),
        '--outDir',
        out,
        '--module',
        'commonjs',
        '--target',
        'es2022',
        '--strict',
        '--skipLibCheck',
        '--types',
        'node',
        join(src, 'netns.ts'),
        join(src, 'cleanup.ts'),
      ]);
      const script = `const { Testbed } = require(${JSON.stringify(join(out, 'netns.js'))});
        Testbed.create({ hosts: 2, stateDir: ${JSON.stringify(dir)}, settleMs: 0 }).then((t) => {
          process.stdout.write(JSON.stringify([t.switchNs, ...t.hosts.map((h) => h.netns)]) + '\\n');
          setInterval(() => {}, 1000);
        });`;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      const names = await new Promise<string[]>((res, rej) => {
        let buf = '';
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          if (buf.includes('\n')) res(JSON.parse(buf.split('\n')[0]) as string[]);
        });
        child.on('close', (c) => rej(new Error(`child exited early with ${c}`)));
      });
      expect(listNetns()).toEqual(expect.arrayContaining(names));
      const code = await new Promise<number | null>((res) => {
        child.removeAllListeners('close');
        child.on('close', (c) => res(c));
        child.kill('SIGTERM');
      });
      expect(code).toBe(143);
      expect(listNetns().filter((n) => names.includes(n))).toEqual([]);
    }, 60_000);
  });
}
