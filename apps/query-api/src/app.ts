// Builds the query API: Nest on Fastify, REST + OpenAPI (JSON and a browsable page), GraphQL, the dashboard,
// /metrics, /health and /ready, bearer auth, request ids and JSON access logs.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  type ArgumentsHost,
  Catch,
  Controller,
  type ExceptionFilter,
  Get,
  HttpException,
  Inject,
  Module,
  type DynamicModule,
  type OnModuleDestroy,
  type OnModuleInit,
  Param,
  Res,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { ApiExcludeController, DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Storage } from '@tma/storage';
import { installAuth } from './auth';
import type { QueryApiConfig } from './config';
import { InvalidInputError } from './errors';
import { GraphQLController, GraphQLRunner, METRICS } from './graphql';
import { JsonLogger, Metrics } from './observability';
import { PartialStore } from './partials';
import { QueryService } from './query.service';
import { CONFIG, RestController } from './rest.controller';

export const API_VERSION = '1.0.0';
const READINESS = 'QUERY_API_READINESS';
const EXTRA_METRICS = 'QUERY_API_EXTRA_METRICS';
const DASHBOARD_DIR = join(__dirname, '..', 'dashboard');

/** Extra readiness conditions (e.g. the hosted aggregator's). */
export type ReadinessCheck = () => Promise<string | null> | string | null;

@Catch()
class ErrorFilter implements ExceptionFilter {
  constructor(private readonly logger: JsonLogger) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const req = host.switchToHttp().getRequest<FastifyRequest>();
    if (error instanceof InvalidInputError) {
      reply
        .code(400)
        .send({ statusCode: 400, error: 'Bad Request', field: error.field, message: error.message, requestId: req.id });
      return;
    }
    if (error instanceof HttpException) {
      const status = error.getStatus();
      reply.code(status).send({
        statusCode: status,
        error: error.name.replace(/Exception$/, ''),
        message: error.message,
        requestId: req.id,
      });
      return;
    }
    this.logger.write('error', 'request failed', {
      reqId: req.id,
      error: error instanceof Error ? error.message : String(error),
      stack: error instanceof Error ? error.stack : undefined,
    });
    reply.code(500).send({
      statusCode: 500,
      error: 'Internal Server Error',
      message: 'the query failed; see the server log for this request id',
      requestId: req.id,
    });
  }
}

/** The generated OpenAPI document, set once the application exists (it is generated from the app's routes). */
class DocsHolder {
  document: OpenAPIObject | undefined;
}

const SWAGGER_DIR = dirname(require.resolve('swagger-ui-dist/package.json'));
const DOCS_ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
};
const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TMA query API</title><link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div><script src="/docs/swagger-ui-bundle.js"></script><script src="/docs/docs-init.js"></script></body></html>`;
const DOCS_INIT =
  "window.ui = SwaggerUIBundle({ url: '/docs/openapi.json', dom_id: '#swagger-ui', persistAuthorization: true, deepLinking: true });";

/** The browsable API page: Swagger UI from the package (no CDN), served without a static-file plugin. */
@ApiExcludeController()
@Controller('docs')
class DocsController {
  private readonly files = new Map<string, Buffer>();

  constructor(private readonly docs: DocsHolder) {}

  @Get()
  page(@Res() reply: FastifyReply) {
    return reply.header('content-type', 'text/html; charset=utf-8').send(DOCS_PAGE);
  }

  @Get('openapi.json')
  json() {
    return this.docs.document;
  }

  @Get('docs-init.js')
  init(@Res() reply: FastifyReply) {
    return reply.header('content-type', 'text/javascript; charset=utf-8').send(DOCS_INIT);
  }

  @Get(':file')
  asset(@Param('file') file: string, @Res() reply: FastifyReply) {
    const type = DOCS_ASSETS[file];
    if (!type) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no docs asset ${file}` });
    let body = this.files.get(file);
    if (!body) this.files.set(file, (body = readFileSync(join(SWAGGER_DIR, file))));
    return reply.header('content-type', type).header('cache-control', 'public, max-age=3600').send(body);
  }
}

class StorageHolder {
  constructor(readonly storage: Storage) {}
}

@ApiExcludeController()
@Controller()
class OpsController {
  constructor(
    private readonly store: PartialStore,
    private readonly storageHolder: StorageHolder,
    @Inject(METRICS) private readonly metrics: Metrics,
    @Inject(READINESS) private readonly readiness: ReadinessCheck[],
    @Inject(EXTRA_METRICS) private readonly extraMetrics: (() => Promise<string>)[],
  ) {}

