import { Module, type DynamicModule } from '@nestjs/common';
import { AggregatorController } from './aggregator.controller';
import { AGGREGATOR_OPTIONS, AggregatorService, type AggregatorModuleOptions } from './aggregator.service';

/**
 * The aggregator as a Nest module. Standalone: `startAggregator()` (main.ts). In one process with the query API
 * (single-machine mode on embedded chDB): import `AggregatorModule.forRoot({ storage, controllers: false })` in the
 * query API's module, passing the query API's own Storage, and serve `AggregatorService.metricsText()` /
 * `readiness()` where the host wants them.
 */
@Module({})
export class AggregatorModule {
  static forRoot(options: AggregatorModuleOptions = {}): DynamicModule {
    return {
      module: AggregatorModule,
      controllers: options.controllers === false ? [] : [AggregatorController],
      providers: [{ provide: AGGREGATOR_OPTIONS, useValue: options }, AggregatorService],
      exports: [AggregatorService],
    };
  }
}
