// SYN-flood counters (tma_syn): TCP packets counted per server address by flag class, in the cells and candidate
// slots the TypeScript sketch (libs/sketch SynCounts: the fleet's keyed hash, the destination HLL's key) computes.
import { STRUCTS, SYN_CAND_MIN, check, ffi } from '@tma/kernel';
import { buildObject, packets as P, pinToCpu, rootDescribe, TestKernel } from '@tma/kernel/testing';
import { SynCounts, expandHashSeed, useHashSeed, currentHashSeed } from '@tma/sketch';

const run = rootDescribe('bpf tests');

const v4 = (src: string, dst: string, flags: number, sport = 40000, dport = 80, payload = 0) =>
  P.eth(P.ETH_IP, P.ipv4(src, dst, 6, P.tcp(sport, dport, P.bytes(payload), 5, flags)));
const v6 = (src: string, dst: string, flags: number) =>
  P.eth(P.ETH_IPV6, P.ipv6(src, dst, 6, P.tcp(5555, 443, P.bytes(0), 5, flags)));

run('SYN-flood counters', () => {
  beforeAll(() => {
    buildObject();
    pinToCpu(0);
  });

  it('counts SYN and ACK by destination, SYN-ACK and RST by source, in the cells SynCounts computes', () => {
    const tma = TestKernel.load();
    try {
      const want = new SynCounts();
      const server = '10.1.2.3';
      const other = '10.1.2.4';
      // 40 SYNs from 40 (spoofed) sources, 5 SYN-ACKs and 3 RSTs from the server, 7 ACKs to it, 2 PSH|ACK data
      for (let i = 0; i < 40; i++) tma.run('tma_xdp', v4(`198.51.${i >> 8}.${i & 255}`, server, P.TCP_SYN));
      want.add(server, 'syn', 40);
      tma.run('tma_tc', v4(server, '198.51.0.1', P.TCP_SYN | P.TCP_ACK, 80, 40000), 5);
      want.add(server, 'synAck', 5);
      tma.run('tma_tc_eg', v4(server, '198.51.0.2', P.TCP_RST | P.TCP_ACK, 80, 40000), 3);
      want.add(server, 'rst', 3);
      tma.run('tma_xdp', v4('198.51.0.1', server, P.TCP_ACK), 7);
      tma.run('tma_xdp', v4('198.51.0.1', server, P.TCP_ACK | P.TCP_PSH, 40000, 80, 100), 2);
      want.add(server, 'ack', 9);
      // another server: 15 SYNs (below the candidate minimum) and an IPv6 one
      tma.run('tma_xdp', v4('192.0.2.9', other, P.TCP_SYN), SYN_CAND_MIN - 1);
      want.add(other, 'syn', SYN_CAND_MIN - 1);
      tma.run('tma_xdp', v6('2001:db8::1', '2001:db8::80', P.TCP_SYN), SYN_CAND_MIN);
      want.add('2001:db8::80', 'syn', SYN_CAND_MIN);
      tma.run('tma_xdp', v6('2001:db8::80', '2001:db8::1', P.TCP_SYN | P.TCP_ACK), 2);
      want.add('2001:db8::80', 'synAck', 2);
      // not counted: FIN alone, no flags, UDP, a TCP header cut off before its flags
      tma.run('tma_xdp', v4('198.51.0.1', server, P.TCP_FIN), 4);
      tma.run('tma_xdp', v4('198.51.0.1', server, 0), 4);
      tma.run('tma_xdp', P.eth(P.ETH_IP, P.ipv4('198.51.0.1', server, 17, P.udp(1, 2, P.bytes(10)))), 4);
      tma.run('tma_xdp', P.eth(P.ETH_IP, P.ipv4('198.51.0.1', server, 6, P.bytes(8))), 4);

      const got = tma.reader().readCopy(0).syn!;
      for (const k of ['syn', 'synAck', 'rst', 'ack'] as const)
        expect([k, ...got.cells[k]]).toEqual([k, ...want.cells[k]]);
      expect(got.estimate(server)).toEqual({ syn: 40, synAck: 5, rst: 3, ack: 9 });
      // the server and the IPv6 address reached the minimum; the other server did not
      expect(got.candidateAddresses().sort()).toEqual(['10.1.2.3', '2001:db8::80']);
      // nothing in the other copy; clearing empties this one
      expect(tma.reader().readCopy(1).syn!.total('syn')).toBe(0);
      tma.reader().clearCopy(0);
      const cleared = tma.reader().readCopy(0).syn!;
      expect([cleared.total('syn'), cleared.total('ack'), cleared.candidates.size]).toEqual([0, 0, 0]);
    } finally {
      tma.close();
    }
  });

  it('a candidate flow: its ACKs count until it enters the table (after its handshake), its SYNs and RSTs always', () => {
    const tma = TestKernel.load();
    try {
      // one data flow of 100 ACK segments: it enters the candidates at its 32nd packet (the default threshold)
      tma.run('tma_xdp', v4('198.51.0.7', '10.9.9.9', P.TCP_ACK, 40000, 443, 100), 100);
      // one flow of 100 SYNs (a flood from a single 5-tuple is a heavy flow too), and 40 RSTs from a server
      tma.run('tma_xdp', v4('198.51.0.8', '10.9.9.8', P.TCP_SYN, 40000, 80), 100);
      tma.run('tma_xdp', v4('10.9.9.7', '198.51.0.9', P.TCP_RST | P.TCP_ACK, 80, 40000), 40);
      const got = tma.reader().readCopy(0).syn!;
      expect(got.estimate('10.9.9.9').ack).toBe(32);
      expect(got.estimate('10.9.9.8').syn).toBe(100);
      expect(got.estimate('10.9.9.7').rst).toBe(40);
      expect(tma.candidates(0)).toHaveLength(3);
    } finally {
      tma.close();
    }
  });

  it('with sampling the SYN counters still count every TCP packet', () => {
    const tma = TestKernel.load({ sampleRate: 16 });
    try {
      tma.run('tma_xdp', v4('198.51.0.1', '10.9.9.9', P.TCP_SYN), 50);
      tma.run('tma_xdp', v4('198.51.0.1', '10.9.9.9', P.TCP_ACK, 40001), 70);
      expect(tma.reader().readCopy(0).syn!.estimate('10.9.9.9')).toEqual({ syn: 50, synAck: 0, rst: 0, ack: 70 });
    } finally {
      tma.close();
    }
  });

  it('hashes with the deployment seed: another seed moves the cells, and SynCounts under that seed follows', () => {
    const before = currentHashSeed();
    const seed = expandHashSeed(0x0badc0ffee123457n);
    const tma = TestKernel.load({ hashSeed: seed });
    try {
      tma.run('tma_xdp', v4('198.51.0.1', '10.20.30.40', P.TCP_SYN), 3);
      const got = tma.reader().readCopy(0).syn!;
      useHashSeed(seed);
      const want = new SynCounts();
      want.add('10.20.30.40', 'syn', 3);
      useHashSeed(before);
      const other = new SynCounts();
      other.add('10.20.30.40', 'syn', 3);
      expect([...got.cells.syn]).toEqual([...want.cells.syn]);
      expect([...got.cells.syn]).not.toEqual([...other.cells.syn]);
    } finally {
      useHashSeed(before);
      tma.close();
    }
  });

  it('a full candidate slot goes to the address with more SYNs, and the map is sized per CPU and copy', () => {
    const tma = TestKernel.load();
    try {
      const info = Buffer.alloc(256);
      check('info', ffi.objInfo(tma.mapFd('tma_syn'), info, [info.length]));
      expect([info.readUInt32LE(12), info.readUInt32LE(16)]).toEqual([STRUCTS.tma_syn_state.size, 2 * tma.cpus]);
      // 200 destinations with 16 SYNs each compete for 64 slots: each slot ends with some address; a heavy one
      // (100 SYNs) always holds its slot
      for (let d = 0; d < 200; d++) tma.run('tma_xdp', v4('192.0.2.1', `10.50.${d >> 8}.${d & 255}`, P.TCP_SYN), 16);
      tma.run('tma_xdp', v4('192.0.2.1', '10.60.0.1', P.TCP_SYN), 100);
      for (let d = 0; d < 200; d++) tma.run('tma_xdp', v4('192.0.2.1', `10.50.${d >> 8}.${d & 255}`, P.TCP_SYN), 1);
      const got = tma.reader().readCopy(0).syn!;
      expect(got.candidates.size).toBeLessThanOrEqual(64);
      expect(got.candidateAddresses()).toContain('10.60.0.1');
    } finally {
      tma.close();
    }
  });
});
