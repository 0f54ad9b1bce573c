// Set-up the kernel specs of the agent share: the BPF object and the CLI built once, a veth pair of the suite's own,
// and a fresh spool directory per test.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildObject, VethNs } from '@tma/kernel/testing';
import { ROOT } from './cli';

/** Registers the suite's hooks; `dir()` is the current test's directory. Destroying `ns` is left to the caller. */
export function vethSuite(dirPrefix: string): { ns: VethNs; dir: () => string } {
  const ns = new VethNs();
  let dir = '';
  beforeAll(() => {
    buildObject();
    execFileSync('npx', ['tsc', '-b', path.join(ROOT, 'apps', 'edge-agent')], { cwd: ROOT, stdio: 'pipe' });
    ns.create();
  }, 180_000);
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), dirPrefix))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { ns, dir: () => dir };
}
