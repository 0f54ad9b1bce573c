// The data path on real interfaces in namespaces this test creates (and removes, also on failure): a bulk TCP
// transfer over a veth pair with TSO/GSO and GRO (TC counts wire segments), a tun device (frames start at the IP
// header) and a VXLAN tunnel (keyed by the outer or the inner packet), with crafted GRE packets over the veth pair.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { EpochReader, TmaKernel, type EpochRead, type TunnelMode } from '@tma/kernel';
import { buildObject, inNetns, OBJECT_PATH, rootDescribe, VethNs } from '@tma/kernel/testing';
import { flowKey, hex } from './reference';

const run = rootDescribe('bpf tests');
const sh = (cmd: string) => {
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
};
const ifindexIn = (ns: VethNs, dev: string) => Number(ns.inNs('cat', `/sys/class/net/${dev}/ifindex`));

/** Reads both copies (everything counted since the previous read), summed. */
function readAll(reader: EpochReader): EpochRead {
  const a = reader.read();
  const b = reader.read();
  for (let i = 0; i < a.ifPackets.length; i++) {
    a.ifPackets[i] += b.ifPackets[i];
    a.ifBytes[i] += b.ifBytes[i];
  }
  for (let i = 0; i < a.protoPackets.length; i++) a.protoPackets[i] += b.protoPackets[i];
  a.totals.packets += b.totals.packets;
  a.totals.bytes += b.totals.bytes;
  a.candidates.push(...b.candidates);
  return a;
}

/** Per-key packets of the candidates of a read (threshold 1: every flow is one). */
function byKey(r: EpochRead): Map<string, number> {
  const m = new Map<string, number>();
  for (const c of r.candidates) m.set(hex(c.key), (m.get(hex(c.key)) ?? 0) + c.packets);
  return m;
}

function load(hook: 'tc' | 'xdp', tunnels: TunnelMode = 'outer'): { kernel: TmaKernel; reader: EpochReader } {
  const kernel = TmaKernel.load({ objectPath: OBJECT_PATH, hook, candThreshold: 1, tunnels });
  const reader = new EpochReader(kernel);
  reader.read();
  reader.read();
  return { kernel, reader };
}

