// Bytes the heavy-prefix fields add to a snapshot, at their largest: every table full (32 prefixes per side, family
// and level, all 12 tables, IPv6 tables with 8-byte prefixes) with counts near 2^40 (long varints of 6 bytes), beside
// the same snapshot without them. Run: node bench/schema/prefix-size.js
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const LIB = path.join(__dirname, '../../libs/schema');
const SKETCH = path.join(LIB, '..', 'sketch');
for (const project of [SKETCH, LIB]) {
  const r = spawnSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-b', path.join(project, 'tsconfig.json')],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`build of ${project} failed:\n${r.stdout}${r.stderr}`);
}
const schema = {
  ...require(path.join(LIB, 'dist', 'index.js')),
  ...require(path.join(LIB, 'dist', 'testing', 'index.js')),
};
const sketch = require(path.join(SKETCH, 'dist', 'index.js'));

const pc = new sketch.PrefixCounts();
for (let t = 0; t < sketch.PREFIX_TABLES; t++) {
  for (let i = 0; i < sketch.SNAPSHOT_PREFIXES_PER_TABLE + 8; i++) {
    const big = 2 ** 40 + i * 7919;
    pc.put({
      table: t,
      lo: (i * 2654435761) >>> 0,
      hi: t % 6 >= 3 ? (i * 40503) >>> 0 : 0,
      packets: big,
      bytes: big * 1500,
      sincePackets: big - 5,
      sinceBytes: big * 1500 - 9000,
    });
  }
  pc.setFloor(t, 2 ** 39, 2 ** 39 * 1500);
}
const wire = sketch.prefixCountsToWire(pc);
const withPrefixes = schema.sampleSnapshot({
  prefixCounts: true,
  heavyPrefixes: wire.heavyPrefixes.map((p) => ({ ...p, prefix: Buffer.from(p.prefix) })),
  prefixFloors: wire.prefixFloors,
});
const without = schema.sampleSnapshot({ prefixCounts: false, heavyPrefixes: [], prefixFloors: [] });
const a = schema.encode(withPrefixes).length;
const b = schema.encode(without).length;
console.log(`prefixes listed: ${wire.heavyPrefixes.length}, floors: ${wire.prefixFloors.length}`);
console.log(
  `snapshot with prefixes ${a} B, without ${b} B: the prefix fields add ${a - b} B (${((a - b) / 1024).toFixed(1)} KiB)`,
);
