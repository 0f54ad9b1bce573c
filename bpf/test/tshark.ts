// The independent reader for the capture test: tshark's own dissection of every frame, reduced to the flow key
// the specification defines (outer IP header, ports by transport protocol, ICMP type/code, fragments without ports).
import { spawn } from 'node:child_process';
import { flowKey, hex } from './reference';

const FIELDS = [
  'frame.number',
  'frame.cap_len',
  'frame.encap_type',
  'frame.protocols',
  'ip.src',
  'ip.dst',
  'ip.proto',
  'ip.frag_offset',
  'ipv6.src',
  'ipv6.dst',
  'ipv6.nxt',
  'ipv6.hopopts.nxt',
  'ipv6.routing.nxt',
  'ipv6.dstopts.nxt',
  'ipv6.fraghdr.nxt',
  'ipv6.fraghdr.offset',
  'tcp.srcport',
  'tcp.dstport',
  'udp.srcport',
  'udp.dstport',
  'sctp.srcport',
  'sctp.dstport',
  'dccp.srcport',
  'dccp.dstport',
  'icmp.type',
  'icmp.code',
  'icmpv6.type',
  'icmpv6.code',
] as const;
type Field = (typeof FIELDS)[number];

export interface TsharkFrame {
  number: number;
  capLen: number;
  encap: number;
  protocols: string;
  /** canonical flow key (hex) when tshark sees plain Ethernet (+ up to 2 VLAN tags) + IPv4/IPv6 */
  key?: string;
  /** why the frame has no key */
  excluded?: string;
}

/** Ethernet, up to two VLAN tags, then IP: the frames the kernel must key exactly as tshark does. */
const PLAIN_IP = /^eth:ethertype:(?:vlan:ethertype:){0,2}(ip|ipv6)(?::|$)/;
const PORTS: Record<number, [Field, Field]> = {
  6: ['tcp.srcport', 'tcp.dstport'],
  17: ['udp.srcport', 'udp.dstport'],
  136: ['udp.srcport', 'udp.dstport'],
  132: ['sctp.srcport', 'sctp.dstport'],
  33: ['dccp.srcport', 'dccp.dstport'],
  1: ['icmp.type', 'icmp.code'],
  58: ['icmpv6.type', 'icmpv6.code'],
};
const EXT_NXT: Record<number, Field> = { 0: 'ipv6.hopopts.nxt', 43: 'ipv6.routing.nxt', 60: 'ipv6.dstopts.nxt' };

function toFrame(line: string): TsharkFrame {
  const cols = line.split('\t');
  const f = Object.fromEntries(FIELDS.map((name, i) => [name, cols[i] ?? ''])) as Record<Field, string>;
  const out: TsharkFrame = {
    number: Number(f['frame.number']),
    capLen: Number(f['frame.cap_len']),
    encap: Number(f['frame.encap_type']),
    protocols: f['frame.protocols'],
  };
  const m = PLAIN_IP.exec(out.protocols);
  if (!m) {
    out.excluded = 'not plain Ethernet/VLAN + IP';
    return out;
  }
  const v6 = m[1] === 'ipv6';
  const src = v6 ? f['ipv6.src'] : f['ip.src'];
  const dst = v6 ? f['ipv6.dst'] : f['ip.dst'];
  let proto = Number(v6 ? f['ipv6.nxt'] : f['ip.proto']);
  let later = !v6 && Number(f['ip.frag_offset'] || 0) > 0;
  if (v6) {
    for (let i = 0; i < 8 && !later; i++) {
      if (proto in EXT_NXT) proto = Number(f[EXT_NXT[proto]]);
      else if (proto === 44) {
        later = Number(f['ipv6.fraghdr.offset'] || 0) > 0;
        proto = Number(f['ipv6.fraghdr.nxt']);
      } else break;
    }
  }
  if (!src || !dst || Number.isNaN(proto) || (v6 && f['ipv6.nxt'] === '') || (!v6 && f['ip.proto'] === '')) {
    out.excluded = 'IP header not dissected';
    return out;
  }
  let sport = 0;
  let dport = 0;
  const ports = PORTS[proto];
  if (ports && !later) {
    if (f[ports[0]] === '' || f[ports[1]] === '') {
      out.excluded = 'transport header not dissected';
      return out;
    }
    sport = Number(f[ports[0]]);
    dport = Number(f[ports[1]]);
  }
  out.key = hex(flowKey({ src, dst, sport, dport, proto }));
  return out;
}

export function tshark(file: string): Promise<TsharkFrame[]> {
  const args = [
    '-n',
    '-r',
    file,
    '-o',
    'ip.defragment:FALSE',
    '-o',
    'ipv6.defragment:FALSE',
    '-o',
    'tcp.desegment_tcp_streams:FALSE',
    '-T',
    'fields',
    '-E',
    'occurrence=f',
    '-E',
    'separator=/t',
    ...FIELDS.flatMap((x) => ['-e', x]),
  ];
  return new Promise((resolve, reject) => {
    const p = spawn('tshark', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.resume();
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0 && code !== 2 /* cut-off file: frames before the cut are still printed */)
        reject(new Error(`tshark ${file} exited ${code}`));
      else resolve(Buffer.concat(out).toString('utf8').split('\n').filter(Boolean).map(toFrame));
    });
  });
}
