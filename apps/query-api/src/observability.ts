// Prometheus metrics and structured (JSON line) logs. Logs carry the request id and the token's name, never the
// token, the Authorization header or any other header.
import type { LoggerService } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StoreMetrics } from './partials/store-metrics';

export class Metrics implements StoreMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'tma_api_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'tma_api_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['route'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'tma_api_auth_failures_total',
    help: 'Requests refused for missing or bad credentials',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly cache = new Counter({
    name: 'tma_api_sketch_cache_total',
    help: 'Decoded partial sketches served from cache (hit) or read from ClickHouse (miss)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly cacheBytes = new Gauge({
    name: 'tma_api_sketch_cache_bytes',
    help: 'Memory held by decoded sketches',
    registers: [this.registry],
  });
  readonly storageTime = new Histogram({
    name: 'tma_api_clickhouse_seconds',
    help: 'ClickHouse statements by kind',
    labelNames: ['kind'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [this.registry],
  });
  readonly graphql = new Counter({
    name: 'tma_api_graphql_operations_total',
    help: 'GraphQL operations by outcome',
    labelNames: ['outcome'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'tma_api_' });
  }

  cacheHit(n: number): void {
    if (n > 0) this.cache.inc({ result: 'hit' }, n);
  }
  cacheMiss(n: number): void {
    if (n > 0) this.cache.inc({ result: 'miss' }, n);
  }
  queryTime(kind: string, seconds: number): void {
    this.storageTime.observe({ kind: kind.startsWith('sketch:') ? 'sketch' : kind }, seconds);
  }
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One JSON object per line on stdout (errors on stderr). */
export class JsonLogger implements LoggerService {
  constructor(
    private readonly component = 'query-api',
    private readonly quiet = false,
  ) {}

  write(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    if (this.quiet && level !== 'error') return;
    const line = JSON.stringify({ time: new Date().toISOString(), level, component: this.component, msg, ...fields });
    (level === 'error' ? process.stderr : process.stdout).write(line + '\n');
  }

  log(message: unknown, context?: string): void {
    this.write('info', String(message), context ? { context } : {});
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.write('error', String(message), { ...(context ? { context } : {}), ...(trace ? { trace } : {}) });
  }
  warn(message: unknown, context?: string): void {
    this.write('warn', String(message), context ? { context } : {});
  }
  debug(): void {}
  verbose(): void {}
}