run('interfaces in namespaces', () => {
  const kernels: TmaKernel[] = [];
  const cleanups: (() => void)[] = [];
  beforeAll(buildObject);
  afterEach(() => {
    for (const k of kernels.splice(0)) k.close();
    for (const c of cleanups.splice(0).reverse()) {
      try {
        c();
      } catch {
        // already gone
      }
    }
  });
  const veth = () => {
    const ns = new VethNs();
    cleanups.push(() => ns.destroy());
    return ns.create();
  };
  const track = (k: { kernel: TmaKernel; reader: EpochReader }) => {
    kernels.push(k.kernel);
    return k;
  };

  it('TC counts the segments of TSO/GSO skbs on egress and of GRO skbs on ingress: equal to what XDP sees', async () => {
    const ns = veth();
    // TSO/GSO on the sender, GRO on the receiver; XDP on the receiver makes the veth segment before it (XDP sees
    // wire-sized frames) and run NAPI, where GRO merges them again before TC ingress
    ns.inNs('ethtool', '-K', ns.inner, 'tso', 'on', 'gso', 'on');
    sh(`ethtool -K ${ns.outer} gro on`);
    const tx = track(load('tc'));
    const innerIf = ifindexIn(ns, ns.inner);
    const [txAt] = inNetns(ns.netns, () => tx.kernel.attach(innerIf, ns.inner, { tcAttach: 'tcx' }));
    const xdp = track(load('xdp'));
    const [xdpAt] = xdp.kernel.attach(ns.ifindex, ns.outer, { xdpMode: 'native' });
    const rx = track(load('tc'));
    const [rxAt] = rx.kernel.attach(ns.ifindex, ns.outer, { tcAttach: 'tcx' });
    expect(rxAt.program).toBe('tma_tc');
    expect(txAt.slot).toBeGreaterThan(0);

    // ~20 MB over one TCP connection, from the namespace to this one
    const PORT = 5201;
    const BYTES = 20 << 20;
    const server = spawn(
      'python3',
      [
        '-c',
        `import socket,sys
s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('${ns.outerAddr}',${PORT}));s.listen(1)
print('ready',flush=True);c,_=s.accept();n=0
while True:
  d=c.recv(1<<20)
  if not d: break
  n+=len(d)
print(n,flush=True)`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    cleanups.push(() => server.kill());
    let out = '';
    server.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve) => {
      const t = setInterval(() => out.includes('ready') && (clearInterval(t), resolve()), 20);
    });
    ns.inNs(
      'python3',
      '-c',
      `import socket;s=socket.create_connection(('${ns.outerAddr}',${PORT}));s.sendall(b'x'*${BYTES});s.close()`,
    );
    await new Promise<void>((resolve) => server.on('exit', () => resolve()));
    expect(Number(out.trim().split('\n').pop())).toBe(BYTES);
    await new Promise((r) => setTimeout(r, 100));

    const t = readAll(tx.reader);
    const x = readAll(xdp.reader);
    const r = readAll(rx.reader);
    const egress = [t.ifPackets[txAt.slot * 2 + 1], t.ifBytes[txAt.slot * 2 + 1]];
    const xdpIn = [x.ifPackets[xdpAt.slot * 2], x.ifBytes[xdpAt.slot * 2]];
    const tcIn = [r.ifPackets[rxAt.slot * 2], r.ifBytes[rxAt.slot * 2]];
    // at least one MSS-sized segment per 1,448 payload bytes: far more packets than skbs would give
    expect(xdpIn[0]).toBeGreaterThan(BYTES / 1500);
    // Every segment the sender's TC counted inside a GSO skb reached the receiver's XDP, and GRO hands TC ingress
    // exactly the segments XDP passed. Exact, not within a tolerance: retransmissions pass all three hooks alike,
    // and a segment dropped between them would show in the veth drop counters (asserted zero).
    const drops = sh(`ip -s -j link show ${ns.outer}`);
    const st = JSON.parse(drops)[0].stats64;
    expect([st.rx.dropped, st.tx.dropped]).toEqual([0, 0]);
    expect(egress).toEqual(xdpIn);
    expect(tcIn).toEqual(xdpIn);
  }, 120_000);

  it('a tun device (no Ethernet header) is keyed from the IP header, in and out', async () => {
    const id = randomBytes(3).toString('hex');
    const dev = `tmatun${id}`;
    const octet = 1 + (randomBytes(1)[0] % 250);
    const local = `198.19.${octet}.1`;
    const peer = `198.19.${octet}.2`;
    sh(`ip tuntap add mode tun name ${dev}`);
    cleanups.push(() => sh(`ip link del ${dev}`));
    sh(`sysctl -qw net.ipv6.conf.${dev}.disable_ipv6=1`);
    sh(`ip addr add ${local} peer ${peer} dev ${dev} && ip link set ${dev} up`);
    expect(fs.readFileSync(`/sys/class/net/${dev}/type`, 'utf8').trim()).toBe('65534');
    const tc = track(load('tc'));
    const made = tc.kernel.attach(Number(fs.readFileSync(`/sys/class/net/${dev}/ifindex`, 'utf8')), dev, {
      tcAttach: 'tcx',
    });
    expect(made.map((a) => a.program)).toEqual(['tma_tc_l3', 'tma_tc_l3_eg']);

    // 30 UDP datagrams from the peer to a closed port: in through the tun, and the kernel's ICMP port unreachable
    // replies out through it (rate-limited, so at least one)
    const N = 30;
    sh(
      `python3 - <<'EOF'
import fcntl, os, socket, struct
fd = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', b'${dev}', 0x0001 | 0x1000))  # TUNSETIFF: IFF_TUN | IFF_NO_PI
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
src, dst = socket.inet_aton('${peer}'), socket.inet_aton('${local}')
for i in range(${N}):
    udp = struct.pack('!HHHH', 40000, 9, 8 + 10, 0) + b'y' * 10
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    os.write(fd, ip + udp)
os.close(fd)
EOF`,
    );
    await new Promise((r) => setTimeout(r, 100));
    const read = readAll(tc.reader);
    const keys = byKey(read);
    const inKey = hex(flowKey({ src: peer, dst: local, sport: 40000, dport: 9, proto: 17 }));
    expect(keys.get(inKey)).toBe(N);
    expect(read.ifPackets[made[0].slot * 2]).toBe(N);
    expect(read.ifBytes[made[0].slot * 2]).toBe(N * 38); // IP header on: no link header on a tun
    // ICMP port unreachable (type 3, code 3) from local to peer, out through the tun
    const icmpKey = hex(flowKey({ src: local, dst: peer, sport: 3, dport: 3, proto: 1 }));
    expect(keys.get(icmpKey)).toBeGreaterThan(0);
    expect(read.ifPackets[made[1].slot * 2 + 1]).toBe(keys.get(icmpKey));
    expect(read.totals.packets).toBe(N + (keys.get(icmpKey) ?? 0));
  }, 60_000);

  it.each(['outer', 'inner'] as const)(
    'VXLAN between namespaces and crafted GRE: keyed by the %s header',
    async (mode) => {
      const ns = veth();
      const vni = 1000 + (randomBytes(2).readUInt16BE(0) % 60000);
      const hostVx = `tmavx${randomBytes(3).toString('hex')}`;
      const octet = 1 + (randomBytes(1)[0] % 250);
      const hostIn = `198.18.${octet}.129`;
      const nsIn = `198.18.${octet}.130`;
      sh(`ip link add ${hostVx} type vxlan id ${vni} local ${ns.outerAddr} remote ${ns.innerAddr} dstport 4789`);
      cleanups.push(() => sh(`ip link del ${hostVx}`));
      ns.inNs(
        'ip',
        'link',
        'add',
        'vx0',
        'type',
        'vxlan',
        'id',
        String(vni),
        'local',
        ns.innerAddr,
        'remote',
        ns.outerAddr,
        'dstport',
        '4789',
      );
      for (const [inNs, dev, addr] of [
        [false, hostVx, hostIn],
        [true, 'vx0', nsIn],
      ] as const) {
        const cmd = (...a: string[]) => (inNs ? ns.inNs('ip', ...a) : sh(`ip ${a.join(' ')}`));
        if (inNs) ns.inNs('sysctl', '-qw', `net.ipv6.conf.${dev}.disable_ipv6=1`);
        else sh(`sysctl -qw net.ipv6.conf.${dev}.disable_ipv6=1`);
        cmd('addr', 'add', `${addr}/32`, 'dev', dev);
        cmd('link', 'set', dev, 'up');
        cmd('route', 'add', `${inNs ? hostIn : nsIn}/32`, 'dev', dev);
      }
      const hostMac = fs.readFileSync(`/sys/class/net/${hostVx}/address`, 'utf8').trim();
      const nsMac = ns.inNs('cat', '/sys/class/net/vx0/address').trim();
      sh(`ip neigh replace ${nsIn} lladdr ${nsMac} dev ${hostVx} nud permanent`);
      ns.inNs('ip', 'neigh', 'replace', hostIn, 'lladdr', hostMac, 'dev', 'vx0', 'nud', 'permanent');

      const tc = track(load('tc', mode));
      const [inAt] = tc.kernel.attach(ns.ifindex, ns.outer, { tcAttach: 'tcx' });
      // 20 UDP datagrams through the tunnel into this namespace, and 10 crafted GRE packets (key, IPv4 inside)
      // over the veth pair
      const N = 20;
      ns.inNs(
        'python3',
        '-c',
        `import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('${nsIn}',41234))
for i in range(${N}): s.sendto(b'z'*50,('${hostIn}',7777))`,
      );
      const G = 10;
      ns.inNs(
        'python3',
        '-c',
        `import socket,struct
s=socket.socket(socket.AF_INET,socket.SOCK_RAW,47)
inner=struct.pack('!BBHHHBBH4s4s',0x45,0,20+20,1,0,64,6,0,socket.inet_aton('10.77.0.1'),socket.inet_aton('10.77.0.2'))+struct.pack('!HHIIBBHHH',33333,443,0,0,0x50,0x10,0,0,0)
gre=struct.pack('!BBHI',0x20,0,0x0800,7)
for i in range(${G}): s.sendto(gre+inner,('${ns.outerAddr}',0))`,
      );
      await new Promise((r) => setTimeout(r, 100));
      const read = readAll(tc.reader);
      const keys = byKey(read);
      const vxInnerKey = hex(flowKey({ src: nsIn, dst: hostIn, sport: 41234, dport: 7777, proto: 17 }));
      const greOuter = hex(flowKey({ src: ns.innerAddr, dst: ns.outerAddr, sport: 0, dport: 0, proto: 47 }));
      const greInner = hex(flowKey({ src: '10.77.0.1', dst: '10.77.0.2', sport: 33333, dport: 443, proto: 6 }));
      // VXLAN's source port is a hash of the inner flow: find the outer flow by its destination port (and source
      // address: ICMP errors of this namespace go back through the tunnel too)
      const from = flowKey({ src: ns.innerAddr, dst: ns.outerAddr, sport: 0, dport: 0, proto: 17 }).subarray(0, 32);
      const outerVx = read.candidates.filter(
        (c) => c.key[36] === 17 && ((c.key[34] << 8) | c.key[35]) === 4789 && hex(c.key.subarray(0, 32)) === hex(from),
      );
      if (mode === 'outer') {
        expect(outerVx.reduce((s, c) => s + c.packets, 0)).toBe(N);
        expect(keys.has(vxInnerKey)).toBe(false);
        expect(keys.get(greOuter)).toBe(G);
        expect(keys.has(greInner)).toBe(false);
      } else {
        expect(keys.get(vxInnerKey)).toBe(N);
        expect(outerVx).toHaveLength(0);
        expect(keys.get(greInner)).toBe(G);
        expect(keys.has(greOuter)).toBe(false);
      }
      // bytes are the outer frames as on the wire, whichever header keys them
      expect(read.ifPackets[inAt.slot * 2]).toBe(N + G);
      expect(read.ifBytes[inAt.slot * 2]).toBe(N * (14 + 20 + 8 + 8 + 14 + 20 + 8 + 50) + G * (14 + 20 + 8 + 40));
    },
    60_000,
  );
});
