// Kafka for agents inside namespaces. The broker listens on, and advertises, a loopback address of the root namespace,
// which a host namespace cannot reach. A path-named Unix socket is visible from every network namespace, so each
// loopback broker address is relayed: 127.0.0.1:PORT inside every host namespace → Unix socket → the broker.
// Agents then use the very same TMA_KAFKA_BROKERS value as everything else, and the advertised address works.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { forgetCleanup, onCleanup } from './cleanup';
import type { Testbed } from './netns';

export interface BrokerAddress {
  host: string;
  port: number;
}

export function parseBrokers(list: string): BrokerAddress[] {
  return list
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean)
    .map((b) => {
      const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(b);
      if (!m) throw new RangeError(`broker "${b}" is not host:port`);
      return { host: m[1], port: Number(m[2]) };
    });
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

// Runs inside a host namespace: listen on the broker's loopback address, forward each connection to the socket.
const HOST_SIDE = `
const net = require('net');
const [host, port, path] = process.argv.slice(1);
const server = net.createServer((c) => {
  const u = net.createConnection(path);
  c.pipe(u); u.pipe(c);
  const end = () => { c.destroy(); u.destroy(); };
  c.on('error', end); u.on('error', end); c.on('close', end); u.on('close', end);
});
server.listen(Number(port), host, () => process.stdout.write('ready\\n'));
process.on('SIGTERM', () => process.exit(0));
// the testbed's own pipe: when the testbed dies (even by SIGKILL) stdin closes and the relay goes with it
process.stdin.on('end', () => process.exit(0)).on('error', () => process.exit(0)).resume();
`;

// Runs in the root namespace, in a process of its own: Unix socket → the broker. Not in the testbed's process, whose
// event loop generates each round's traffic synchronously for seconds: relayed requests would wait for it, and an
// agent replaying a backlog after a broker outage would deliver about one snapshot per round.
const ROOT_SIDE = `
const net = require('net');
const fs = require('fs');
const [host, port, path] = process.argv.slice(1);
fs.rmSync(path, { force: true });
const server = net.createServer((c) => {
  const u = net.createConnection(Number(port), host);
  c.pipe(u); u.pipe(c);
  const end = () => { c.destroy(); u.destroy(); };
  c.on('error', end); u.on('error', end); c.on('close', end); u.on('close', end);
});
server.listen(path, () => process.stdout.write('ready\\n'));
process.on('SIGTERM', () => process.exit(0));
process.stdin.on('end', () => process.exit(0)).on('error', () => process.exit(0)).resume();
`;

export class KafkaRelay {
  private readonly children: ChildProcess[] = [];
  private stopped = false;

  private constructor(private readonly dir: string) {}

  /**
   * Relays every loopback broker of `brokers` into every host of the testbed. Brokers on other addresses are
   * refused: a namespace has no route to them here.
   */
  static async start(tb: Testbed, brokers: string, dir: string): Promise<KafkaRelay> {
    const list = parseBrokers(brokers);
    const remote = list.filter((b) => !isLoopback(b.host));
    if (remote.length)
      throw new Error(
        `the testbed relays only loopback brokers; cannot reach ${remote.map((b) => `${b.host}:${b.port}`).join(', ')}`,
      );
    mkdirSync(dir, { recursive: true });
    const relay = new KafkaRelay(dir);
    onCleanup({ name: `kafka relay ${dir}`, run: () => relay.stop(), runSync: () => relay.stopSync() });
    try {
      for (const b of list) {
        const path = join(dir, `kafka-${b.port}.sock`);
        const listenHost = b.host === 'localhost' ? '127.0.0.1' : b.host;
        await relay.spawnRelay([process.execPath, '-e', ROOT_SIDE, listenHost, String(b.port), path], 'root side');
        for (const h of tb.hosts)
          await relay.spawnRelay(
            [
              'nsenter',
              ...tb.nsenterArgs(h.netns),
              process.execPath,
              '-e',
              HOST_SIDE,
              listenHost,
              String(b.port),
              path,
            ],
            h.netns,
          );
      }
    } catch (err) {
      await relay.stop();
      throw err;
    }
    return relay;
  }

  /**
   * Starts one relay process and waits for its "ready". Its own process group: Ctrl-C reaches the agents (which
   * publish a final snapshot through the relays) and the testbed, not the relays; the testbed stops them after the
   * agents.
   */
  private async spawnRelay(argv: string[], where: string): Promise<void> {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
    this.children.push(child);
    await new Promise<void>((res, rej) => {
      child.once('error', rej);
      child.once('exit', (code) => rej(new Error(`relay (${where}) exited with ${code}`)));
      child.stdout!.once('data', () => res());
    });
    child.removeAllListeners('exit');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    const gone = this.children.map((c) =>
      c.exitCode !== null || c.signalCode !== null
        ? Promise.resolve()
        : new Promise<void>((res) => c.once('exit', () => res())),
    );
    this.stopSync();
    await Promise.all(gone); // their listening sockets are closed once they are gone
  }

  stopSync(): void {
    if (this.stopped) return;
    this.stopped = true;
    forgetCleanup(`kafka relay ${this.dir}`);
    for (const c of this.children) if (c.exitCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid!).filter(Boolean);
  }
}
