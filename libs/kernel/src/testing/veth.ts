// Test rig: a network namespace joined to this one by a veth pair. The agent attaches to the end in this namespace
// (`outer`); a sender inside the namespace sends UDP to the outer end's address. Both ends have static neighbours
// and no IPv6, so the only packets on the pair are the ones a test sends (plus ICMP errors going back out).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { flowKey } from '@tma/sketch';
import { REPO_ROOT } from './host';

const sh = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** The UDP sender the tests and the agent benchmark run inside a namespace (python3, no dependencies); from the
 * sources, so the library's build output finds it too. */
export const UDP_SENDER = path.join(REPO_ROOT, 'libs', 'kernel', 'src', 'testing', 'udp-sender.py');

export interface Flow {
  sport: number;
  packets: number;
}

export class VethNs {
  readonly netns: string;
  readonly outer: string;
  readonly inner: string;
  readonly outerAddr: string;
  readonly innerAddr: string;

  constructor() {
    const id = randomBytes(3).toString('hex');
    const octet = 1 + (randomBytes(1)[0] % 250);
    this.netns = `tma-ea-${id}`;
    this.outer = `ea${id}o`;
    this.inner = `ea${id}i`;
    // 198.18.0.0/15: the benchmarking range, reachable only over this pair
    this.outerAddr = `198.18.${octet}.1`;
    this.innerAddr = `198.18.${octet}.2`;
  }

  get ifindex(): number {
    return Number(fs.readFileSync(`/sys/class/net/${this.outer}/ifindex`, 'utf8'));
  }

  inNs(cmd: string, ...args: string[]): string {
    return sh('ip', ['netns', 'exec', this.netns, cmd, ...args]);
  }

  create(): this {
    sh('ip', ['netns', 'add', this.netns]);
    try {
      sh('ip', ['link', 'add', this.outer, 'type', 'veth', 'peer', 'name', this.inner]);
      sh('ip', ['link', 'set', this.inner, 'netns', this.netns]);
      sh('sysctl', ['-qw', `net.ipv6.conf.${this.outer}.disable_ipv6=1`]);
      this.inNs('sysctl', '-qw', `net.ipv6.conf.${this.inner}.disable_ipv6=1`);
      sh('ip', ['addr', 'add', `${this.outerAddr}/32`, 'dev', this.outer]);
      sh('ip', ['link', 'set', this.outer, 'up']);
      this.inNs('ip', 'addr', 'add', `${this.innerAddr}/24`, 'dev', this.inner);
      this.inNs('ip', 'link', 'set', this.inner, 'up');
      this.inNs('ip', 'link', 'set', 'lo', 'up');
      const outerMac = fs.readFileSync(`/sys/class/net/${this.outer}/address`, 'utf8').trim();
      const innerMac = this.inNs('cat', `/sys/class/net/${this.inner}/address`).trim();
      this.inNs('ip', 'neigh', 'replace', this.outerAddr, 'lladdr', outerMac, 'dev', this.inner, 'nud', 'permanent');
      sh('ip', ['neigh', 'replace', this.innerAddr, 'lladdr', innerMac, 'dev', this.outer, 'nud', 'permanent']);
      sh('ip', ['route', 'replace', `${this.innerAddr}/32`, 'dev', this.outer]);
    } catch (e) {
      this.destroy();
      throw e;
    }
    return this;
  }

  /** Removes the namespace (and with it the veth pair). Safe to call twice. */
  destroy(): void {
    try {
      sh('ip', ['netns', 'del', this.netns]);
    } catch {
      // already gone
    }
    try {
      sh('ip', ['link', 'del', this.outer]);
    } catch {
      // went with the namespace
    }
  }

  /** Sends UDP flows (interleaved) of `payload` bytes each from inside the namespace; resolves when done. */
  send(flows: Flow[], payload = 100, dport = 9999): Promise<void> {
    const spec = flows.map((f) => `${f.sport}:${f.packets}`).join(',');
    return new Promise((resolve, reject) => {
      const p = spawn(
        'ip',
        [
          'netns',
          'exec',
          this.netns,
          'python3',
          UDP_SENDER,
          'flows',
          this.outerAddr,
          String(dport),
          spec,
          String(payload),
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let err = '';
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      p.on('error', reject);
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sender exited ${code}: ${err}`))));
    });
  }

  /** Canonical flow key of one of our UDP flows. */
  flowKey(sport: number, dport = 9999): Uint8Array {
    return flowKey({ src: this.innerAddr, dst: this.outerAddr, sport, dport, proto: 17 });
  }
}

/** Frame length of a UDP/IPv4 packet with `payload` bytes, from the Ethernet header on. */
export const udpFrameBytes = (payload: number): number => 14 + 20 + 8 + payload;
