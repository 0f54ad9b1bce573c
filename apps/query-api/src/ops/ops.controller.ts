// Operations: liveness, readiness (storage answers, plus any hosted module's checks) and Prometheus metrics.
import { Controller, Get, Inject, Logger, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Storage } from '@tma/storage';
import type { Metrics } from '../observability';
import { PartialStore } from '../partials/partial-store';
import { EXTRA_METRICS, METRICS, READINESS, STORAGE } from '../tokens';

/** Extra readiness conditions (e.g. the hosted aggregator's): a problem, or null when ready. */
export type ReadinessCheck = () => Promise<string | null> | string | null;

@ApiExcludeController()
@Controller()
export class OpsController {
  private readonly logger = new Logger('ready');

  constructor(
    private readonly store: PartialStore,
    @Inject(STORAGE) private readonly storage: Storage,
    @Inject(METRICS) private readonly metrics: Metrics,
    @Inject(READINESS) private readonly readiness: ReadinessCheck[],
    @Inject(EXTRA_METRICS) private readonly extraMetrics: (() => Promise<string>)[],
  ) {}

  @Get('health')
  health() {
    return { status: 'ok' };
  }

  /**
   * Storage errors name databases, paths and servers: anonymous callers get a generic reason per failing part, a
   * caller with a valid token (or with auth off) the details, which are also logged.
   */
  @Get('ready')
  async ready(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const problems: { generic: string; detail: string }[] = [];
    try {
      await this.storage.query('SELECT 1 AS ok FROM {database}.agg_partials LIMIT 0');
    } catch (e) {
      problems.push({ generic: 'storage: not answering', detail: `storage: ${(e as Error).message.split('\n')[0]}` });
    }
    for (const check of this.readiness) {
      const p = await check();
      if (p) problems.push({ generic: 'a hosted module is not ready', detail: p });
    }
    if (problems.length) this.logger.warn(`not ready: ${problems.map((p) => p.detail).join('; ')}`);
    const detailed = req.tokenName !== undefined;
    return reply.code(problems.length ? 503 : 200).send({
      status: problems.length ? 'not ready' : 'ready',
      problems: [...new Set(problems.map((p) => (detailed ? p.detail : p.generic)))],
    });
  }

  @Get('metrics')
  async metricsText(@Res() reply: FastifyReply) {
    this.metrics.cacheBytes.set(this.store.cachedBytes);
    const parts = [await this.metrics.registry.metrics(), ...(await Promise.all(this.extraMetrics.map((m) => m())))];
    return reply.header('content-type', this.metrics.registry.contentType).send(parts.join('\n'));
  }
}
