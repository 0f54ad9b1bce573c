// The block lookup's cost (bench/bpf/block.sh): ns/packet of one-packet test runs over distinct flows, the program
// without the lookup (argv[2]) beside the product with no rule, with 1,000 rules away from the traffic's sources (the
// /16 prefilter skips the lookup), with 1,000 rules inside their /16s (an LPM trie lookup on every packet), and with
// a dry-run rule that matches every packet (lookup, clock read, counter). Rounds
// rotate the order of the cases; medians over rounds; ratios to the program without the lookup.
import { BlockMap, monotonicNs } from '@tma/kernel';
import { packets as P, TestKernel, testRun } from '@tma/kernel/testing';
import { parseAddress } from '@tma/sketch';

const BASE = process.argv[2];
if (!BASE) throw new Error('usage: block.js <object built with TMA_BENCH_NO_BLOCK>');

function flowFrames() {
  const buf = Buffer.from(P.eth(P.ETH_IP, P.ipv4('10.0.0.1', '10.255.0.1', 17, P.udp(1, 2, P.bytes(64)))));
  return (i: number) => {
    buf.writeUInt32BE((0x0a000000 | (i & 0xffffff)) >>> 0, 14 + 12); // source 10.x.y.z
    buf.writeUInt16BE(1024 + ((i * 7919) & 0x7fff), 34);
    return buf;
  };
}

function withRules(kernel: TestKernel, kind: 'none' | 'miss' | 'near' | 'dry-run'): TestKernel {
  const b = new BlockMap(kernel.kernel);
  const far = monotonicNs() + 3_600_000_000_000n;
  const rule = (addr: string, len: number, slot: number, dryRun: boolean) =>
    b.put({
      src: parseAddress(addr),
      prefixLen: 96 + len,
      dst: null,
      dport: 0,
      proto: 0,
      dryRun,
      expiresNs: far,
      slot,
    });
  if (kind === 'miss') {
    // 1,000 /24s of 100.64.0.0/10: none holds a 10.x source, and the /16 prefilter skips the lookup
    for (let i = 0; i < 1000; i++) rule(`100.${64 + (i >> 8)}.${i & 255}.0`, 24, 1 + i, false);
    b.setRuleCount(1000);
  } else if (kind === 'near') {
    // 1,000 dry-run /32s inside the /16s the traffic comes from (10.0-15.x): the prefilter lets every packet through
    // to the trie lookup, which misses for all but a few sources
    for (let i = 0; i < 1000; i++) rule(`10.${i % 16}.255.${i >> 4}`, 32, 1 + i, true);
    b.setRuleCount(1000);
  } else if (kind === 'dry-run') {
    rule('10.0.0.0', 8, 1, true);
    b.setRuleCount(1);
  }
  return kernel;
}

function main() {
  const sets = [
    { label: '10^3 flows', flows: 1_000, calls: 300_000 },
    { label: '10^6 flows', flows: 1_000_000, calls: 300_000 },
  ];
  for (const s of sets) {
    const objs = [
      { name: 'without the lookup (baseline)', k: TestKernel.load({}, BASE) },
      { name: 'no rule installed', k: withRules(TestKernel.load(), 'none') },
      { name: '1,000 rules elsewhere', k: withRules(TestKernel.load(), 'miss') },
      { name: "1,000 rules in the sources' /16s", k: withRules(TestKernel.load(), 'near') },
      { name: 'dry-run rule matching all', k: withRules(TestKernel.load(), 'dry-run') },
    ];
    for (const hook of ['tma_xdp', 'tma_tc'] as const) {
      const fds = objs.map((o) => o.k.programFd(hook));
      const frameFor = flowFrames();
      const stride = 7_368_787;
      for (const fd of fds) for (let k = 0; k < s.flows; k++) testRun(fd, frameFor((k * stride) % s.flows));
      const rounds = 5;
      const per = Math.ceil(s.calls / rounds);
      const samples = fds.map(() => [] as number[]);
      for (let r = 0; r < rounds; r++)
        for (let j = 0; j < fds.length; j++) {
          const i = (j + r) % fds.length;
          let ns = 0;
          for (let k = 0; k < per; k++) ns += testRun(fds[i], frameFor(((r * per + k) * stride) % s.flows)).duration;
          samples[i].push(ns / per);
        }
      const med = samples.map((a) => [...a].sort((x, y) => x - y)[a.length >> 1]);
      console.log(`\n${s.label}, ${hook === 'tma_xdp' ? 'XDP' : 'TC'} (ns/packet; ratio to the baseline)`);
      objs.forEach((o, i) =>
        console.log(
          `  ${o.name.padEnd(32)}${med[i].toFixed(1).padStart(8)}${(med[i] / med[0]).toFixed(3).padStart(8)}`,
        ),
      );
    }
    for (const o of objs) o.k.close();
  }
  // one packet repeated in the kernel (no syscall per packet, hot caches): the steadiest view of a few ns
  const objs = [
    { name: 'without the lookup (baseline)', k: TestKernel.load({}, BASE) },
    { name: 'no rule installed', k: withRules(TestKernel.load(), 'none') },
    { name: '1,000 rules elsewhere', k: withRules(TestKernel.load(), 'miss') },
    { name: "1,000 rules in the sources' /16s", k: withRules(TestKernel.load(), 'near') },
    { name: 'dry-run rule matching all', k: withRules(TestKernel.load(), 'dry-run') },
  ];
  const one = flowFrames()(1);
  const rounds = 9;
  const samples = objs.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++)
    for (let j = 0; j < objs.length; j++) {
      const i = (j + r) % objs.length;
      samples[i].push(testRun(objs[i].k.programFd('tma_xdp'), one, 1_000_000).duration);
    }
  const med = samples.map((a) => [...a].sort((x, y) => x - y)[a.length >> 1]);
  console.log(
    `\none packet repeated 10^6 times in the kernel, XDP, ${rounds} rounds (ns/packet; ratio to the baseline)`,
  );
  objs.forEach((o, i) =>
    console.log(`  ${o.name.padEnd(32)}${med[i].toFixed(1).padStart(8)}${(med[i] / med[0]).toFixed(3).padStart(8)}`),
  );
  for (const o of objs) o.k.close();
}

main();
