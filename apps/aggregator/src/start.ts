import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AggregatorModule } from './aggregator.module';
import { AggregatorService, type AggregatorModuleOptions } from './aggregator.service';

export interface StartAggregatorOptions extends AggregatorModuleOptions {
  /** HTTP port for /metrics, /health, /ready (default TMA_AGG_HTTP_PORT or 9464; 0 = any free port). */
  httpPort?: number;
  /** Nest logger levels (default log, warn, error). */
  logger?: ('log' | 'warn' | 'error' | 'debug' | 'verbose')[] | false;
}

export interface AggregatorHandle {
  app: NestFastifyApplication;
  service: AggregatorService;
  /** Address the HTTP endpoints listen on. */
  url: string;
  /** Graceful stop: flushes open windows as partial rows, commits, leaves the group, closes owned storage. */
  close(): Promise<void>;
}

/** Starts one aggregator instance with its HTTP endpoints. */
export async function startAggregator(options: StartAggregatorOptions = {}): Promise<AggregatorHandle> {
  const app = await NestFactory.create<NestFastifyApplication>(AggregatorModule.forRoot(options), new FastifyAdapter(), {
    logger: options.logger ?? ['log', 'warn', 'error'],
    abortOnError: false,
  });
  const service = app.get(AggregatorService);
  const port = options.httpPort ?? service.config.httpPort;
  await app.listen(port, service.config.httpHost);
  const addr = app.getHttpServer().address();
  const actualPort = typeof addr === 'object' && addr ? addr.port : port;
  return {
    app,
    service,
    url: `http://127.0.0.1:${actualPort}`,
    close: () => app.close(),
  };
}
