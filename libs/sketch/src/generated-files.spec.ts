// The generated C header, TS constants and test vectors must match sketch-spec.json: a stale file fails the suite.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as spec from './spec.generated';
import vectors from '../spec/test-vectors.json';

const generator = path.join(__dirname, '..', 'spec', 'generate.js');

describe('generated sketch specification files', () => {
  it('are up to date with sketch-spec.json (node libs/sketch/spec/generate.js --check)', () => {
    const run = spawnSync(process.execPath, [generator, '--check'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('agree with the vectors on the public seed and parameters', () => {
    expect(vectors.seeds[0].seed).toBe(spec.PUBLIC_HASH_SEED);
    expect(vectors.seeds[0].key.k).toHaveLength(spec.HASH_KEY_WORDS);
    expect(vectors.params).toEqual({
      cmsDepth: spec.CMS_DEPTH,
      cmsWidthBits: spec.CMS_WIDTH_BITS,
      hllPrecision: spec.HLL_P,
    });
    expect(spec.CMS_WIDTH).toBe(2 ** spec.CMS_WIDTH_BITS);
    expect(spec.HLL_M).toBe(2 ** spec.HLL_P);
  });
});
