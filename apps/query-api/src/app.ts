// Builds the query API: Nest on Fastify, REST + OpenAPI (JSON and a browsable page), GraphQL, the dashboard,
// /metrics, /health and /ready, bearer auth, request ids and JSON access logs.
import { randomUUID } from 'node:crypto';
import type { DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { OpenAPIObject } from '@nestjs/swagger';
import type { Storage } from '@tma/storage';
import { DocsHolder } from './api-docs/api-docs.controller';
import { openApiDocument } from './api-docs/openapi-document';
import { QueryApiModule } from './app.module';
import { installAuth } from './common/auth';
import { ErrorFilter } from './common/error.filter';
import { withRequestSignal } from './common/request-signal';
import { BODY_LIMIT_BYTES } from './common/openapi';
import type { QueryApiConfig } from './config';
import { JsonLogger, Metrics } from './observability';
import { useHashSeed } from '@tma/sketch';
import type { ReadinessCheck } from './ops/ops.controller';
import { loadKafkaSettings } from '@tma/kafka';
import { KafkaMitigationBus, type MitigationBus } from './mitigation/mitigation.bus';

export type { ReadinessCheck };
export const API_VERSION = '1.0.0';

export interface QueryApiOptions {
  config: QueryApiConfig;
  storage: Storage;
  logger?: JsonLogger;
  /** Checks added to /ready (the list may be filled after creation, e.g. from a hosted module's provider). */
  readiness?: ReadinessCheck[];
  /** More Prometheus text appended to /metrics (e.g. the hosted aggregator's registry). */
  extraMetrics?: (() => Promise<string>)[];
  /** Nest modules hosted in the same application (the aggregator in single-machine mode). */
  imports?: DynamicModule[];
  /** The mitigation commands/reports link; by default one over Kafka when config.mitigation.commands is on. */
  mitigationBus?: MitigationBus | null;
}

export interface QueryApi {
  app: NestFastifyApplication;
  document: OpenAPIObject;
  metrics: Metrics;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export async function createQueryApi(options: QueryApiOptions): Promise<QueryApi> {
  const { config } = options;
  const logger = options.logger ?? new JsonLogger();
  // Flow-key point lookups hash with this seed, and stored sketches of another seed identity are refused.
  for (const warning of config.hashSeed.warnings) logger.write('warn', warning);
  useHashSeed(config.hashSeed.seed);
  const metrics = new Metrics();
  const docs = new DocsHolder();
  const adapter = new FastifyAdapter({
    logger: false,
    // A caller's id is kept (traces across services); otherwise a fresh one.
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: BODY_LIMIT_BYTES,
  });
  const m = config.mitigation;
  const mitigationBus =
    options.mitigationBus !== undefined
      ? options.mitigationBus
      : m?.commands
        ? new KafkaMitigationBus(loadKafkaSettings(process.env, 'tma-query-api'), m.topicPrefix)
        : null;
  const app = await NestFactory.create<NestFastifyApplication>(
    QueryApiModule.create({ ...options, metrics, docs, mitigationBus }),
    adapter,
    {
      logger,
      abortOnError: false,
    },
  );
  app.useGlobalFilters(new ErrorFilter(logger));
  const fastify = app.getHttpAdapter().getInstance();
  // Routes are registered at init; collected here so a known path asked with another method gets 405, not 404.
  const routes: { source: string; path: RegExp; methods: Set<string> }[] = [];
  fastify.addHook('onRoute', (r) => {
    if (r.url === '*' || r.url.includes('*')) return;
    const source = `^${r.url.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+')}/?$`;
    let route = routes.find((x) => x.source === source);
    if (!route) routes.push((route = { source, path: new RegExp(source), methods: new Set() }));
    for (const m of [r.method].flat()) route.methods.add(m);
  });
  fastify.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    // Every answer, data or error: no MIME sniffing, never framed (clickjacking).
    reply.header('x-content-type-options', 'nosniff');
    reply.header('content-security-policy', "frame-ancestors 'none'");
    const path = req.url.split('?')[0];
    const known = routes.filter((r) => r.path.test(path));
    if (known.length > 0 && !known.some((r) => r.methods.has(req.method))) {
      const allow = [...new Set(known.flatMap((r) => [...r.methods]))].sort().join(', ');
      return reply
        .code(405)
        .header('allow', allow)
        .send({
          statusCode: 405,
          error: 'Method Not Allowed',
          message: `${req.method} is not served on ${path.slice(0, 200)}; allowed: ${allow}`,
          requestId: req.id,
        });
    }
  });
  // Each request's work runs with a signal that aborts when its client goes away before the answer is sent
  // (request-signal.ts): merges still waiting for a worker are then dropped.
  fastify.addHook('onRequest', (_req, reply, done) => {
    const abort = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) abort.abort();
    });
    withRequestSignal(abort.signal, done);
  });
  installAuth(fastify, config, metrics);
  // Nest folds a trailing slash away; Fastify does not, so /dashboard/ is answered here, keeping the query string
  // (the dashboard's view state) so a shared link still opens the same view.
  fastify.get('/dashboard/', (req, reply) => {
    const q = req.url.indexOf('?');
    return reply.redirect(q < 0 ? '/dashboard' : `/dashboard${req.url.slice(q)}`, 302);
  });
  fastify.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions?.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    metrics.duration.observe({ route }, seconds);
    // Path and query only: credentials travel in headers, which are never logged.
    logger.write(reply.statusCode >= 500 ? 'error' : 'info', 'request', {
      reqId: req.id,
      method: req.method,
      url: req.url.slice(0, 500),
      route,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      token: req.tokenName ?? null,
    });
  });
  const document = openApiDocument(app, API_VERSION, config);
  docs.document = document;
  await app.init();
  return { app, document, metrics };
}
