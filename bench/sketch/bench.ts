// Sketch library benchmark: per-operation times next to a plain-JavaScript baseline measured in the same run, and
// encoded snapshot sizes. Run: npx tsc -p bench/sketch && npx node bench/sketch/dist/bench/sketch/bench.js
import * as os from 'node:os';
import {
  Candidate,
  CountMinSketch,
  cmsParameters,
  HyperLogLog,
  decodeCandidates,
  decodeCountMinSketch,
  decodeHyperLogLog,
  portsKey,
  dstKey,
  encodeCandidates,
  encodeCountMinSketch,
  encodeHyperLogLog,
  hashKeyInto,
  mergeEncodedCountMinSketch,
  mergeEncodedHyperLogLog,
  srcKey,
} from '../../libs/sketch/src';
import { Rng, makeFlows, makeStream, countStream } from '../../libs/sketch/src/testing';
import { simdActive, useSimd } from '../../libs/sketch/src/wasm/simd';
import { CmsWindow, HllWindow } from '../../libs/sketch/src/wasm/sketch-windows';

/**
 * Median CPU time per call in µs over `rounds` batches of `batch` calls, after a warm-up batch. CPU time (user +
 * system of this process) rather than wall time: the machines are shared, and time spent descheduled is not ours.
 */
// TMA_BENCH_CMS=DxB measures a CMS of D rows of 2^B cells instead of the spec's shape (what a wider sketch would
// cost); unset, the spec's.
const CMS = ((m) => (m ? { depth: Number(m[1]), widthBits: Number(m[2]) } : {}))(
  /^(\d+)x(\d+)$/.exec(process.env.TMA_BENCH_CMS ?? ''),
);
const CMS_SHAPE = cmsParameters(CMS);

function time(fn: () => void, batch: number, rounds = 15): number {
  for (let i = 0; i < batch; i++) fn();
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < batch; i++) fn();
    const d = process.cpuUsage(t0);
    samples.push((d.user + d.system) / batch);
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1];
}

/**
 * Like time(), for two variants measured in alternating batches (A, B, A, B, …), so that drifts of a shared machine
 * and of the garbage collector's state hit both alike. `setup(true)` runs before A's batches, `setup(false)` before B's.
 */
function timeAB(fn: () => void, setup: (a: boolean) => void, batch: number, rounds = 15): [number, number] {
  const samples: [number[], number[]] = [[], []];
  for (let r = -1; r < rounds; r++) {
    for (const a of [true, false]) {
      setup(a);
      const t0 = process.cpuUsage();
      for (let i = 0; i < batch; i++) fn();
      const d = process.cpuUsage(t0);
      if (r >= 0) samples[a ? 0 : 1].push((d.user + d.system) / batch); // round −1 warms up both
    }
  }
  setup(true);
  const median = (s: number[]) => s.sort((x, y) => x - y)[s.length >> 1];
  return [median(samples[0]), median(samples[1])];
}

interface Snapshot {
  packets: CountMinSketch;
  bytes: CountMinSketch;
  hlls: HyperLogLog[]; // distinct flows, sources, destinations, destination ports
  candidates: Candidate[];
}

/** One host interval: `flowCount` flows, `packetCount` packets drawn Zipf 1.1, candidates = the top `cand` flows. */
function snapshot(seed: number, flowCount: number, packetCount: number, cand: number): Snapshot {
  const rng = new Rng(seed);
  const flows = makeFlows(flowCount, rng);
  const counts = countStream(makeStream('zipf-1.1', flowCount, packetCount, rng), flowCount);
  const s: Snapshot = {
    packets: new CountMinSketch(CMS),
    bytes: new CountMinSketch(CMS),
    hlls: [0, 1, 2, 3].map(() => new HyperLogLog()),
    candidates: [],
  };
  const h = new Uint32Array(2);
  const k24 = new Uint8Array(24);
  const k8 = new Uint8Array(8);
  const order: number[] = [];
  for (let f = 0; f < flowCount; f++) {
    if (counts[f] === 0) continue;
    order.push(f);
    const bytes = counts[f] * (64 + rng.int(1437));
    s.packets.add(flows.hi[f], flows.lo[f], counts[f]);
    s.bytes.add(flows.hi[f], flows.lo[f], bytes);
    s.hlls[0].add(flows.hi[f], flows.lo[f]);
    const key = flows.keys.subarray(f * 40, f * 40 + 40);
    hashKeyInto(srcKey(key.subarray(0, 16), k24), h);
    s.hlls[1].add(h[0], h[1]);
    hashKeyInto(dstKey(key.subarray(16, 32), k24), h);
    s.hlls[2].add(h[0], h[1]);
    hashKeyInto(portsKey((key[34] << 8) | key[35], key[36], k8), h);
    s.hlls[3].add(h[0], h[1]);
  }
  order.sort((a, b) => counts[b] - counts[a]);
  s.candidates = order
    .slice(0, cand)
    .map((f) => ({ key: flows.keys.slice(f * 40, f * 40 + 40), packets: counts[f] - 5, bytes: (counts[f] - 5) * 700 }));
  return s;
}

