// Heavy prefixes counted in the kernel: a spoofed flood of one-packet flows into one /24 among Zipf background
// traffic (IPv4 and IPv6) through the real program on both CPUs, read by the agent's reader. Every prefix at every
// level and side: listed ones have since-entry <= truth <= upper, unlisted ones are within their table's floor; the
// flood's /24 is certain at phi = 1 %; the kernel placed every prefix in the set the TypeScript hash computes. Then a
// flood sent as raw frames from a network namespace over a veth pair, counted by XDP on the receiving end.
import { PFX_SETS, STRUCTS } from '@tma/kernel';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  attachXdp,
  buildObject,
  detachXdp,
  packets as P,
  pinToCpu,
  rootDescribe,
  TestKernel,
  VethNs,
} from '@tma/kernel/testing';
import { flowKeyPrefixes, PREFIX_TABLES, prefixMeta, prefixSetIndex, tableOf, type AddressPrefix } from '@tma/sketch';
import { flowKey, type Tuple } from './reference';

const run = rootDescribe('bpf tests');

const frameOf = (t: Tuple, payload: number) => {
  const l4 = t.proto === 6 ? P.tcp(t.sport, t.dport, P.bytes(payload)) : P.udp(t.sport, t.dport, P.bytes(payload));
  return t.src.includes(':')
    ? P.eth(P.ETH_IPV6, P.ipv6(t.src, t.dst, t.proto, l4))
    : P.eth(P.ETH_IP, P.ipv4(t.src, t.dst, t.proto, l4));
};

/** Deterministic generator (xorshift32). */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

interface Sent {
  t: Tuple;
  packets: number;
  frame: Uint8Array;
}

