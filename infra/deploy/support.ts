// Helpers of the deployment checks: prerequisites, a two-namespace veth rig, a Kafka relay into a namespace.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const STATE_DIR = process.env.TMA_STATE_DIR ?? path.join(ROOT, '.state');

export const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/**
 * describe, or describe.skip with the reason when a prerequisite is missing. In CI (CI=true, root, network) every
 * prerequisite must be there, so a missing one fails instead of skipping.
 */
export function describeIf(missing: string[]): jest.Describe {
  if (missing.length === 0) return describe;
  const why = `deployment checks need ${missing.join(', ')}`;
  if (process.env.CI === 'true') throw new Error(`${why}; CI=true, failing`);
  console.warn(`${why}: skipped`);
  return describe.skip;
}

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {},
) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 120_000, ...opts });
  return { status: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });

/** Two namespaces joined by a veth pair: the agent's (`agentNs`, address `agentAddr`) and the sender's. */
export class NsPair {
  readonly id = randomBytes(3).toString('hex');
  readonly agentNs = `tma-dep-${this.id}-a`;
  readonly senderNs = `tma-dep-${this.id}-s`;
  // 198.18.0.0/15 (benchmarking range), private to this pair
  readonly octet = 1 + (randomBytes(1)[0] % 250);
  readonly agentAddr = `198.19.${this.octet}.1`;
  readonly senderAddr = `198.19.${this.octet}.2`;
  readonly ifname = `dep${this.id}a`;

  create(): this {
    const peer = `dep${this.id}s`;
    sh('ip', 'netns', 'add', this.agentNs);
    try {
      sh('ip', 'netns', 'add', this.senderNs);
      sh(
        'ip',
        'link',
        'add',
        this.ifname,
        'netns',
        this.agentNs,
        'type',
        'veth',
        'peer',
        'name',
        peer,
        'netns',
        this.senderNs,
      );
      for (const [ns, dev, addr] of [
        [this.agentNs, this.ifname, this.agentAddr],
        [this.senderNs, peer, this.senderAddr],
      ]) {
        sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
        sh('ip', '-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev);
        sh('ip', '-n', ns, 'link', 'set', dev, 'up');
      }
    } catch (e) {
      this.destroy();
      throw e;
    }
    return this;
  }

  /** `count` UDP datagrams of 100 bytes from the sender's namespace to the agent's address. */
  sendUdp(count: number): void {
    const py = `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor _ in range(${count}): s.sendto(b'x'*100,('${this.agentAddr}',9999))`;
    sh('ip', 'netns', 'exec', this.senderNs, 'python3', '-c', py);
  }

  destroy(): void {
    for (const ns of [this.agentNs, this.senderNs]) spawnSync('ip', ['netns', 'del', ns]);
  }
}

// Runs inside the agent's namespace: listen on the broker's loopback address, forward to a path-named Unix socket
// (visible from every network namespace), behind which this process connects to the real broker.
const NS_SIDE = `
const net = require('net');
const [host, port, sock] = process.argv.slice(1);
net.createServer((c) => {
  const u = net.createConnection(sock);
  c.pipe(u); u.pipe(c);
  const end = () => { c.destroy(); u.destroy(); };
  for (const s of [c, u]) { s.on('error', end); s.on('close', end); }
}).listen(Number(port), host, () => process.stdout.write('ready\\n'));
process.stdin.on('end', () => process.exit(0)).resume();
`;

/** Makes the loopback broker `host:port` of this namespace reachable at the same address inside `netns`. */
export async function relayKafka(netns: string, broker: string, dir: string, node: string): Promise<() => void> {
  const m = /^(127\.[\d.]+|localhost):(\d+)$/.exec(broker.trim());
  if (!m) throw new Error(`the namespace relay needs a loopback broker, got TMA_KAFKA_BROKERS=${broker}`);
  const [host, port] = [m[1] === 'localhost' ? '127.0.0.1' : m[1], Number(m[2])];
  const sock = path.join(dir, `kafka-${port}.sock`);
  fs.rmSync(sock, { force: true });
  const server = net.createServer((c) => {
    const u = net.createConnection(port, host);
    c.pipe(u);
    u.pipe(c);
    const end = () => (c.destroy(), u.destroy());
    for (const s of [c, u]) s.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(sock, r));
  const child: ChildProcess = spawn('ip', ['netns', 'exec', netns, node, '-e', NS_SIDE, host, String(port), sock], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`relay in ${netns} exited ${code}`)));
  });
  return () => {
    child.stdin!.end();
    child.kill();
    server.close();
  };
}

/** Python venv with the offline validators (kubernetes-validate, hadolint), cached under TMA_STATE_DIR. */
export function pythonTools(): { bin: string; error?: string } {
  const r = run('bash', [path.join(ROOT, 'infra', 'deploy', 'pytools.sh')], { timeout: 300_000 });
  const bin = r.stdout.trim().split('\n').pop() ?? '';
  return r.status === 0 ? { bin } : { bin, error: `infra/deploy/pytools.sh failed: ${r.stderr}` };
}
