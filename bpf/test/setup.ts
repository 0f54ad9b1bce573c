// Shared preconditions of the kernel tests: root (BPF_PROG_TEST_RUN and map access) and a fresh object.
import { spawnSync } from 'node:child_process';
import { REPO_ROOT } from './tma';

/** True when the tests can run here. Without privileges they are skipped with a message, except in CI. */
export function privileged(): boolean {
  if (process.getuid?.() === 0) return true;
  const msg = 'bpf tests need root (or CAP_BPF + CAP_NET_ADMIN): skipped';
  if (process.env.CI === 'true') throw new Error(msg.replace('skipped', 'CI=true, failing'));
  console.warn(msg);
  return false;
}

/** make -C bpf: incremental, so cheap when nothing changed. */
export function buildObject(): void {
  const r = spawnSync('make', ['-s', '-C', 'bpf'], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`make -C bpf failed:\n${r.stdout}${r.stderr}`);
}
