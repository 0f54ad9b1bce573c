// Entry point. `node apps/query-api/dist/main.js` serves the API against the configured ClickHouse (embedded chDB by
// default, a server with TMA_CLICKHOUSE_URL). `--with-aggregator` also runs the aggregator in this process on the
// same storage connection: the single-machine mode, where only one process may open the chDB directory.
import type { DynamicModule } from '@nestjs/common';
import { aggregatorNestModule, patchKafkajsIdleTimers, SnapshotAggregator } from '@tma/aggregation';
import { applyMigrations, createStorage, describeStorageConfig, loadStorageConfig } from '@tma/storage';
import { createQueryApi, type ReadinessCheck } from './app';
import { loadQueryApiConfig } from './config';
import { createLogger } from '@tma/logging';
import { JsonLogger, type LogLevel } from './observability';

/** The API's logger, writing through the shared structured logger (the same fields as every process). */
class SharedLogger extends JsonLogger {
  private readonly out = createLogger({ component: 'query-api' });
  override write(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    this.out[level](fields, msg);
  }
}

const USAGE = `usage: main.js [--with-aggregator]
  --with-aggregator  also run the aggregator in this process, sharing the storage connection (single machine, chDB)
Environment: TMA_API_HOST, TMA_API_PORT, TMA_API_TOKENS / TMA_API_TOKENS_FILE or TMA_API_AUTH=off (local only),
TMA_API_MAX_RANGE, TMA_API_MAX_POINTS, TMA_API_MAX_K, TMA_API_CACHE_MB, TMA_API_MERGE_WORKERS, TMA_API_MERGE_QUEUE,
and the storage variables (docs/storage.md).`;

async function main(argv: string[]): Promise<void> {
  const args = new Set(argv);
  if (args.has('--help') || args.has('-h')) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  for (const a of args) if (a !== '--with-aggregator') throw new Error(`unknown argument ${a}\n${USAGE}`);
  const logger = new SharedLogger();
  const config = loadQueryApiConfig(process.env);
  const storageConfig = loadStorageConfig(process.env);
  if (!config.authEnabled) logger.write('warn', 'authentication is OFF (TMA_API_AUTH=off): for local development only');
  const storage = await createStorage(storageConfig);
  logger.write('info', 'storage open', {
    storage: describeStorageConfig(storageConfig),
    version: storage.serverVersion,
  });
  await applyMigrations(storage);
  const readiness: ReadinessCheck[] = [];
  const extraMetrics: (() => Promise<string>)[] = [];
  const imports: DynamicModule[] = [];
  const withAggregator = args.has('--with-aggregator');
  // The aggregator runs as a module of this application on the same Storage (one chDB owner); it starts consuming
  // when the application bootstraps and flushes its open windows when the application closes.
  if (withAggregator) {
    patchKafkajsIdleTimers();
    imports.push(aggregatorNestModule({ storage, env: process.env, defaultMetrics: false }));
  }
  const { app } = await createQueryApi({ config, storage, logger, readiness, extraMetrics, imports });
  if (withAggregator) {
    const service = app.get(SnapshotAggregator);
    readiness.push(() => (service.readiness().ready ? null : 'aggregator: not yet consuming (Kafka group or storage)'));
    extraMetrics.push(() => service.metricsText());
    logger.write('info', 'aggregator running in this process');
  }
  await app.listen({ host: config.host, port: config.port });
  logger.write('info', 'query API listening', {
    url: `http://${config.host}:${config.port}/`,
    dashboard: '/dashboard/',
    docs: '/docs',
    graphql: '/graphql',
    auth: config.authEnabled ? `${config.tokens.length} token(s)` : 'off',
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.write('info', 'stopping', { signal });
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    try {
      // Closing the application stops the hosted aggregator too, which flushes its open windows as partial rows
      // before the storage closes.
      await app.close();
      await storage.close();
    } catch (e) {
      logger.write('error', 'error while stopping', { error: (e as Error).message });
      process.exitCode = 1;
    }
    // What would still hold the process (beyond the forced-exit timer and stdio), named so a leak shows in the log;
    // one turn of the loop first, for the handles whose close completes there.
    await new Promise((r) => setImmediate(r));
    const pending = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap');
    logger.write('info', 'stopped', { pending: pending.length > 1 ? pending.join(',') : undefined });
    // Everything is closed: exit now rather than wait for the last library timers (kafkajs, pools) to drain, which
    // could outlast the forced exit above and turn a clean stop into exit code 1.
    process.exit(process.exitCode ?? 0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main(process.argv.slice(2)).catch((e: Error) => {
  new SharedLogger().write('error', 'cannot start', { error: e.message });
  process.exit(1);
});
