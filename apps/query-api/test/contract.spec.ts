// The API against its own contract: Schemathesis (a standard OpenAPI and GraphQL fuzzer, from PyPI, pinned, installed
// once into a venv under the state directory) runs every check on the REST document and on the GraphQL schema of a
// live query API over real embedded ClickHouse with fixture rows; any failure fails the test.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DEFAULT_SQL_LIMITS, applyMigrations, createStorage, type Storage } from '@tma/storage';
import { FleetSimulator } from '@tma/fleet-sim';
import { createQueryApi, type QueryApi } from '../src/app';
import { parseTokens, type QueryApiConfig } from '../src/config';
import { JsonLogger } from '../src/observability';
import { PUBLIC_HASH_KEY } from '@tma/sketch';
import { buildPartials, detectThreats, floodTraffic, writePartials } from './fixture';

export const SCHEMATHESIS = 'schemathesis==4.32.5';
const TOKEN = 'contract-secret-0123456789';
// POST /v1/sql is run with this one (schemathesis.toml); every other operation with the read token.
const ADMIN_TOKEN = 'contract-admin-secret-9876543210';
const MIN = 60_000;
const ROUNDS = 70; // one whole hour (1 h tier) whatever the clock
const END = Math.floor(Date.now() / MIN) * MIN;
const START = END - ROUNDS * MIN;
const root = resolve(__dirname, '../../..');
const venv = resolve(root, process.env.TMA_STATE_DIR ?? '.state', 'venv');
const bin = join(venv, 'bin', 'schemathesis');
const dataDir = mkdtempSync(join(tmpdir(), 'tma-query-api-contract-'));
const database = `tma_qapi_c_${process.pid}_${randomBytes(3).toString('hex')}`;

class Quiet extends JsonLogger {
  override write(): void {}
}

let storage: Storage;
let api: QueryApi;
let base: string;

/** Installs the pinned Schemathesis into the venv once; later runs find it there. */
function ensureSchemathesis(): void {
  const ok = () =>
    existsSync(bin) && spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.includes(SCHEMATHESIS.split('==')[1]);
  if (ok()) return;
  mkdirSync(venv, { recursive: true });
  const steps: [string, string[]][] = [
    ['python3', ['-m', 'venv', venv]],
    [join(venv, 'bin', 'pip'), ['install', '--quiet', SCHEMATHESIS]],
  ];
  for (const [cmd, args] of steps) {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error}`);
  }
  if (!ok()) throw new Error(`${bin} is not ${SCHEMATHESIS}`);
}

/**
 * Runs Schemathesis, with the settings file for the REST document (it names REST operations only); resolves with
 * its output and the summary line ("N passed, M failed in …").
 */
function schemathesis(
  location: string,
  config: string[] = [],
): Promise<{ code: number; output: string; summary: string }> {
  const args = [
    ...config,
    'run',
    location,
    // every check: on the command line for REST; the GraphQL settings file turns them all on itself, as a command
    // line choice would override its per-operation choices
    ...(location.endsWith('/graphql') ? [] : ['--checks', 'all']),
    '-H',
    `Authorization: Bearer ${TOKEN}`,
    '--max-examples',
    '30',
    '--seed',
    '20261204',
    '--workers',
    '2',
    '--no-color',
    '--generation-database',
    'none',
    '--report',
    'junit',
    '--report-dir',
    join(dataDir, 'reports'),
  ];
  return new Promise((done, fail) => {
    const child = spawn(bin, args, {
      cwd: dataDir,
      env: {
        ...process.env,
        PYTHONUNBUFFERED: '1',
        PYTHONPATH: __dirname,
        SCHEMATHESIS_HOOKS: 'contract_hooks',
        TMA_CONTRACT_ADMIN_TOKEN: ADMIN_TOKEN,
      },
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => {
      const lines = output.split('\n').filter((l) => /^=+ .* =+$/.test(l.trim()));
      done({ code: code ?? -1, output, summary: lines[lines.length - 1]?.trim() ?? '(no summary line)' });
    });
  });
}

beforeAll(async () => {
  ensureSchemathesis();
  storage = await createStorage({ kind: 'chdb', path: dataDir, database });
  await applyMigrations(storage);
  const sim = new FleetSimulator({ hosts: 6, seed: 3, intervalMs: MIN, startMs: START, packetsPerInterval: 500 });
  // A flood near the end, so /v1/threats and GraphQL threats answer with real alerts.
  sim.extraTraffic = floodTraffic('sim-host-00001', '198.51.100.7', [ROUNDS - 8, ROUNDS - 7]);
  const snaps = [];
  for (let r = 0; r < ROUNDS; r++) snaps.push(...sim.nextRoundSnapshots());
  await writePartials(storage, buildPartials(snaps, 2));
  await detectThreats(storage);
  const config: QueryApiConfig = {
    host: '127.0.0.1',
    port: 0,
    authEnabled: true,
    tokens: parseTokens(`contract:${TOKEN}\ncontract-admin:${ADMIN_TOKEN}:admin`, 'test'),
    sqlLimits: DEFAULT_SQL_LIMITS,
    maxRangeMs: 31 * 86_400_000,
    maxPoints: 1000,
    maxK: 1000,
    cacheBytes: 32 * 1024 * 1024,
    indexRefreshMs: 1000,
    mergeCache: true,
    mergeCacheBytes: 64 * 1024 * 1024,
    mergeWorkers: 1,
    mergeQueue: 256,
    fleetRows: true,
    hashSeed: { seed: PUBLIC_HASH_KEY, source: 'test', warnings: [] },
  };
  api = await createQueryApi({ config, storage, logger: new Quiet() });
  await api.app.listen(0, '127.0.0.1');
  base = await api.app.getUrl();
  base = base.replace('[::1]', '127.0.0.1');
}, 900_000);

afterAll(async () => {
  await api?.app.close();
  if (storage) {
    await storage.command('DROP DATABASE IF EXISTS {database}');
    await storage.close();
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe('Schemathesis, every check', () => {
  it.each([
    ['REST (OpenAPI document)', '/docs/openapi.json', ['--config-file', join(__dirname, 'schemathesis.toml')]],
    ['GraphQL', '/graphql', ['--config-file', join(__dirname, 'schemathesis-graphql.toml')]],
  ])(
    '%s: no failures',
    async (_name, path, config) => {
      const r = await schemathesis(`${base}${path}`, config);
      process.stdout.write(`schemathesis ${path}: ${r.summary}\n`);
      // The counts per phase and per check, then the summary; everything when something failed.
      process.stdout.write(r.code === 0 ? r.output.split('\n').slice(-40).join('\n') : r.output.slice(-20_000));
      expect(r.summary).not.toMatch(/fail|error/i);
      expect(r.code).toBe(0);
      if (path === '/docs/openapi.json') {
        // POST /v1/sql was really run with the admin token: the document's example answered, generated text was refused.
        const sql = (await api.metrics.requests.get()).values.filter(
          (v) => v.labels.route === '/v1/sql' && v.labels.method === 'POST',
        );
        const statuses = Object.fromEntries(sql.map((v) => [v.labels.status, v.value]));
        process.stdout.write(`POST /v1/sql answers by status: ${JSON.stringify(statuses)}\n`);
        expect(statuses).toEqual(expect.objectContaining({ '200': expect.any(Number), '400': expect.any(Number) }));
      }
    },
    600_000,
  );
});
