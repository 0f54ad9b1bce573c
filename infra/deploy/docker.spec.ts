// infra/Dockerfile without a Docker engine: hadolint on the file, and its build stage run for real outside Docker.
// The build stage is one script (infra/docker/build-steps.sh); here it runs in a fresh directory holding exactly the
// tracked files the stage COPYs, so a missing COPY, a lock file `npm install` rejects or a project that does not
// build fails this test. That run installs ~1 GB of packages (from npm's cache when warm: ~1.5 min), so a pass is
// remembered under $TMA_STATE_DIR keyed by a digest of everything it depends on except TypeScript and C sources,
// which the rest of the suite builds anyway: the Dockerfile, the script, the lock file, every package.json and
// tsconfig, and the list of copied files.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, STATE_DIR, describeIf, has, pythonTools, run } from './support';

const DOCKERFILE = path.join(ROOT, 'infra', 'Dockerfile');

/** The build stage's COPY sources (the first stage, up to the next FROM; COPY --from excluded). */
function buildStageCopies(text: string): string[] {
  const stage = text.split(/^FROM /m)[1];
  return [...stage.matchAll(/^COPY (?!--)(.+)$/gm)].flatMap((m) => m[1].trim().split(/\s+/).slice(0, -1));
}

describeIf(['python3', 'npm', 'git', 'make'].filter((c) => !has(c)))('infra/Dockerfile', () => {
  let bin: string;
  beforeAll(() => {
    const tools = pythonTools();
    if (tools.error) throw new Error(tools.error);
    bin = tools.bin;
  }, 300_000);

  it('passes hadolint, which does catch a bad instruction', () => {
    const ok = run(path.join(bin, 'hadolint'), ['--no-color', DOCKERFILE]);
    expect(ok.stdout + ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tma-hadolint-'));
    try {
      const bad = path.join(tmp, 'Dockerfile');
      fs.writeFileSync(bad, fs.readFileSync(DOCKERFILE, 'utf8').replace('WORKDIR /src', 'RUN cd /src'));
      const r = run(path.join(bin, 'hadolint'), ['--no-color', bad]);
      expect(r.status).not.toBe(0);
      expect(r.stdout).toContain('DL3003');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('its build stage runs infra/docker/build-steps.sh over files that all exist', () => {
    const text = fs.readFileSync(DOCKERFILE, 'utf8');
    const stage = text.split(/^FROM /m)[1];
    expect(stage).toMatch(/^RUN bash infra\/docker\/build-steps\.sh$/m);
    expect(stage).not.toMatch(/npm ci/);
    for (const src of buildStageCopies(text)) expect(fs.existsSync(path.join(ROOT, src))).toBe(true);
  });

  it(
    'its build stage installs the locked tree, builds every project and prunes, in a fresh copy',
    () => {
      const sources = buildStageCopies(fs.readFileSync(DOCKERFILE, 'utf8'));
      const files = run('git', ['ls-files', '--cached', '--others', '--exclude-standard', '--', ...sources], {
        cwd: ROOT,
      })
        .stdout.trim()
        .split('\n');
      const digest = createHash('sha256');
      digest.update(files.join('\n'));
      for (const f of files.filter((f) =>
        /(^|\/)(package(-lock)?\.json|tsconfig[^/]*\.json|Dockerfile|build-steps\.sh)$/.test(f),
      ))
        digest.update(f).update(fs.readFileSync(path.join(ROOT, f)));
      digest.update(fs.readFileSync(DOCKERFILE));
      const stamp = path.join(STATE_DIR, 'docker-build-steps', `${digest.digest('hex').slice(0, 16)}.ok`);
      if (fs.existsSync(stamp)) {
        console.info(
          `infra/Dockerfile build stage: passed before for these inputs (${path.basename(stamp)}), not rerun`,
        );
        return;
      }

      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tma-docker-build-'));
      try {
        const copy = run(
          'sh',
          [
            '-c',
            `git ls-files -z --cached --others --exclude-standard -- "$@" | xargs -0 cp --parents -t "${tmp}"`,
            'sh',
            ...sources,
          ],
          {
            cwd: ROOT,
          },
        );
        expect(copy.stderr).toBe('');
        // npm from the machine, as in the image (node:22); packages from npm's cache where it has them
        const env = { ...process.env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' };
        const r = run('bash', ['infra/docker/build-steps.sh'], { cwd: tmp, env, timeout: 600_000 });
        if (r.status !== 0) throw new Error(`build-steps.sh failed (${r.status}):\n${r.stderr.slice(-4000)}`);
        for (const app of ['edge-agent', 'aggregator', 'query-api'])
          expect(fs.existsSync(path.join(tmp, 'apps', app, 'dist', 'main.js'))).toBe(true);
        expect(fs.existsSync(path.join(tmp, 'bpf', 'dist', 'tma.bpf.o'))).toBe(true);
        // production dependencies stay (chdb for embedded ClickHouse, koffi for libbpf), development ones are gone
        for (const p of ['chdb', 'koffi', 'kafkajs', '@nestjs/core'])
          expect(fs.existsSync(path.join(tmp, 'node_modules', p, 'package.json'))).toBe(true);
        for (const p of ['typescript', 'jest', 'nx'])
          expect(fs.existsSync(path.join(tmp, 'node_modules', p, 'package.json'))).toBe(false);
        fs.mkdirSync(path.dirname(stamp), { recursive: true });
        fs.writeFileSync(stamp, `${new Date().toISOString()}\n`);
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    },
    15 * 60_000,
  );
});
