import { Module, type DynamicModule } from '@nestjs/common';
import { aggregatorNestModule, type AggregatorOptions } from '@tma/aggregation';
import { HealthController } from './health.controller';

/** The standalone aggregator application: the library's aggregator plus its metrics and health endpoints. */
@Module({})
export class AggregatorAppModule {
  static forRoot(options: AggregatorOptions = {}): DynamicModule {
    return {
      module: AggregatorAppModule,
      imports: [aggregatorNestModule(options)],
      controllers: [HealthController],
    };
  }
}
