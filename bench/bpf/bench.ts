// BPF_PROG_TEST_RUN ns/packet, side by side in one run: the TMA program (XDP and TC) against no-op programs and
// against the prototype's exact per-flow hash map, at 10^3 and 10^6 distinct flows.
// Run: bench/bpf/run.sh [variant.bpf.o ...]  (root; builds everything first). Variant objects (other builds of
// bpf/tma.bpf.c, e.g. an older commit's or other sketch dimensions) are measured beside the product's in the same run.
import * as path from 'node:path';
import { check, ffi } from '@tma/kernel';
import { OBJECT_PATH, packets as P, REPO_ROOT, TestKernel, testRun } from '@tma/kernel/testing';

const BUILD = path.join(REPO_ROOT, 'bench', 'bpf', '.build');

function loadPlain(file: string): { prog: (name: string) => number; close: () => void } {
  const obj = ffi.openFile(file, null);
  if (!obj) throw new Error(`open ${file}`);
  check(`load ${file}`, ffi.load(obj));
  return { prog: (name) => ffi.programFd(ffi.findProgram(obj, name)), close: () => ffi.close(obj) };
}

/** One reusable frame whose addresses and ports are rewritten in place for flow i (IPv4 UDP, 64-byte payload). */
function flowFrames() {
  const frame = P.eth(P.ETH_IP, P.ipv4('10.0.0.1', '10.255.0.1', 17, P.udp(1, 2, P.bytes(64))));
  const buf = Buffer.from(frame);
  return (i: number) => {
    buf.writeUInt32BE((0x0a000000 | (i & 0xffffff)) >>> 0, 14 + 12); // source 10.x.y.z
    buf.writeUInt16BE(1024 + ((i * 7919) & 0x7fff), 34); // source port
    buf.writeUInt16BE(i % 3 === 0 ? 443 : 53, 36);
    return buf;
  };
}

interface Case {
  name: string;
  fd: number;
}

/**
 * Median over rounds of the average ns/packet of one-packet test runs, each a different flow visited in a scattered
 * order. Every case first sees every flow once (warm-up); then each round runs `calls / rounds` packets through every
 * case, in an order that rotates by round, so machine noise and cache order hit every case alike.
 */
function distinct(cases: Case[], flows: number, calls: number, frameFor: (i: number) => Buffer, rounds = 5): number[] {
  const stride = 7_368_787; // coprime with 10^3 and 10^6: a scattered walk over every flow
  for (const c of cases) for (let k = 0; k < flows; k++) testRun(c.fd, frameFor((k * stride) % flows));
  const per = Math.ceil(calls / rounds);
  const samples = cases.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++)
    for (let j = 0; j < cases.length; j++) {
      const i = (j + r) % cases.length;
      let ns = 0;
      for (let k = 0; k < per; k++) ns += testRun(cases[i].fd, frameFor(((r * per + k) * stride) % flows)).duration;
      samples[i].push(ns / per);
    }
  return samples.map((a) => [...a].sort((x, y) => x - y)[a.length >> 1]);
}

const VARIANTS = process.argv.slice(2);
const variantName = (file: string) => `xdp ${path.basename(file)}`;
const AGAIN = 'xdp TMA full, loaded again';

