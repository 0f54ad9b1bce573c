// Where a process finds its hash seed: variable or file, validated with errors naming the variable; never silent
// about the public seed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expandHashSeed, PUBLIC_HASH_KEY } from './hash';
import { resolveHashSeed } from './seed-source';
import { PUBLIC_HASH_SEED } from './spec.generated';

describe('resolveHashSeed', () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tma-seed-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string, mode = 0o600) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text, { mode });
    fs.chmodSync(p, mode);
    return p;
  };

  it('takes TMA_HASH_SEED, expanded, without warnings', () => {
    const r = resolveHashSeed({ TMA_HASH_SEED: '0x0123456789abcdef' });
    expect(r.seed).toEqual(expandHashSeed(0x0123456789abcdefn));
    expect(r.source).toBe('TMA_HASH_SEED');
    expect(r.warnings).toEqual([]);
  });

  it('takes a seed file (a trailing newline is fine) and warns when others may read it', () => {
    const own = file('own', '0123456789ABCDEF\n');
    expect(resolveHashSeed({ TMA_HASH_SEED_FILE: own })).toEqual({
      seed: expandHashSeed(0x0123456789abcdefn),
      source: `TMA_HASH_SEED_FILE ${own}`,
      warnings: [],
    });
    const open = file('open', '0x0123456789abcdef', 0o644);
    expect(resolveHashSeed({ TMA_HASH_SEED_FILE: open }).warnings).toEqual([expect.stringMatching(/mode 0644/)]);
  });

  it('falls back to the public seed with a warning when neither is set (empty counts as unset)', () => {
    for (const env of [{}, { TMA_HASH_SEED: '', TMA_HASH_SEED_FILE: '' }]) {
      const r = resolveHashSeed(env);
      expect(r.seed).toBe(PUBLIC_HASH_KEY);
      expect(r.warnings).toEqual([expect.stringContaining(`PUBLIC seed ${PUBLIC_HASH_SEED}`)]);
    }
    expect(resolveHashSeed({ TMA_HASH_SEED: PUBLIC_HASH_SEED }).warnings).toEqual([
      expect.stringContaining('holds the PUBLIC seed'),
    ]);
  });

  it('refuses malformed seeds, unreadable files and both settings at once, naming the variable', () => {
    expect(() => resolveHashSeed({ TMA_HASH_SEED: '1234' })).toThrow(/^TMA_HASH_SEED: .*16 hex digits/);
    const bad = file('bad', 'not a seed');
    expect(() => resolveHashSeed({ TMA_HASH_SEED_FILE: bad })).toThrow(/^TMA_HASH_SEED_FILE \(.*bad\): .*16 hex/);
    expect(() => resolveHashSeed({ TMA_HASH_SEED_FILE: path.join(dir, 'missing') })).toThrow(
      /TMA_HASH_SEED_FILE: cannot read/,
    );
    expect(() => resolveHashSeed({ TMA_HASH_SEED: '0x0123456789abcdef', TMA_HASH_SEED_FILE: bad })).toThrow(/not both/);
  });
});
