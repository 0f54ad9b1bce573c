// Traffic for the mitigation specs: a veth pair whose namespace end has two addresses (the "attacker" innerAddr and
// a "bystander" one), UDP bursts from either address, and a receiver on the host end counting datagrams by source.
import { execFileSync, spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import type { VethNs } from '@tma/kernel/testing';

/** A second address on the namespace's end, routed back over the pair (the first is ns.innerAddr). */
export function addBystander(ns: VethNs): string {
  const addr = ns.innerAddr.replace(/\.2$/, '.3');
  ns.inNs('ip', 'addr', 'add', `${addr}/24`, 'dev', ns.inner);
  const mac = ns.inNs('cat', `/sys/class/net/${ns.inner}/address`).trim();
  execFileSync('ip', ['neigh', 'replace', addr, 'lladdr', mac, 'dev', ns.outer, 'nud', 'permanent']);
  execFileSync('ip', ['route', 'replace', `${addr}/32`, 'dev', ns.outer]);
  return addr;
}

const SENDER = `
import socket, sys, time
src, dst, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
for i in range(n):
    s.sendto(b'x' * 64, (dst, port))
    if i % 128 == 127:
        time.sleep(0.001)
`;

/** Sends n datagrams from `src` (an address of the namespace) to dst:port, paced so no queue overflows. */
export function burst(ns: VethNs, src: string, n: number, dst: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', ns.netns, 'python3', '-c', SENDER, src, dst, String(port), String(n)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sender exited ${code}: ${err}`))));
  });
}

/** Counts datagrams to addr:port by source address. */
export class Receiver {
  private readonly socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20 });
  private readonly counts = new Map<string, number>();

  static async open(addr: string, port: number): Promise<Receiver> {
    const r = new Receiver();
    r.socket.on('message', (_m, from) => r.counts.set(from.address, (r.counts.get(from.address) ?? 0) + 1));
    await new Promise<void>((resolve) => r.socket.bind(port, addr, resolve));
    return r;
  }

  /** Datagrams from `src` since the last take (after the socket has been quiet for a moment). */
  async take(src: string): Promise<number> {
    let before = -1;
    for (let total = this.total(); total !== before; total = this.total()) {
      before = total;
      await new Promise((r) => setTimeout(r, 150));
    }
    const n = this.counts.get(src) ?? 0;
    this.counts.delete(src);
    return n;
  }

  private total(): number {
    let t = 0;
    for (const v of this.counts.values()) t += v;
    return t;
  }

  close(): void {
    this.socket.close();
  }
}

/** rp_filter on the host end would drop the bystander's packets before any hook: loose mode for the test pair. */
export function looseRpFilter(ns: VethNs): void {
  fs.writeFileSync(`/proc/sys/net/ipv4/conf/${ns.outer}/rp_filter`, '2');
}