function main() {
  const repeatHot = 2_000_000;
  const noop = loadPlain(path.join(BUILD, 'noop.bpf.o'));
  const exactObj = loadPlain(path.join(BUILD, 'exact.bpf.o'));
  const results: { flows: string; rows: [string, number][] }[] = [];

  const sets: { label: string; flows: number; calls: number }[] = [
    { label: '10^3 flows', flows: 1_000, calls: 300_000 },
    { label: '10^6 flows', flows: 1_000_000, calls: 500_000 },
  ];
  for (const s of sets) {
    // fresh objects per flow count so maps start empty
    const tma = TestKernel.load({}, OBJECT_PATH);
    const variants = VARIANTS.map((file) => ({ file, kernel: TestKernel.load({}, file) }));
    // the same object loaded again (its own maps, elsewhere in memory): with cold caches two loads of one program
    // differ by up to ~20 % here, so an A/B difference below that line says nothing
    const again = TestKernel.load({}, OBJECT_PATH);
    const exact = loadPlain(path.join(BUILD, 'exact.bpf.o'));
    const cases: Case[] = [
      { name: 'xdp no-op', fd: noop.prog('noop_xdp') },
      { name: 'xdp exact hash map (prototype)', fd: exact.prog('exact_xdp') },
      { name: 'xdp TMA full', fd: tma.programFd('tma_xdp') },
      ...variants.map((v) => ({ name: variantName(v.file), fd: v.kernel.programFd('tma_xdp') })),
      { name: AGAIN, fd: again.programFd('tma_xdp') },
      { name: 'tc no-op', fd: noop.prog('noop_tc') },
      { name: 'tc TMA full', fd: tma.programFd('tma_tc') },
    ];
    const frameFor = flowFrames();
    const ns = distinct(cases, s.flows, s.calls, frameFor);
    const rows: [string, number][] = cases.map((c, i) => [c.name, ns[i]]);
    results.push({ flows: s.label, rows });
    for (const v of variants) v.kernel.close();
    again.close();
    tma.close();
    exact.close();
  }
  // one packet repeated in the kernel: no syscall per packet, hot caches
  const hot = TestKernel.load();
  const light = TestKernel.load({ candThreshold: 2 ** 52 }); // never a candidate: every packet takes the HLL path
  const exactHot = loadPlain(path.join(BUILD, 'exact.bpf.o'));
  const variantsHot = VARIANTS.map((file) => ({
    file,
    heavy: TestKernel.load({}, file),
    light: TestKernel.load({ candThreshold: 2 ** 52 }, file),
  }));
  const one = flowFrames()(1);
  // TCP: a data segment (ACK: counted per server in the SYN-flood counters) and a SYN of a flood (new source each
  // time is not possible in a repeated run: one SYN flow, light, so it takes the CMS/HLL path and the SYN counters)
  const tcpAck = P.eth(P.ETH_IP, P.ipv4('10.0.0.1', '10.255.0.1', 6, P.tcp(40000, 443, P.bytes(64))));
  const tcpSyn = P.eth(P.ETH_IP, P.ipv4('10.0.0.1', '10.255.0.1', 6, P.tcp(40001, 80, P.bytes(0), 5, P.TCP_SYN)));
  const hotRows: [string, number][] = [
    ['xdp no-op', testRun(noop.prog('noop_xdp'), one, repeatHot).duration],
    ['xdp exact hash map (prototype)', testRun(exactHot.prog('exact_xdp'), one, repeatHot).duration],
    ['xdp TMA full, heavy flow', testRun(hot.programFd('tma_xdp'), one, repeatHot).duration],
    ['xdp TMA full, light flow', testRun(light.programFd('tma_xdp'), one, repeatHot).duration],
    ...variantsHot.flatMap(
      (v) =>
        [
          [`${variantName(v.file)}, heavy flow`, testRun(v.heavy.programFd('tma_xdp'), one, repeatHot).duration],
          [`${variantName(v.file)}, light flow`, testRun(v.light.programFd('tma_xdp'), one, repeatHot).duration],
        ] as [string, number][],
    ),
    ['xdp TMA full, heavy TCP ACK flow', testRun(hot.programFd('tma_xdp'), tcpAck, repeatHot).duration],
    ['xdp TMA full, light TCP SYN', testRun(light.programFd('tma_xdp'), tcpSyn, repeatHot).duration],
    ...variantsHot.flatMap(
      (v) =>
        [
          [
            `${variantName(v.file)}, heavy TCP ACK flow`,
            testRun(v.heavy.programFd('tma_xdp'), tcpAck, repeatHot).duration,
          ],
          [`${variantName(v.file)}, light TCP SYN`, testRun(v.light.programFd('tma_xdp'), tcpSyn, repeatHot).duration],
        ] as [string, number][],
    ),
    ['tc no-op', testRun(noop.prog('noop_tc'), one, repeatHot).duration],
    ['tc TMA full, heavy flow', testRun(hot.programFd('tma_tc'), one, repeatHot).duration],
  ];
  light.close();
  for (const v of variantsHot) {
    v.heavy.close();
    v.light.close();
  }
  exactHot.close();
  hot.close();
  noop.close();
  exactObj.close();

  const fmt = (n: number) => n.toFixed(1).padStart(8);
  for (const r of results) {
    const base = (name: string) => r.rows.find(([n]) => n === (name.startsWith('tc') ? 'tc no-op' : 'xdp no-op'))![1];
    console.log(`\n${r.flows}, one distinct packet per test run (ns/packet; over no-op; ratio to no-op)`);
    for (const [name, ns] of r.rows)
      console.log(`  ${name.padEnd(38)}${fmt(ns)}${fmt(ns - base(name))}${(ns / base(name)).toFixed(2).padStart(8)}`);
    const exact = r.rows.find(([n]) => n.includes('exact'))![1];
    const full = r.rows.find(([n]) => n === 'xdp TMA full')![1];
    console.log(`  TMA full / exact hash map: ${(full / exact).toFixed(2)}`);
    const noop = r.rows.find(([n]) => n === 'xdp no-op')![1];
    for (const file of [...VARIANTS, AGAIN]) {
      const name = file === AGAIN ? 'TMA full, loaded again' : path.basename(file);
      const variant = r.rows.find(([n]) => n === (file === AGAIN ? AGAIN : variantName(file)))![1];
      console.log(
        `  ${name} / TMA full: ${(variant / full).toFixed(2)} whole packet, ` +
          `${((variant - noop) / (full - noop)).toFixed(2)} over the no-op`,
      );
    }
  }
  console.log(
    `\none packet repeated ${repeatHot} times in the kernel (ns/packet; over no-op); heavy = candidate (HLLs skipped), light = below the threshold`,
  );
  for (const [name, ns] of hotRows) {
    const base = hotRows.find(([n]) => n === (name.startsWith('tc') ? 'tc no-op' : 'xdp no-op'))![1];
    console.log(`  ${name.padEnd(38)}${fmt(ns)}${fmt(ns - base)}`);
  }
}

main();