function encode(s: Snapshot) {
  return {
    packets: encodeCountMinSketch(s.packets),
    bytes: encodeCountMinSketch(s.bytes),
    hlls: s.hlls.map((h) => encodeHyperLogLog(h)),
    candidates: encodeCandidates(s.candidates),
  };
}
type Encoded = ReturnType<typeof encode>;
const size = (e: Encoded) =>
  e.packets.length + e.bytes.length + e.hlls.reduce((a, b) => a + b.length, 0) + e.candidates.length;

/** A host's or a window's two CMS and four HLL, in any form. */
type Six<C, H> = { packets: C; bytes: C; hlls: H[] };

/** A snapshot's six sketches merged into a window's six, one CMS and one HLL at a time. */
function mergeSix<C, H, S, T>(
  into: Six<C, H>,
  from: Six<S, T>,
  cms: (c: C, s: S) => unknown,
  hll: (h: H, t: T) => unknown,
): void {
  cms(into.packets, from.packets);
  cms(into.bytes, from.bytes);
  for (let i = 0; i < 4; i++) hll(into.hlls[i], from.hlls[i]);
}

function main(): void {
  const row = (name: string, value: string, goal = '', note = '') =>
    console.log(`${name.padEnd(44)} ${value.padStart(14)}  ${goal.padEnd(12)} ${note}`);
  console.log(
    `node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, ${os.platform()} ${os.release()}, load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  console.log(
    'times are CPU time per operation (median of 15 batches); ratios compare with a baseline measured in the same run',
  );

  const busy = snapshot(1, 300_000, 5_000_000, 2048); // ~10 s at 500 kpps
  const quiet = snapshot(2, 99, 20_000, 40);
  const busyEnc = encode(busy);
  const quietEnc = encode(quiet);

  console.log('\n-- sizes on the wire (2 CMS + 4 HLL + candidates, sketch headers included)');
  row(
    'quiet host (99 flows, 20k packets)',
    `${size(quietEnc)} B`,
    '≤ 4096 B',
    `CMS ${quietEnc.packets.length}+${quietEnc.bytes.length}, HLL ${quietEnc.hlls.map((b) => b.length).join('+')}, cand ${quietEnc.candidates.length}`,
  );
  row(
    'busy host (300k flows, 5M packets)',
    `${(size(busyEnc) / 1024).toFixed(1)} KiB`,
    '≤ 256 KiB',
    `CMS ${busyEnc.packets.length}+${busyEnc.bytes.length}, HLL ${busyEnc.hlls.map((b) => b.length).join('+')}, cand ${busyEnc.candidates.length}`,
  );

  console.log('\n-- merge one snapshot (2 CMS + 4 HLL) into a window');
  const window: Snapshot = {
    packets: new CountMinSketch(CMS),
    bytes: new CountMinSketch(CMS),
    hlls: [0, 1, 2, 3].map(() => new HyperLogLog()),
    candidates: [],
  };
  // Merges the busy host's sketches into a window of either kind.
  const mergeBusy = (into: Six<{ merge(s: CountMinSketch): unknown }, { merge(h: HyperLogLog): unknown }>) =>
    mergeSix(
      into,
      busy,
      (c, s) => c.merge(s),
      (h, t) => h.merge(t),
    );
  const mergeTyped = () => mergeBusy(window);
  // Baseline: the same work on plain JavaScript arrays.
  const plain = {
    wp: Array.from(window.packets.cells),
    wb: Array.from(window.bytes.cells),
    wh: window.hlls.map((h) => Array.from(h.registers)),
    sp: Array.from(busy.packets.cells),
    sb: Array.from(busy.bytes.cells),
    sh: busy.hlls.map((h) => Array.from(h.registers)),
  };
  const mergePlain = () => {
    for (let i = 0; i < plain.wp.length; i++) plain.wp[i] += plain.sp[i];
    for (let i = 0; i < plain.wb.length; i++) plain.wb[i] += plain.sb[i];
    for (let k = 0; k < 4; k++) {
      const a = plain.wh[k];
      const b = plain.sh[k];
      for (let i = 0; i < a.length; i++) a[i] = Math.max(a[i], b[i]);
    }
  };
  const [tTyped, tScalar] = timeAB(mergeTyped, useSimd, 300);
  const tPlain = time(mergePlain, 300);
  row(`typed arrays (library, SIMD ${simdActive() ? 'on' : 'unavailable'})`, `${tTyped.toFixed(1)} µs`, '≤ 50 µs');
  row(
    'library with SIMD off (JS loops only)',
    `${tScalar.toFixed(1)} µs`,
    '',
    `JS-only / library = ${(tScalar / tTyped).toFixed(2)}×`,
  );
  row(
    'plain JS arrays (baseline)',
    `${tPlain.toFixed(1)} µs`,
    '',
    `baseline / library = ${(tPlain / tTyped).toFixed(2)}×`,
  );
  // The same merge into windows whose counters live in WebAssembly memory (f64x2.add and i8x16.max_u in place).
  const wasmWindow = {
    packets: new CmsWindow(CMS),
    bytes: new CmsWindow(CMS),
    hlls: [0, 1, 2, 3].map(() => new HllWindow()),
  };
  const tWasmWindow = time(() => mergeBusy(wasmWindow), 300);
  row(
    `windows in WebAssembly memory (${wasmWindow.packets.simd ? 'SIMD' : 'JS fallback'})`,
    `${tWasmWindow.toFixed(1)} µs`,
    '≤ 50 µs',
    `CmsWindow + HllWindow; library / these = ${(tTyped / tWasmWindow).toFixed(2)}×`,
  );
  const tCms2 = time(() => {
    window.packets.merge(busy.packets);
    window.bytes.merge(busy.bytes);
  }, 300);
  const [tHll4, tHll4Scalar] = timeAB(
    () => {
      for (let i = 0; i < 4; i++) window.hlls[i].merge(busy.hlls[i]);
    },
    useSimd,
    1000,
  );
  row('  of which 2 CMS', `${tCms2.toFixed(1)} µs`);
  row('  of which 4 HLL (SIMD)', `${tHll4.toFixed(1)} µs`);
  row(
    '  4 HLL with JS loops (SWAR, 4 per step)',
    `${tHll4Scalar.toFixed(1)} µs`,
    '',
    `JS / SIMD = ${(tHll4Scalar / tHll4).toFixed(2)}×`,
  );
  const mergeBytes = (e: Encoded) => () => mergeSix(window, e, mergeEncodedCountMinSketch, mergeEncodedHyperLogLog);
  const tBusyBytes = time(mergeBytes(busyEnc), 100);
  row(
    'busy host, straight from bytes (validated)',
    `${tBusyBytes.toFixed(1)} µs`,
    '',
    'decode + merge without allocation',
  );
  const tBusyBytesWasm = time(
    () =>
      mergeSix(
        wasmWindow,
        busyEnc,
        (c, b) => c.mergeEncoded(b),
        (h, b) => h.mergeEncoded(b),
      ),
    100,
  );
  row(
    '  the same into windows in WebAssembly memory',
    `${tBusyBytesWasm.toFixed(1)} µs`,
    '',
    `library / these = ${(tBusyBytes / tBusyBytesWasm).toFixed(2)}×`,
  );
  const tQuietBytes = time(mergeBytes(quietEnc), 2000);
  row('quiet host, straight from bytes (validated)', `${tQuietBytes.toFixed(1)} µs`, '', 'sparse: only non-zero cells');
  const calib = new Float64Array(16384);
  const calibSrc = busy.packets.cells.subarray(0, 16384);
  const tCalib = time(() => {
    for (let i = 0; i < 16384; i++) calib[i] += calibSrc[i];
  }, 1000);
  row('calibration: add two Float64Array(16384)', `${tCalib.toFixed(1)} µs`, '', 'one CMS merge, its arrays in L2');
  // Floor: a merge reads both sides and writes the window, so it cannot beat copying the snapshot over the window.
  const tCopy = time(() => {
    window.packets.cells.set(busy.packets.cells);
    window.bytes.cells.set(busy.bytes.cells);
    for (let i = 0; i < 4; i++) window.hlls[i].registers.set(busy.hlls[i].registers);
  }, 300);
  row(
    'floor: copy the snapshot over the window',
    `${tCopy.toFixed(1)} µs`,
    '',
    `memcpy of the same 576 KiB; library / floor = ${(tTyped / tCopy).toFixed(2)}×`,
  );

  console.log('\n-- estimates');
  const keys = busy.candidates.map((c) => c.key);
  let ki = 0;
  let sink = 0;
  const tEstKey = time(() => {
    sink += window.packets.estimateKey(keys[ki++ & 1023]);
  }, 100_000);
  const hashed = new Uint32Array(2048);
  keys.slice(0, 1024).forEach((k, i) => hashKeyInto(k, hashed, 2 * i));
  const tEst = time(() => {
    const i = ki++ & 1023;
    sink += window.packets.estimate(hashed[2 * i], hashed[2 * i + 1]);
  }, 100_000);
  row('CMS point estimate from a 40-byte key', `${(tEstKey * 1000).toFixed(0)} ns`, '≤ 1 µs', 'hash + 4 cells');
  row('CMS point estimate from a hash', `${(tEst * 1000).toFixed(0)} ns`, '≤ 1 µs');
  const tHll = time(() => {
    sink += window.hlls[0].estimate();
  }, 200);
  row('HLL estimate (p = 14, Ertl improved)', `${tHll.toFixed(1)} µs`, '≤ 50 µs');
  const plainRegs = Array.from(window.hlls[0].registers);
  const tHllPlain = time(() => {
    // Baseline: classic raw HLL sum over a plain array (no corrections).
    let z = 0;
    for (let i = 0; i < plainRegs.length; i++) z += Math.pow(2, -plainRegs[i]);
    sink += z;
  }, 200);
  row(
    'plain-array harmonic sum (baseline)',
    `${tHllPlain.toFixed(1)} µs`,
    '',
    `baseline / library = ${(tHllPlain / tHll).toFixed(2)}×`,
  );

  console.log('\n-- serialization of a busy host');
  const decodeAll = (e: Encoded) => {
    decodeCountMinSketch(e.packets, CMS);
    decodeCountMinSketch(e.bytes, CMS);
    for (const h of e.hlls) decodeHyperLogLog(h);
    decodeCandidates(e.candidates);
  };
  const tDecode = time(() => decodeAll(busyEnc), 30);
  row('decode 2 CMS + 4 HLL + 2048 candidates', `${tDecode.toFixed(0)} µs`, '≤ 200 µs');
  const [tDecodeSketches, tDecodeScalar] = timeAB(
    () => {
      decodeCountMinSketch(busyEnc.packets, CMS);
      decodeCountMinSketch(busyEnc.bytes, CMS);
      for (const h of busyEnc.hlls) decodeHyperLogLog(h);
    },
    useSimd,
    30,
  );
  row('  of which 2 CMS + 4 HLL', `${tDecodeSketches.toFixed(0)} µs`);
  // Baseline: the previous dense decoder, per cell through a DataView at unaligned offsets, row sums checked.
  const dataViewDecode = (b: Uint8Array) => {
    const cw = b[20];
    const cells = new Float64Array(CMS_SHAPE.depth << CMS_SHAPE.widthBits);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    let pos = 21;
    let total = 0;
    for (let row = 0, i = 0; row < CMS_SHAPE.depth; row++) {
      let sum = 0;
      for (const end = i + (1 << CMS_SHAPE.widthBits); i < end; i++, pos += cw) {
        const v = cw === 3 ? dv.getUint16(pos, true) + b[pos + 2] * 65536 : dv.getUint32(pos, true);
        cells[i] = v;
        sum += v;
      }
      if (row === 0) total = sum;
      else if (sum !== total) throw new Error('row sums differ');
    }
    return cells;
  };
  const tCmsDecode = time(() => {
    decodeCountMinSketch(busyEnc.packets, CMS);
    decodeCountMinSketch(busyEnc.bytes, CMS);
  }, 50);
  const tCmsDataView = time(() => {
    dataViewDecode(busyEnc.packets);
    dataViewDecode(busyEnc.bytes);
  }, 50);
  row(
    `  of which 2 CMS (cells of ${busyEnc.packets[20]} and ${busyEnc.bytes[20]} bytes)`,
    `${tCmsDecode.toFixed(0)} µs`,
  );
  row(
    '  2 CMS per cell via DataView (baseline)',
    `${tCmsDataView.toFixed(0)} µs`,
    '',
    `baseline / library = ${(tCmsDataView / tCmsDecode).toFixed(2)}×`,
  );
  row(
    '  2 CMS + 4 HLL with SIMD off',
    `${tDecodeScalar.toFixed(0)} µs`,
    '',
    `JS-only / library = ${(tDecodeScalar / tDecodeSketches).toFixed(2)}×`,
  );
  const json = JSON.stringify({
    p: Array.from(busy.packets.cells),
    b: Array.from(busy.bytes.cells),
    h: busy.hlls.map((h) => Array.from(h.registers)),
  });
  const tJson = time(() => JSON.parse(json), 10);
  row(
    'JSON.parse of the same sketches (baseline)',
    `${tJson.toFixed(0)} µs`,
    '',
    `baseline / library = ${(tJson / tDecodeSketches).toFixed(2)}×, ${(json.length / 1024).toFixed(0)} KiB as JSON`,
  );
  const tEncode = time(() => encode(busy), 10);
  row('encode 2 CMS + 4 HLL + 2048 candidates', `${tEncode.toFixed(0)} µs`);
  const tDecodeQuiet = time(() => decodeAll(quietEnc), 500);
  row('decode a quiet host', `${tDecodeQuiet.toFixed(1)} µs`);

  if (sink === 42) console.log('');
}

main();
