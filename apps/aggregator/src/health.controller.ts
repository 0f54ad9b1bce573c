import { Controller, Get, Header, HttpException, HttpStatus } from '@nestjs/common';
import { SnapshotAggregator } from '@tma/aggregation';

/** Prometheus metrics, liveness and readiness of the aggregator instance. */
@Controller()
export class HealthController {
  constructor(private readonly aggregator: SnapshotAggregator) {}

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  metrics(): Promise<string> {
    return this.aggregator.metricsText();
  }

  @Get('health')
  health(): { status: 'ok' } {
    return this.aggregator.health();
  }

  @Get('ready')
  ready(): { ready: boolean } {
    const r = this.aggregator.readiness();
    if (!r.ready) throw new HttpException(r, HttpStatus.SERVICE_UNAVAILABLE);
    return r;
  }
}
