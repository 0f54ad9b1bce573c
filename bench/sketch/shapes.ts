// Heavy-hitter precision by CMS shape: how often a flow below φ·N gets a min-estimate at or above it, for the spec's
// 4 × 2^12 and wider or shallower shapes, over Zipf-distributed streams. Every flow is a candidate here, so this is the
// best any candidate table can do with estimates from the CMS alone (docs/sketch.md, "Heavy hitters").
// Run: npx tsc -p bench/sketch && npx node bench/sketch/dist/bench/sketch/shapes.js [zipf exponent, default 1.1]
import { CountMinSketch, hashWordsInto } from '../../libs/sketch/src';
import { Rng, Zipf } from '../../libs/sketch/src/testing';

const FLOWS = 100_000;
const PACKETS = 1_000_000;
const PHI = 0.001;
const SEEDS = 12;
const SHAPES: [depth: number, widthBits: number][] = [
  [4, 12],
  [3, 13],
  [4, 13],
  [2, 14],
  [3, 14],
  [4, 14],
  [2, 15],
];
const exponent = Number(process.argv[2] ?? 1.1);

const hi = new Uint32Array(FLOWS);
const lo = new Uint32Array(FLOWS);
const h = new Uint32Array(2);
const words = new Uint32Array([0, 0x5eed]);
for (let f = 0; f < FLOWS; f++) {
  words[0] = f;
  hashWordsInto(words, 0, 2, h);
  hi[f] = h[0];
  lo[f] = h[1];
}

console.log(`Zipf ${exponent}, ${FLOWS} flows, ${PACKETS} packets, φ = ${PHI}: precision % (true heavy / reported)`);
const rows = new Map<string, string[]>();
for (let seed = 1; seed <= SEEDS; seed++) {
  const rng = new Rng(100 + seed);
  const zipf = new Zipf(FLOWS, exponent);
  const counts = new Float64Array(FLOWS);
  for (let i = 0; i < PACKETS; i++) counts[zipf.sample(rng)]++;
  for (const [depth, widthBits] of SHAPES) {
    const cms = new CountMinSketch({ depth, widthBits });
    for (let f = 0; f < FLOWS; f++) if (counts[f] > 0) cms.add(hi[f], lo[f], counts[f]);
    let reported = 0;
    let heavy = 0;
    for (let f = 0; f < FLOWS; f++)
      if (cms.estimate(hi[f], lo[f]) >= PHI * PACKETS) {
        reported++;
        if (counts[f] >= PHI * PACKETS) heavy++;
      }
    const name = `${depth} × 2^${widthBits}`;
    rows.set(name, [...(rows.get(name) ?? []), `${((100 * heavy) / reported).toFixed(1)} (${heavy}/${reported})`]);
  }
}
for (const [name, cells] of rows) console.log(`  ${name.padEnd(10)} ${cells.join('  ')}`);
