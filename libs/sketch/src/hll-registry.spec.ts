// The distinct-count registry (sketch-spec.json → HLL_SKETCHES) against the two places that fix its names outside
// this library: the snapshot's Avro schema and the applied migrations. A rename on either side fails here.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HLL_KINDS, HLL_SKETCHES, HllKind } from './spec.generated';

const REPO = path.join(__dirname, '..', '..', '..');
const AVRO = path.join(REPO, 'libs', 'schema', 'avro', 'sketch-snapshot.v1.avsc');
const MIGRATIONS = path.join(REPO, 'libs', 'storage', 'migrations');

describe('distinct-count registry', () => {
  it('numbers kinds 0..n-1 with unique names, wire fields and columns', () => {
    expect(HLL_SKETCHES.map((h) => h.kind)).toEqual([...HLL_SKETCHES.keys()]);
    expect(HLL_SKETCHES).toHaveLength(HLL_KINDS);
    expect(Object.values(HllKind)).toEqual(HLL_SKETCHES.map((h) => h.kind));
    for (const key of ['name', 'wireField', 'column', 'property'] as const)
      expect(new Set(HLL_SKETCHES.map((h) => h[key])).size).toBe(HLL_SKETCHES.length);
  });

  it('has every wire field as a bytes field of the snapshot schema', () => {
    const schema = JSON.parse(fs.readFileSync(AVRO, 'utf8')) as { fields: { name: string; type: unknown }[] };
    for (const h of HLL_SKETCHES) expect(schema.fields.find((f) => f.name === h.wireField)?.type).toBe('bytes');
  });

  it('has every column defined by a migration', () => {
    const sql = fs
      .readdirSync(MIGRATIONS)
      .filter((f) => f.endsWith('.sql'))
      .map((f) => fs.readFileSync(path.join(MIGRATIONS, f), 'utf8'))
      .join('\n');
    for (const h of HLL_SKETCHES) expect(sql).toMatch(new RegExp(`^\\s*${h.column} String\\b`, 'm'));
  });
});
