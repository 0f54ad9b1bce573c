// The query API's Nest module: the feature controllers and services, the partial store they read through, and the
// values handed in at creation (config, storage, metrics, hosted modules' readiness and metrics).
import { type DynamicModule, Module, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Storage } from '@tma/storage';
import { DocsController, DocsHolder } from './api-docs/api-docs.controller';
import { CardinalityController } from './cardinality/cardinality.controller';
import { CardinalityService } from './cardinality/cardinality.service';
import type { QueryApiConfig } from './config';
import { DashboardController } from './dashboard/dashboard.controller';
import { FlowsController } from './flows/flows.controller';
import { FlowsService } from './flows/flows.service';
import { GraphQLController } from './graphql/graphql.controller';
import { GraphQLResolvers } from './graphql/graphql.resolvers';
import { GraphQLRunner } from './graphql/graphql.runner';
import { HeavyHittersController } from './heavy-hitters/heavy-hitters.controller';
import { HeavyHittersService } from './heavy-hitters/heavy-hitters.service';
import { HostsController } from './hosts/hosts.controller';
import { HostsService } from './hosts/hosts.service';
import type { Metrics } from './observability';
import { OpsController, type ReadinessCheck } from './ops/ops.controller';
import { MergePool } from './partials/merge-pool';
import { PartialStore } from './partials/partial-store';
import { SketchMerger } from './partials/sketch-merger';
import { CONFIG, EXTRA_METRICS, METRICS, READINESS, STORAGE } from './tokens';
import { SqlController, SqlService } from './sql/sql.controller';
import { TrafficController } from './traffic/traffic.controller';
import { TrafficService } from './traffic/traffic.service';
import { ThreatsController } from './threats/threats.controller';
import { ThreatsService } from './threats/threats.service';
import { MitigationController } from './mitigation/mitigation.controller';
import type { MitigationBus } from './mitigation/mitigation.bus';
import { MITIGATION_BUS, MitigationService } from './mitigation/mitigation.service';

export interface QueryApiModuleOptions {
  config: QueryApiConfig;
  storage: Storage;
  metrics: Metrics;
  docs: DocsHolder;
  readiness?: ReadinessCheck[];
  extraMetrics?: (() => Promise<string>)[];
  imports?: DynamicModule[];
  /** the mitigation commands/reports link (none: approved rules are recorded but not sent) */
  mitigationBus?: MitigationBus | null;
}

@Module({})
export class QueryApiModule implements OnModuleInit, OnModuleDestroy {
  constructor(private readonly store: PartialStore) {}

  async onModuleInit(): Promise<void> {
    await this.store.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.store.stop();
  }

  static create(o: QueryApiModuleOptions): DynamicModule {
    const { config, storage, metrics } = o;
    const store = new PartialStore(
      storage,
      {
        cacheBytes: config.cacheBytes,
        indexRefreshMs: config.indexRefreshMs,
        mergeCache: config.mergeCache,
        mergeCacheBytes: config.mergeCacheBytes,
        fleetRows: config.fleetRows,
        pool:
          config.mergeWorkers > 0
            ? new MergePool({ workers: config.mergeWorkers, queue: config.mergeQueue, seed: config.hashSeed.seed })
            : undefined,
      },
      metrics,
    );
    return {
      module: QueryApiModule,
      imports: o.imports ?? [],
      // /v1 controllers in the order of the OpenAPI document's paths.
      controllers: [
        FlowsController,
        CardinalityController,
        HeavyHittersController,
        TrafficController,
        HostsController,
        SqlController,
        ThreatsController,
        MitigationController,
        GraphQLController,
        OpsController,
        DashboardController,
        DocsController,
      ],
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: METRICS, useValue: metrics },
        { provide: STORAGE, useValue: storage },
        { provide: READINESS, useValue: o.readiness ?? [] },
        { provide: EXTRA_METRICS, useValue: o.extraMetrics ?? [] },
        { provide: PartialStore, useValue: store },
        { provide: DocsHolder, useValue: o.docs },
        SketchMerger,
        FlowsService,
        CardinalityService,
        HeavyHittersService,
        TrafficService,
        SqlService,
        HostsService,
        ThreatsService,
        { provide: MITIGATION_BUS, useValue: o.mitigationBus ?? null },
        MitigationService,
        GraphQLResolvers,
        GraphQLRunner,
      ],
    };
  }
}