run('heavy prefixes in the kernel', () => {
  beforeAll(() => buildObject());
  afterAll(() => pinToCpu(0));

  it('a one-packet-per-flow flood into one /24 among Zipf traffic: bounds hold for every prefix, the /24 is certain at 1 %', () => {
    const tma = TestKernel.load();
    try {
      const r = rng(7);
      const flows: Sent[] = [];
      // background: 1,500 flows of Zipf(1.1) sizes over 40 IPv4 /16s and 8 IPv6 /48s, some heavy enough to become
      // candidates (their packets then bypass the prefix tables and are folded in by the reader)
      for (let i = 0; i < 1500; i++) {
        const packets = Math.max(1, Math.floor(3000 / (i + 1) ** 1.1));
        const v6 = i % 5 === 0;
        const a = Math.floor(r() * 40);
        const t: Tuple = v6
          ? {
              src: `2001:db8:${(a % 8).toString(16)}:${Math.floor(r() * 65536).toString(16)}::${i.toString(16)}`,
              dst: `2001:db8:ff::${Math.floor(r() * 256).toString(16)}`,
              sport: 1024 + i,
              dport: 443,
              proto: 6,
            }
          : {
              src: `10.${a}.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}`,
              dst: `172.16.${Math.floor(r() * 8)}.${Math.floor(r() * 256)}`,
              sport: 1024 + i,
              dport: 443,
              proto: 6,
            };
        flows.push({ t, packets, frame: frameOf(t, 20 + (i % 300)) });
      }
      // the flood: 2,000 flows of one packet each, spoofed sources from everywhere, into 198.51.100.0/24
      for (let i = 0; i < 2000; i++) {
        const t: Tuple = {
          src: `${1 + Math.floor(r() * 220)}.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}`,
          dst: `198.51.100.${Math.floor(r() * 256)}`,
          sport: Math.floor(r() * 65536),
          dport: 80,
          proto: 17,
        };
        flows.push({ t, packets: 1, frame: frameOf(t, 0) });
      }
      // interleaved in rounds (flows enter the candidate table and the prefix sets churn), half the rounds on each CPU
      const sent = flows.map(() => 0);
      for (let round = 0; sent.some((s, i) => s < flows[i].packets); round++) {
        pinToCpu(round % 2);
        const order = flows.map((_, i) => i).sort(() => r() - 0.5);
        for (const i of order) {
          const n = Math.min(flows[i].packets - sent[i], 1 + Math.floor(r() * 40));
          if (n <= 0) continue;
          tma.run('tma_xdp', flows[i].frame, n);
          sent[i] += n;
        }
      }
      const read = tma.reader().readCopy(0);
      expect(read.candidates.length).toBeGreaterThan(0); // the member fold is exercised

      // truth per prefix
      const truth = new Map<string, { p: AddressPrefix; packets: number; bytes: number }>();
      let totalPackets = 0;
      for (const f of flows) {
        totalPackets += f.packets;
        for (const p of flowKeyPrefixes(flowKey(f.t))) {
          const k = `${p.table}:${p.lo}:${p.hi}`;
          const e = truth.get(k) ?? { p, packets: 0, bytes: 0 };
          e.packets += f.packets;
          e.bytes += f.packets * f.frame.length;
          truth.set(k, e);
        }
      }
      expect(read.totals.packets).toBe(totalPackets);

      const pc = read.prefixes;
      let listed = 0;
      for (const e of truth.values()) {
        const got = pc.get(e.p.table, e.p.lo, e.p.hi);
        if (got) {
          listed++;
          expect([got.sincePackets <= e.packets, e.packets <= got.packets]).toEqual([true, true]);
          expect([got.sinceBytes <= e.bytes, e.bytes <= got.bytes]).toEqual([true, true]);
        } else {
          expect(e.packets).toBeLessThanOrEqual(pc.floorPackets[e.p.table]);
          expect(e.bytes).toBeLessThanOrEqual(pc.floorBytes[e.p.table]);
        }
      }
      for (const e of pc.list()) expect(truth.has(`${e.table}:${e.lo}:${e.hi}`)).toBe(true);
      expect(listed).toBeGreaterThan(50);

      // the flood's /24 at phi = 1 %: reported, certain (its lower bound is above the threshold), truth inside
      const threshold = 0.01 * totalPackets;
      const heavy = pc.heavy(1, 'packets', threshold);
      const flood = heavy.find((h) => h.prefix === '198.51.100.0/24');
      expect(flood).toBeDefined();
      expect(flood!.certain).toBe(true);
      expect([flood!.lower <= 2000, 2000 <= flood!.upper]).toEqual([true, true]);
      // no flow of the flood became a flow candidate: heavy prefixes built from candidate flows could not find it
      const intoFlood = (k: Uint8Array) => k[28] === 198 && k[29] === 51 && k[30] === 100;
      expect(read.candidates.filter((c) => intoFlood(c.key))).toHaveLength(0);

      // C and TypeScript agree on the prefix hash: every way the kernel filled sits in the set the TS hash picks
      const state = tma.state();
      const words = state.words;
      const size = STRUCTS.tma_pfx_set.size;
      let checked = 0;
      for (const cpu of [0, 1]) {
        const at = state.offset(cpu, 0) + STRUCTS.tma_state.members.pfx;
        for (let t = 0; t < PREFIX_TABLES; t++) {
          const d = tableOf(t);
          for (let s = 0; s < PFX_SETS; s++)
            for (let w = 0; w < 4; w++) {
              const set = at + (t * PFX_SETS + s) * size;
              if (words[(set + STRUCTS.tma_pfx_set.members.packets + 8 * w) >> 2] === 0) continue;
              const lo = words[(set + 8 * w) >> 2];
              const hi = words[((set + 8 * w) >> 2) + 1];
              expect(prefixSetIndex(lo, hi, prefixMeta(d.length, d.family, d.side))).toBe(s);
              checked++;
            }
        }
      }
      expect(checked).toBeGreaterThan(100);
    } finally {
      tma.close();
    }
  });

  it('the same flood sent over a veth pair from a network namespace, counted by XDP on the receiving end', () => {
    const r = rng(11);
    const frames: { t: Tuple; frame: Uint8Array }[] = [];
    // background: 300 flows of Zipf(1.1) sizes (3,305 packets) from 10.x sources, then the flood: 1,200 one-packet
    // flows with spoofed sources into 198.51.100.0/24, shuffled together
    for (let i = 0; i < 300; i++) {
      const t: Tuple = {
        src: `10.${Math.floor(r() * 30)}.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}`,
        dst: `172.16.0.${1 + (i % 20)}`,
        sport: 2000 + i,
        dport: 443,
        proto: 6,
      };
      const frame = frameOf(t, 40);
      for (let n = Math.max(1, Math.floor(600 / (i + 1) ** 1.1)); n > 0; n--) frames.push({ t, frame });
    }
    for (let i = 0; i < 1200; i++) {
      const t: Tuple = {
        src: `${1 + Math.floor(r() * 220)}.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}`,
        dst: `198.51.100.${Math.floor(r() * 256)}`,
        sport: Math.floor(r() * 65536),
        dport: 80,
        proto: 17,
      };
      frames.push({ t, frame: frameOf(t, 0) });
    }
    frames.sort(() => r() - 0.5);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tma-pfx-'));
    const file = path.join(dir, 'frames');
    fs.writeFileSync(
      file,
      Buffer.concat(frames.flatMap(({ frame }) => [Buffer.from([frame.length >> 8, frame.length & 255]), frame])),
    );
    // raw frames out of the namespace's end, paced so the veth backlog never overflows
    const sender = [
      'import socket, struct, sys, time',
      's = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)',
      's.bind((sys.argv[1], 0))',
      'data = open(sys.argv[2], "rb").read()',
      'i = n = 0',
      'while i < len(data):',
      '    l = struct.unpack_from(">H", data, i)[0]',
      '    s.send(data[i + 2:i + 2 + l])',
      '    i += 2 + l',
      '    n += 1',
      '    if n % 16 == 0: time.sleep(0.0005)',
      'print(n)',
    ].join('\n');
    const veth = new VethNs().create();
    const tma = TestKernel.load();
    try {
      attachXdp(veth.outer, tma.programFd('tma_xdp'), 'generic');
      try {
        const run = spawnSync('ip', ['netns', 'exec', veth.netns, 'python3', '-c', sender, veth.inner, file], {
          encoding: 'utf8',
        });
        expect(run.stderr).toBe('');
        expect(Number(run.stdout.trim())).toBe(frames.length);
      } finally {
        detachXdp(veth.outer, 'generic');
      }
      const read = tma.reader().readCopy(0);
      expect(read.totals.packets).toBe(frames.length); // nothing dropped before the hook, nothing else arrived

      const truth = new Map<string, { table: number; lo: number; hi: number; packets: number; bytes: number }>();
      for (const { t, frame } of frames)
        for (const p of flowKeyPrefixes(flowKey(t))) {
          const k = `${p.table}:${p.lo}:${p.hi}`;
          const e = truth.get(k) ?? { ...p, packets: 0, bytes: 0 };
          e.packets++;
          e.bytes += frame.length;
          truth.set(k, e);
        }
      const pc = read.prefixes;
      for (const e of truth.values()) {
        const got = pc.get(e.table, e.lo, e.hi);
        if (got) {
          expect([got.sincePackets <= e.packets, e.packets <= got.packets]).toEqual([true, true]);
          expect([got.sinceBytes <= e.bytes, e.bytes <= got.bytes]).toEqual([true, true]);
        } else expect([e.packets <= pc.floorPackets[e.table], e.bytes <= pc.floorBytes[e.table]]).toEqual([true, true]);
      }
      const flood = pc.heavy(1, 'packets', 0.01 * frames.length).find((h) => h.prefix === '198.51.100.0/24');
      expect(flood).toMatchObject({ certain: true });
      expect([flood!.lower <= 1200, 1200 <= flood!.upper]).toEqual([true, true]);
    } finally {
      tma.close();
      veth.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
