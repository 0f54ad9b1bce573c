import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { LogLevel, LoggerService } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { NestLogger, createLogger } from '@tma/logging';
import { SnapshotAggregator, type AggregatorOptions } from '@tma/aggregation';
import { AggregatorAppModule } from './aggregator.module';

export interface StartAggregatorOptions extends Omit<AggregatorOptions, 'logger'> {
  /**
   * HTTP port for /metrics, /health, /ready (0 = any free port; false = no HTTP server). Default: the configured
   * TMA_AGG_HTTP_PORT (9464) when running alone; when hosted with a shared `storage`, only if TMA_AGG_HTTP_PORT is
   * set (the host serves its own health; metricsText() and readiness() are on the handle).
   */
  httpPort?: number | false;
  /** A Nest logger (e.g. the host's JSON logger), log levels, or false (default: the shared JSON logger). */
  logger?: LoggerService | LogLevel[] | false;
}

export interface AggregatorHandle {
  app: NestFastifyApplication;
  service: SnapshotAggregator;
  /** Address of the HTTP endpoints, or null when none is served. */
  url: string | null;
  /** Graceful stop: flushes open windows as partial rows, commits, leaves the group, closes owned storage. */
  close(): Promise<void>;
  /** Same as close() (for hosts that call it stop). */
  stop(): Promise<void>;
  /** null when ready (joined the group, ClickHouse writes succeeding), else why not. */
  readiness(): string | null;
  /** Prometheus text of this instance's metrics. */
  metricsText(): Promise<string>;
}

/** Starts one aggregator instance as a Nest application (main.ts; the tests and benchmarks run several). */
export async function startAggregator(options: StartAggregatorOptions = {}): Promise<AggregatorHandle> {
  // The aggregator logs through Nest's Logger, so `logger` (the application's) receives its lines.
  const { httpPort, logger, ...aggregatorOptions } = options;
  const app = await NestFactory.create<NestFastifyApplication>(
    AggregatorAppModule.forRoot(aggregatorOptions),
    new FastifyAdapter(),
    {
      logger: logger ?? new NestLogger(createLogger({ component: 'aggregator', env: aggregatorOptions.env })),
      abortOnError: false,
    },
  );
  const service = app.get(SnapshotAggregator);
  const env = options.env ?? process.env;
  const port =
    httpPort !== undefined ? httpPort : options.storage && !env.TMA_AGG_HTTP_PORT ? false : service.config.httpPort;
  let url: string | null = null;
  if (port === false) {
    await app.init();
  } else {
    await app.listen(port, service.config.httpHost);
    const addr = app.getHttpServer().address();
    url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : port}`;
  }
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= app.close());
  return {
    app,
    service,
    url,
    close,
    stop: close,
    readiness: () => {
      const r = service.readiness();
      return r.ready ? null : 'not joined to the consumer group yet, or ClickHouse writes are failing';
    },
    metricsText: () => service.metricsText(),
  };
}
