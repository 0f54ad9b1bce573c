// The checked-in TS types and schema registry must match libs/schema/avro/*.avsc: a stale file fails the suite.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as avro from 'avsc';
import { CURRENT_SNAPSHOT_VERSION, SNAPSHOT_SCHEMAS } from './generated/schemas.generated';

const root = path.join(__dirname, '..');

describe('generated schema files', () => {
  it('are up to date with the .avsc files (node libs/schema/tools/generate.js --check)', () => {
    const run = spawnSync(process.execPath, [path.join(root, 'tools', 'generate.js'), '--check'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('embed every .avsc version verbatim, the newest as current', () => {
    const list = (dir: string) =>
      fs
        .readdirSync(path.join(root, 'avro', dir))
        .filter((f) => f.endsWith('.avsc'))
        .map((f) => path.posix.join(dir, f));
    const files = [...list('.'), ...list('revisions')].sort();
    expect(SNAPSHOT_SCHEMAS.map((s) => s.file).sort()).toEqual(files);
    for (const s of SNAPSHOT_SCHEMAS) {
      expect(s.schema).toEqual(JSON.parse(fs.readFileSync(path.join(root, 'avro', s.file), 'utf8')));
    }
    expect(CURRENT_SNAPSHOT_VERSION).toBe(Math.max(...SNAPSHOT_SCHEMAS.map((s) => s.version)));
  });

  it('--check notices a stale file', () => {
    // Run the generator against a copy of the project with one edited .avsc, so the real tree is untouched.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tma-schema-'));
    try {
      fs.cpSync(path.join(root, 'avro'), path.join(tmp, 'avro'), { recursive: true });
      fs.cpSync(path.join(root, 'tools'), path.join(tmp, 'tools'), { recursive: true });
      fs.cpSync(path.join(root, 'src', 'generated'), path.join(tmp, 'src', 'generated'), { recursive: true });
      const file = path.join(tmp, 'avro', `sketch-snapshot.v${CURRENT_SNAPSHOT_VERSION}.avsc`);
      const schema = JSON.parse(fs.readFileSync(file, 'utf8'));
      schema.fields.push({ name: 'extra', type: 'long', default: 0 });
      fs.writeFileSync(file, JSON.stringify(schema));
      const env = { ...process.env, NODE_PATH: path.join(root, '..', '..', 'node_modules') };
      const run = spawnSync(process.execPath, [path.join(tmp, 'tools', 'generate.js'), '--check'], {
        encoding: 'utf8',
        env,
      });
      expect(run.status).toBe(1);
      expect(run.stderr).toContain('stale');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('every schema parses with avsc and has a record at the top', () => {
    for (const s of SNAPSHOT_SCHEMAS) expect(avro.Type.forSchema(s.schema as avro.Schema).typeName).toBe('record');
  });
});
