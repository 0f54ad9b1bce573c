// infra/docker-compose.yml checked against the Compose specification by the reference loader (compose-go),
// since no Docker engine runs on the build machines.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const checker = path.resolve(__dirname, '../tools/compose-check');
const composeFile = path.join(__dirname, 'docker-compose.yml');

function check(file: string) {
  const r = spawnSync('go', ['run', '.', file], {
    cwd: checker,
    encoding: 'utf8',
    env: { ...process.env, TMA_API_TOKENS: 'read:example', TMA_HASH_SEED: '0x0123456789abcdef' },
    timeout: 300_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('infra/docker-compose.yml', () => {
  it('is valid and defines the whole stack', () => {
    const r = check(composeFile);
    expect(r.out).toContain('valid: services [aggregator clickhouse edge-agent kafka query-api]');
    expect(r.status).toBe(0);
  });

  it('the checker rejects a file that breaks the specification', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tma-compose-'));
    const broken = path.join(dir, 'docker-compose.yml');
    writeFileSync(broken, readFileSync(composeFile, 'utf8').replace('privileged: true', 'privileged: maybe'));
    const r = check(broken);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/privileged/);
  });
});
