// Memory of a long host-filtered query, measured on the built server (dist/main.js) in a child process over embedded
// chDB: a week of 1 min rows (one every 5 min, each holding dense sketches) answered for one host must stay within
// a stated peak-RSS increase over the warmed-up server, since merges stream MERGE_BATCH rows at a time and every
// cache has a byte budget.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { applyMigrations, createStorage } from '@tma/storage';
import { FleetSimulator } from '@tma/fleet-sim';
import { buildPartials, writePartials } from './fixture';

const MAIN = resolve(__dirname, '../dist/main.js');
const TOKEN = 'memory-secret-0123456789';
const MIN = 60_000;
const DAY = 86_400_000;
/** Peak RSS increase allowed for the week-long host-filtered answer (measured: ≈ 115 MiB; ≈ 530 MiB before merges streamed). */
const BOUND_MB = 300;
const work = mkdtempSync(join(tmpdir(), 'tma-query-api-memory-'));
let child: ChildProcess | undefined;
let output = '';
let host = '';

const freePort = () =>
  new Promise<number>((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
const kib = (field: string) =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${child!.pid}/status`, 'utf8'))![1]);

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first (./tma test builds every project)`);
  const storage = await createStorage({ kind: 'chdb', path: join(work, 'chdb'), database: 'tma' });
  await applyMigrations(storage);
  const end = Math.floor(Date.now() / MIN) * MIN;
  const sim = new FleetSimulator({ hosts: 1, seed: 9, intervalMs: MIN, startMs: end - MIN, packetsPerInterval: 4000 });
  const [row] = buildPartials(sim.nextRoundSnapshots(), 1).filter((r) => r.tier === '1m');
  host = row.hosts[0];
  // One row every 5 min over 7 days, each a copy of a real row (dense CMS pair, HLLs, candidates).
  const rows = [];
  for (let t = end - 7 * DAY + 5 * MIN; t < end; t += 5 * MIN)
    rows.push({ ...row, window_start: t / 1000, first_offset: rows.length, last_offset: rows.length });
  await writePartials(storage, rows, 25);
  await storage.close(); // embedded chDB: one process per data directory
}, 600_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  rmSync(work, { recursive: true, force: true });
});

it(`a 7-day host-filtered top-flows answer raises peak RSS by less than ${BOUND_MB} MiB`, async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  child = spawn(process.execPath, [MAIN], {
    cwd: work,
    env: {
      ...process.env,
      TMA_CHDB_PATH: join(work, 'chdb'),
      TMA_API_PORT: String(port),
      TMA_API_TOKENS: `memory:${TOKEN}`,
      TMA_API_CACHE_MB: '16',
      TMA_API_MERGE_CACHE_MB: '16',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const get = async (path: string) => {
    const r = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  for (let t = Date.now(); ; await new Promise((r) => setTimeout(r, 250))) {
    if ((await fetch(`${base}/ready`).catch(() => undefined))?.ok) break;
    if (Date.now() - t > 60_000) throw new Error(`server not ready:\n${output.slice(-3000)}`);
  }
  // Warm up (code paths, chDB's own buffers) on a short host-filtered answer, then take the baseline.
  expect((await get(`/v1/flows/top?range=1h&hosts=${host}`)).status).toBe(200);
  const baseline = kib('VmRSS');
  writeFileSync(`/proc/${child.pid}/clear_refs`, '5'); // resets VmHWM (peak RSS) to the current RSS
  const r = await get(`/v1/flows/top?range=7d&hosts=${host}&k=10`);
  expect(r.status).toBe(200);
  expect((r.body.scope as { tiers: Record<string, number> }).tiers['1m']).toBeGreaterThan(2000);
  const peakMb = (kib('VmHWM') - baseline) / 1024;
  process.stdout.write(
    `7-day host-filtered top flows: peak RSS +${peakMb.toFixed(0)} MiB over ${baseline >> 10} MiB\n`,
  );
  expect(peakMb).toBeLessThan(BOUND_MB);
}, 300_000);
