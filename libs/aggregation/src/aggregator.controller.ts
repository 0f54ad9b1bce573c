import { Controller, Get, Header, HttpException, HttpStatus } from '@nestjs/common';
import { AggregatorService } from './aggregator.service';

@Controller()
export class AggregatorController {
  constructor(private readonly aggregator: AggregatorService) {}

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
