// A SnapshotAggregator as a Nest module: it starts when the application bootstraps and stops (flushing its open
// windows) when the application shuts down. Inject SnapshotAggregator for readiness() and metricsText().
import { Module, type DynamicModule } from '@nestjs/common';
import { SnapshotAggregator, type AggregatorOptions } from './snapshot-aggregator';

@Module({})
export class AggregatorNestModule {}

const LIFECYCLE = Symbol('aggregator lifecycle');

export function aggregatorNestModule(options: AggregatorOptions = {}): DynamicModule {
  return {
    module: AggregatorNestModule,
    providers: [
      { provide: SnapshotAggregator, useFactory: () => new SnapshotAggregator(options) },
      {
        provide: LIFECYCLE,
        inject: [SnapshotAggregator],
        useFactory: (aggregator: SnapshotAggregator) => ({
          onApplicationBootstrap: () => aggregator.start(),
          onApplicationShutdown: () => aggregator.stop(),
        }),
      },
    ],
    exports: [SnapshotAggregator],
  };
}
