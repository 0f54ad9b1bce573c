// Hot-path A/B: one packet repeated in the kernel through each given TMA object (and the XDP no-op), interleaved over
// several rounds so machine noise hits every variant alike; prints the median ns/packet over the no-op.
// Run (root, after run.sh has built once): npx node bench/bpf/.build/js/bench/bpf/hot.js a.bpf.o [b.bpf.o ...]
import * as path from 'node:path';
import { check, ffi } from '@tma/kernel';
import { OBJECT_PATH, packets as P, REPO_ROOT, TestKernel, testRun } from '@tma/kernel/testing';

const objs = process.argv.slice(2).length ? process.argv.slice(2) : [OBJECT_PATH];
const rounds = Number(process.env.ROUNDS ?? 7);
const repeat = 1_000_000;
const noopObj = ffi.openFile(path.join(REPO_ROOT, 'bench', 'bpf', '.build', 'noop.bpf.o'), null);
check('load noop', ffi.load(noopObj));
const noop = ffi.programFd(ffi.findProgram(noopObj, 'noop_xdp'));
const frame = Buffer.from(P.eth(P.ETH_IP, P.ipv4('10.0.0.1', '10.255.0.1', 17, P.udp(1, 2, P.bytes(64)))));
// TCP (TCP=1): a data segment of a heavy flow (ACK) and a SYN below the candidate threshold (the SYN counters' path)
const tcpAck = Buffer.from(P.eth(P.ETH_IP, P.ipv4('10.0.0.1', '10.255.0.1', 6, P.tcp(40000, 443, P.bytes(64)))));
const tcpSyn = Buffer.from(
  P.eth(P.ETH_IP, P.ipv4('10.0.0.1', '10.255.0.1', 6, P.tcp(40001, 80, P.bytes(0), 5, P.TCP_SYN))),
);
const tcp = process.env.TCP === '1';
const variants = objs.flatMap((o) => {
  const heavy = TestKernel.load({}, o);
  const light = TestKernel.load({ candThreshold: 2 ** 52 }, o);
  return [
    { name: `${path.basename(o)} heavy`, fd: heavy.programFd('tma_xdp'), frame },
    { name: `${path.basename(o)} light`, fd: light.programFd('tma_xdp'), frame },
    ...(tcp
      ? [
          { name: `${path.basename(o)} heavy TCP ACK`, fd: heavy.programFd('tma_xdp'), frame: tcpAck },
          { name: `${path.basename(o)} light TCP SYN`, fd: light.programFd('tma_xdp'), frame: tcpSyn },
        ]
      : []),
  ];
});
const samples = new Map<string, number[]>();
for (let r = 0; r < rounds; r++)
  for (const v of [{ name: 'no-op', fd: noop, frame }, ...variants]) {
    const s = samples.get(v.name) ?? [];
    s.push(testRun(v.fd, v.frame, repeat).duration);
    samples.set(v.name, s);
  }
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
const base = median(samples.get('no-op')!);
for (const [name, s] of samples)
  console.log(
    `  ${name.padEnd(40)}${String(median(s)).padStart(6)}${String(median(s) - base).padStart(6)}  [${s.join(' ')}]`,
  );
