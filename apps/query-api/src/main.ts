// Entry point. `node apps/query-api/dist/main.js` serves the API against the configured ClickHouse (embedded chDB by
// default, a server with TMA_CLICKHOUSE_URL). `--with-aggregator` also runs the aggregator in this process on the
// same storage connection: the single-machine mode, where only one process may open the chDB directory.
import { applyMigrations, createStorage, describeStorageConfig, loadStorageConfig, type Storage } from '@tma/storage';
import { createQueryApi, type ReadinessCheck } from './app';
import { loadQueryApiConfig } from './config';
import { JsonLogger } from './observability';

/** What the aggregator package exports for hosting (apps/aggregator). */
interface HostedAggregator {
  stop(): Promise<void>;
  /** null when ready, else why not. */
  readiness?(): string | null | Promise<string | null>;
}
type StartAggregator = (options: { storage: Storage; env: NodeJS.ProcessEnv; logger?: JsonLogger }) => Promise<HostedAggregator>;

const USAGE = `usage: main.js [--with-aggregator]
  --with-aggregator  also run the aggregator in this process, sharing the storage connection (single machine, chDB)
Environment: TMA_API_HOST, TMA_API_PORT, TMA_API_TOKENS / TMA_API_TOKENS_FILE or TMA_API_AUTH=off (local only),
TMA_API_MAX_RANGE, TMA_API_MAX_POINTS, TMA_API_MAX_K, TMA_API_CACHE_MB, and the storage variables (docs/storage.md).`;

function loadAggregator(): StartAggregator {
  // Resolved at run time so the API builds and runs alone without the aggregator package.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require('@tma/aggregator') as { startAggregator?: StartAggregator };
  if (typeof mod.startAggregator !== 'function') throw new Error('the aggregator package does not export startAggregator(); build apps/aggregator');
  return mod.startAggregator;
}

async function main(argv: string[]): Promise<void> {
  const args = new Set(argv);
  if (args.has('--help') || args.has('-h')) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  for (const a of args) if (a !== '--with-aggregator') throw new Error(`unknown argument ${a}\n${USAGE}`);
  const logger = new JsonLogger();
  const config = loadQueryApiConfig(process.env);
  const storageConfig = loadStorageConfig(process.env);
  if (!config.authEnabled) logger.write('warn', 'authentication is OFF (TMA_API_AUTH=off): for local development only');
  const storage = await createStorage(storageConfig);
  logger.write('info', 'storage open', { storage: describeStorageConfig(storageConfig), version: storage.serverVersion });
  await applyMigrations(storage);
  const readiness: ReadinessCheck[] = [];
  let aggregator: HostedAggregator | undefined;
  if (args.has('--with-aggregator')) {
    aggregator = await loadAggregator()({ storage, env: process.env, logger: new JsonLogger('aggregator') });
    const agg = aggregator;
    if (agg.readiness) readiness.push(async () => {
      const why = await agg.readiness!();
      return why ? `aggregator: ${why}` : null;
    });
    logger.write('info', 'aggregator running in this process');
  }
  const { app } = await createQueryApi({ config, storage, logger, readiness });
  await app.listen({ host: config.host, port: config.port });
  logger.write('info', 'query API listening', { url: `http://${config.host}:${config.port}/`, dashboard: '/dashboard/', docs: '/docs', graphql: '/graphql', auth: config.authEnabled ? `${config.tokens.length} token(s)` : 'off' });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.write('info', 'stopping', { signal });
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    try {
      await app.close();
      // The aggregator flushes its open windows as partial rows before the storage closes.
      if (aggregator) await aggregator.stop();
      await storage.close();
    } catch (e) {
      logger.write('error', 'error while stopping', { error: (e as Error).message });
      process.exitCode = 1;
    }
    logger.write('info', 'stopped');
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main(process.argv.slice(2)).catch((e: Error) => {
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: 'error', component: 'query-api', msg: 'cannot start', error: e.message }) + '\n');
  process.exit(1);
});
