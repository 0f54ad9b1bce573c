// The kernel's header-only hash (bpf/include/tma_hash.h) compiled for the host must reproduce every test vector,
// including the canonical key layout built from the C structs: C and TypeScript agree bit for bit.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import vectors from '../spec/test-vectors.json';
import prefixVectors from '../spec/prefix-vectors.json';

const repo = path.join(__dirname, '..', '..', '..');
const strip = (h: string) => h.replace(/^0x/, '');

function addrHex(key: string): [string, string] {
  return [key.slice(0, 32), key.slice(32, 64)];
}

describe('C hash header against test-vectors.json', () => {
  let binary: string;
  let dir: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tma-c-check-'));
    binary = path.join(dir, 'check');
    const cc = spawnSync(
      'cc',
      [
        '-std=c11',
        '-O2',
        '-Wall',
        '-Wextra',
        '-Werror',
        '-I',
        path.join(repo, 'bpf', 'include'),
        '-o',
        binary,
        path.join(__dirname, '..', 'spec', 'c-check', 'check.c'),
      ],
      { encoding: 'utf8' },
    );
    if (cc.error) throw new Error(`a C compiler (cc) is required for this test: ${cc.error.message}`);
    expect(cc.stderr).toBe('');
    expect(cc.status).toBe(0);
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reproduces constants, flow keys, hashes, CMS indices and HLL index/rank under each seed of the vectors', () => {
    const input: string[] = ['S'];
    const expected: string[] = [
      `S ${vectors.params.cmsDepth} ${vectors.params.cmsWidthBits} ${vectors.params.hllPrecision}`,
    ];
    for (const vs of vectors.seeds) {
      input.push(`K ${vs.key.k.map(strip).join(' ')} ${strip(vs.key.f)}`);
      for (const v of vs.flows) {
        const [src, dst] = addrHex(v.flow.key);
        input.push(`F ${src} ${dst} ${v.tuple.sport} ${v.tuple.dport} ${v.tuple.proto}`);
        const short = (k: { hi: string; lo: string; hllIndex: number; hllRank: number }) =>
          `${strip(k.hi)} ${strip(k.lo)} ${k.hllIndex} ${k.hllRank}`;
        expected.push(
          `F ${v.flow.key} ${strip(v.flow.hi)} ${strip(v.flow.lo)} ${v.flow.cms.join(' ')} ${v.flow.hllIndex} ${v.flow.hllRank}` +
            ` | ${short(v.src)} | ${short(v.dst)} | ${short(v.dport)}`,
        );
      }
      for (const v of vs.words) {
        input.push(`W ${v.words.length} ${v.words.map(strip).join(' ')}`);
        expected.push(`W ${strip(v.hi)} ${strip(v.lo)} ${v.cms.join(' ')} ${v.hllIndex} ${v.hllRank}`);
      }
      expect(vs.flows.length).toBeGreaterThanOrEqual(64);
    }
    for (const v of vectors.derive) {
      input.push(`D ${strip(v.hi)} ${strip(v.lo)}`);
      expected.push(`D ${v.cms.join(' ')} ${v.hllIndex} ${v.hllRank}`);
    }
    const run = spawnSync(binary, [], { input: input.join('\n') + '\n', encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout.trimEnd().split('\n')).toEqual(expected);
    expect(vectors.seeds.length).toBeGreaterThanOrEqual(2);
  });

  it('reproduces the prefix hash and set of every prefix of prefix-vectors.json under each seed', () => {
    const input: string[] = [];
    const expected: string[] = [];
    for (const vs of prefixVectors.seeds) {
      input.push(`K ${vs.key.k.map(strip).join(' ')} ${strip(vs.key.f)}`);
      for (const a of vs.addresses)
        for (const p of a.prefixes) {
          input.push(`P ${strip(p.lo)} ${strip(p.hi)} ${strip(p.meta)}`);
          expected.push(`P ${strip(p.hashHi)} ${strip(p.hashLo)} ${p.set}`);
        }
    }
    expect(expected.length).toBeGreaterThanOrEqual(48);
    const run = spawnSync(binary, [], { input: input.join('\n') + '\n', encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout.trimEnd().split('\n')).toEqual(expected);
  });
});