  @Get('health')
  health() {
    return { status: 'ok' };
  }

  @Get('ready')
  async ready(@Res() reply: FastifyReply) {
    const problems: string[] = [];
    try {
      await this.storageHolder.storage.query('SELECT 1 AS ok FROM {database}.agg_partials LIMIT 0');
    } catch (e) {
      problems.push(`storage: ${(e as Error).message.split('\n')[0]}`);
    }
    for (const check of this.readiness) {
      const p = await check();
      if (p) problems.push(p);
    }
    return reply.code(problems.length ? 503 : 200).send({ status: problems.length ? 'not ready' : 'ready', problems });
  }

  @Get('metrics')
  async metricsText(@Res() reply: FastifyReply) {
    this.metrics.cacheBytes.set(this.store.cachedBytes);
    const parts = [await this.metrics.registry.metrics(), ...(await Promise.all(this.extraMetrics.map((m) => m())))];
    return reply.header('content-type', this.metrics.registry.contentType).send(parts.join('\n'));
  }
}

const ASSETS: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'index.html': 'text/html; charset=utf-8',
};

/** The dashboard: three files from the package (no CDN), read once. */
@ApiExcludeController()
@Controller()
class DashboardController {
  private readonly files = new Map(Object.keys(ASSETS).map((f) => [f, readFileSync(join(DASHBOARD_DIR, f))]));

  @Get()
  index(@Res() reply: FastifyReply) {
    return reply.redirect('/dashboard', 302);
  }

  @Get('favicon.ico')
  favicon(@Res() reply: FastifyReply) {
    return reply.code(204).send();
  }

  // Fastify treats /dashboard and /dashboard/ alike; the page links its assets by absolute path.
  @Get('dashboard')
  page(@Res() reply: FastifyReply) {
    return this.send(reply, 'index.html');
  }

  @Get('dashboard/:file')
  asset(@Param('file') file: string, @Res() reply: FastifyReply) {
    if (!this.files.has(file))
      return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no dashboard asset ${file}` });
    return this.send(reply, file);
  }

  private send(reply: FastifyReply, file: string) {
    return reply
      .header('content-type', ASSETS[file])
      .header('cache-control', 'no-cache')
      .header(
        'content-security-policy',
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'",
      )
      .send(this.files.get(file));
  }
}

@Module({})
class QueryApiModule implements OnModuleInit, OnModuleDestroy {
  constructor(private readonly store: PartialStore) {}

  async onModuleInit(): Promise<void> {
    await this.store.start();
  }

  onModuleDestroy(): void {
    this.store.stop();
  }

  static create(o: QueryApiOptions, metrics: Metrics, docs: DocsHolder): DynamicModule {
    const { config, storage } = o;
    const store = new PartialStore(
      storage,
      { cacheBytes: config.cacheBytes, indexRefreshMs: config.indexRefreshMs, mergeCache: config.mergeCache },
      metrics,
    );
    const svc = new QueryService(storage, store);
    return {
      module: QueryApiModule,
      imports: o.imports ?? [],
      controllers: [RestController, GraphQLController, OpsController, DashboardController, DocsController],
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: METRICS, useValue: metrics },
        { provide: READINESS, useValue: o.readiness ?? [] },
        { provide: EXTRA_METRICS, useValue: o.extraMetrics ?? [] },
        { provide: PartialStore, useValue: store },
        { provide: QueryService, useValue: svc },
        { provide: StorageHolder, useValue: new StorageHolder(storage) },
        { provide: DocsHolder, useValue: docs },
        { provide: GraphQLRunner, useValue: new GraphQLRunner(svc, config) },
      ],
    };
  }
}

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
  const metrics = new Metrics();
  const docs = new DocsHolder();
  const adapter = new FastifyAdapter({
    logger: false,
    // A caller's id is kept (traces across services); otherwise a fresh one.
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: 256 * 1024,
  });
  const app = await NestFactory.create<NestFastifyApplication>(QueryApiModule.create(options, metrics, docs), adapter, {
    logger,
    abortOnError: false,
  });
  app.useGlobalFilters(new ErrorFilter(logger));
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
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
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('TMA query API')
      .setDescription(
        'Fleet-wide traffic answers merged from stored partial sketches. Every estimate carries its bound: Count-Min ε·N at confidence 1 − δ (estimates never undercount), HyperLogLog relative standard error. GraphQL over the same services at /graphql (schema at /graphql/schema).',
      )
      .setVersion(API_VERSION)
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'a token from TMA_API_TOKENS (read scope)' })
      .build(),
  );
  docs.document = document;
  await app.init();
  return { app, document, metrics };
}
