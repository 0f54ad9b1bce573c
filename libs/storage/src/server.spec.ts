import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StorageError, StorageVersionError } from './errors';
import { PINNED_SETTINGS } from './settings';
import { createStorage } from './storage';

// No ClickHouse server runs on this machine, so a loopback HTTP server speaks the small part of the ClickHouse
// HTTP protocol the start-up uses: it answers SELECT version() and records what the client sent.
interface Seen {
  query: string;
  params: URLSearchParams;
  auth?: string;
}

function fakeClickHouse(version: string): Promise<{ server: Server; url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const query = url.searchParams.get('query') ?? body;
      seen.push({ query, params: url.searchParams, auth: req.headers.authorization });
      res.setHeader('X-ClickHouse-Format', 'JSONEachRow');
      res.setHeader('Content-Type', 'application/x-ndjson; charset=UTF-8');
      if (/version\(\)/.test(query)) res.end(`${JSON.stringify({ v: version })}\n`);
      else res.end(`${JSON.stringify({ one: 1 })}\n`);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, url: `http://127.0.0.1:${port}`, seen });
    }),
  );
}

const closeServer = (server: Server): Promise<void> => new Promise((r) => server.close(() => r()));

describe('createStorage against a ClickHouse server', () => {
  it('refuses a server older than 24.8 with a message saying what to do', async () => {
    const { server, url } = await fakeClickHouse('24.3.5.47');
    try {
      const config = {
        kind: 'server',
        url,
        username: 'u',
        password: 'p',
        database: 'tma',
        requestTimeoutMs: 5000,
      } as const;
      await expect(createStorage(config)).rejects.toBeInstanceOf(StorageVersionError);
      await expect(createStorage(config)).rejects.toThrow(
        /is version 24\.3\.5\.47; TMA needs 24\.8 or newer.*unset TMA_CLICKHOUSE_URL to use the embedded chDB/,
      );
    } finally {
      await closeServer(server);
    }
  });

  it('accepts 24.8, probes the version without the pinned settings, then sends them on every statement', async () => {
    const { server, url, seen } = await fakeClickHouse('24.8.14.39');
    try {
      const storage = await createStorage({
        kind: 'server',
        url,
        username: 'reader',
        password: 'pw',
        database: 'tma',
        requestTimeoutMs: 5000,
      });
      expect(storage.kind).toBe('server');
      expect(storage.serverVersion).toBe('24.8.14.39');
      expect(await storage.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      await storage.close();

      const [probe, statement] = seen;
      expect(probe?.params.get('session_timezone')).toBeNull();
      expect(probe?.auth).toBe(`Basic ${Buffer.from('reader:pw').toString('base64')}`);
      for (const [name, value] of Object.entries(PINNED_SETTINGS)) {
        expect([name, statement?.params.get(name)]).toEqual([name, String(value)]);
      }
    } finally {
      await closeServer(server);
    }
  });

  it('names the server when it cannot be reached', async () => {
    const { server, url } = await fakeClickHouse('26.1.1.1');
    await closeServer(server); // the port is now closed
    const opened = createStorage({
      kind: 'server',
      url,
      username: 'default',
      password: '',
      database: 'tma',
      requestTimeoutMs: 2000,
    });
    await expect(opened).rejects.toThrow(StorageError);
    await expect(opened).rejects.toThrow(
      `cannot reach ClickHouse at ${url} as default: connect ECONNREFUSED ${url.slice('http://'.length)}`,
    );
  });
});
