// Canonical form and CRC-64-AVRO against the vectors published with the Avro specification
// (share/test/data/schema-tests.txt in the Avro repository; fingerprints there are signed 64-bit decimals).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as avro from 'avsc';
import { parsingCanonicalForm, rabin64, schemaFingerprint } from './fingerprint';

const vectors: Array<[input: string, canonical: string, fingerprint: string]> = [
  ['"null"', '"null"', '7195948357588979594'],
  ['{"type":"null"}', '"null"', '7195948357588979594'],
  ['"int"', '"int"', '8247732601305521295'],
  ['"long"', '"long"', '-3434872931120570953'],
  ['"string"', '"string"', '-8142146995180207161'],
  ['[ "int" , {"type":"boolean"} ]', '["int","boolean"]', '5392556393470105090'],
  [
    '{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}',
    '{"name":"x.y.foo","type":"record","fields":[]}',
    '5916914534497305771',
  ],
  [
    '{"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"}',
    '{"name":"a.b.foo","type":"record","fields":[]}',
    '-4616218487480524110',
  ],
  [
    '{"fields":[], "type":"record", "name":"foo", "doc":"foo", "aliases":["foo","bar"]}',
    '{"name":"foo","type":"record","fields":[]}',
    '-4824392279771201922',
  ],
  [
    '{"fields":[{"type":"boolean","aliases":[],"name":"f1","default":"true"},{"order":"descending","name":"f2","doc":"Hello","type":"int"}],"type":"record","name":"foo"}',
    '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}',
    '-4860222112080293046',
  ],
  [
    '{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", "symbols":["A1", "A2"]}',
    '{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}',
    '-4448647247586288245',
  ],
  [
    '{"namespace":"x.y.z", "type":"fixed", "name":"foo", "doc":"foo bar", "size":32}',
    '{"name":"x.y.z.foo","type":"fixed","size":32}',
    '-3064184465700546786',
  ],
  ['{ "items":{"type":"null"}, "type":"array"}', '{"type":"array","items":"null"}', '-589620603366471059'],
  ['{ "values":"string", "type":"map"}', '{"type":"map","values":"string"}', '-8732877298790414990'],
  [
    '{"name":"PigValue","type":"record","fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}',
    '{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}',
    '-1759257747318642341',
  ],
];

describe('Parsing Canonical Form and CRC-64-AVRO', () => {
  it.each(vectors)('%s', (input, canonical, fingerprint) => {
    const schema = JSON.parse(input);
    expect(parsingCanonicalForm(schema)).toBe(canonical);
    const expected = BigInt.asUintN(64, BigInt(fingerprint));
    expect(rabin64(Buffer.from(canonical))).toBe(expected);
    // On the wire the fingerprint is little-endian.
    expect(schemaFingerprint(schema).readBigUInt64LE(0)).toBe(expected);
  });

  it('fingerprints the empty string as the polynomial constant', () => {
    expect(rabin64(new Uint8Array(0))).toBe(0xc15d213aa4d7a795n);
  });

  it('agrees with the canonical schema avsc derives for every .avsc in the repository', () => {
    const dir = path.join(__dirname, '..', 'avro');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.avsc'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const schema = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
      expect(parsingCanonicalForm(schema)).toBe(JSON.stringify(avro.Type.forSchema(schema).schema()));
    }
  });

  it('resolves names through nested namespaces and references like avsc', () => {
    const schema = {
      type: 'record',
      name: 'Outer',
      namespace: 'a.b',
      fields: [
        { name: 'f1', type: { type: 'fixed', name: 'Key', size: 4 } },
        { name: 'f2', type: 'Key' },
        { name: 'f3', type: { type: 'record', name: 'c.Inner', fields: [{ name: 'k', type: 'a.b.Key' }] } },
        { name: 'f4', type: { type: 'enum', name: 'E', namespace: '', symbols: ['X'] } },
        { name: 'f5', type: { type: 'array', items: 'c.Inner' } },
        { name: 'f6', type: ['null', 'c.Inner'] },
      ],
    };
    expect(parsingCanonicalForm(schema)).toBe(JSON.stringify(avro.Type.forSchema(schema as avro.Schema).schema()));
    expect(parsingCanonicalForm(schema)).toContain('"name":"c.Inner"');
    expect(parsingCanonicalForm(schema)).toContain('{"name":"f2","type":"a.b.Key"}');
    // {"type": "Key"} is the same reference as "Key" (avsc does not accept that spelling, the specification does).
    const spelled = {
      ...schema,
      fields: schema.fields.map((f) => (f.name === 'f2' ? { name: 'f2', type: { type: 'Key' } } : f)),
    };
    expect(parsingCanonicalForm(spelled)).toBe(parsingCanonicalForm(schema));
  });

  it('drops logical types, docs and defaults, which do not change the encoding', () => {
    const a = {
      type: 'record',
      name: 'r',
      fields: [{ name: 't', type: { type: 'long', logicalType: 'timestamp-millis' }, doc: 'x', default: 0 }],
    };
    const b = { type: 'record', name: 'r', fields: [{ name: 't', type: 'long' }] };
    expect(schemaFingerprint(a)).toEqual(schemaFingerprint(b));
    const c = { type: 'record', name: 'r', fields: [{ name: 't', type: 'int' }] };
    expect(schemaFingerprint(a)).not.toEqual(schemaFingerprint(c));
  });
});
