// What bench.js and profile.js share: where the benchmark data live, the token, and a query API started on them.
'use strict';
const { spawn } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');
const dataDir = path.join(process.env.TMA_STATE_DIR || path.join(root, '.state'), 'bench-query-api');
const TOKEN = 'bench-token-0123456789abcdef';

const freePort = () =>
  new Promise((res) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });

/** Starts apps/query-api/dist/main.js on the benchmark data and waits until /ready (at most 60 s). */
async function startServer({ port, env = {}, nodeArgs = [] } = {}) {
  port ??= await freePort();
  const child = spawn(process.execPath, [...nodeArgs, path.join(root, 'apps/query-api/dist/main.js')], {
    env: {
      ...process.env,
      TMA_CHDB_PATH: path.join(dataDir, 'chdb'),
      TMA_CLICKHOUSE_DATABASE: 'tma',
      TMA_API_PORT: String(port),
      TMA_API_TOKENS: `bench:${TOKEN}`,
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 240; i++) {
    const ok = await fetch(`${base}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { child, base, port };
    await new Promise((r) => setTimeout(r, 250));
  }
  await stopServer(child);
  throw new Error('query API did not become ready');
}

async function stopServer(child) {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

module.exports = { root, dataDir, TOKEN, freePort, startServer, stopServer };
