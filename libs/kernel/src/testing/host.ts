// Preconditions of the kernel tests and benchmarks: where the repository and the built object are, building the
// object, and the root guard (BPF_PROG_TEST_RUN, map access, namespaces and attachments need root).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The repository root: the nearest ancestor holding bpf/tma.bpf.c (works from sources and from compiled output). */
export const REPO_ROOT = ((): string => {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'bpf', 'tma.bpf.c'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no bpf/tma.bpf.c above ${__dirname}`);
  }
})();

/** The product's object, as make -C bpf builds it. */
export const OBJECT_PATH = path.join(REPO_ROOT, 'bpf', 'dist', 'tma.bpf.o');

/** make -C bpf: incremental, so cheap when nothing changed. */
export function buildObject(): void {
  const r = spawnSync('make', ['-s', '-C', 'bpf'], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`make -C bpf failed:\n${r.stdout}${r.stderr}`);
}

export const isRoot = (): boolean => process.getuid?.() === 0;

/**
 * True when tests that need root can run here. Without root they are skipped with a message naming `what`,
 * except in CI (CI=true), where they must run: there this throws.
 */
export function privileged(what: string): boolean {
  if (isRoot()) return true;
  const msg = `${what} need root (or CAP_BPF + CAP_NET_ADMIN)`;
  if (process.env.CI === 'true') throw new Error(`${msg}; CI=true, failing`);
  console.warn(`${msg}: skipped`);
  return false;
}

/** `describe` when privileged(what), else `describe.skip`. */
export const rootDescribe = (what: string): jest.Describe => (privileged(what) ? describe : describe.skip);
