// The GraphQL root: each query parses its arguments with the same functions as its REST endpoint and calls the same
// service; only the shapes GraphQL cannot express as maps (tiers, series) are turned into lists.
import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import { cardinalityArgs, cardinalitySeriesArgs } from '../cardinality/cardinality.args';
import { CardinalityService } from '../cardinality/cardinality.service';
import type { Raw } from '../common/params';
import type { QueryApiConfig } from '../config';
import { flowEstimateArgs, prefixEstimateArgs, topFlowsArgs } from '../flows/flows.args';
import { FlowsService } from '../flows/flows.service';
import { heavyHittersArgs } from '../heavy-hitters/heavy-hitters.args';
import { HeavyHittersService } from '../heavy-hitters/heavy-hitters.service';
import { hostsArgs } from '../hosts/hosts.args';
import { HostsService } from '../hosts/hosts.service';
import type { Scope } from '../partials/scope';
import { CONFIG } from '../tokens';
import { trafficSeriesArgs } from '../traffic/traffic.args';
import { TrafficService } from '../traffic/traffic.service';
import { threatsArgs } from '../threats/threats.args';
import { ThreatsService } from '../threats/threats.service';
import { InvalidInputError } from '../common/errors';
import { parseEnum } from '../common/params';
import { MitigationService, RULE_STATUSES } from '../mitigation/mitigation.service';
import { RULE_ID } from '../mitigation/mitigation.schemas';

export type GraphQLRoot = Record<string, (args: Raw) => unknown>;

/** An answer with its scope's tiers as a list of {tier, windows}. */
function withScope<T extends { scope: Scope }>(r: T) {
  return {
    ...r,
    scope: { ...r.scope, tiers: Object.entries(r.scope.tiers).map(([tier, windows]) => ({ tier, windows })) },
  };
}

@Injectable()
export class GraphQLResolvers {
  readonly root: GraphQLRoot;

  constructor(
    flows: FlowsService,
    cardinality: CardinalityService,
    hitters: HeavyHittersService,
    traffic: TrafficService,
    hosts: HostsService,
    threats: ThreatsService,
    mitigation: MitigationService,
    @Inject(CONFIG) config: QueryApiConfig,
  ) {
    this.root = {
      mitigationRules: async (a) =>
        mitigation.list(a.status == null ? undefined : parseEnum(a, 'status', RULE_STATUSES)),
      mitigationRule: async (a) => {
        if (typeof a.id !== 'string' || !new RegExp(RULE_ID).test(a.id))
          throw new InvalidInputError('id', 'a rule id (UUID, lower case)');
        return mitigation.rule(a.id).catch((e: unknown) => {
          if (e instanceof NotFoundException) return null;
          throw e;
        });
      },
      topFlows: async (a) => withScope(await flows.topFlows(topFlowsArgs(a, config))),
      flowEstimate: async (a) => withScope(await flows.flowEstimate(flowEstimateArgs(a, config))),
      prefixEstimate: async (a) => withScope(await flows.prefixEstimate(prefixEstimateArgs(a, config))),
      cardinality: async (a) => withScope(await cardinality.cardinality(cardinalityArgs(a, config))),
      cardinalitySeries: async (a) => {
        const r = withScope(await cardinality.cardinalitySeries(cardinalitySeriesArgs(a, config)));
        return { ...r, series: Object.entries(r.series).map(([metric, points]) => ({ metric, points })) };
      },
      heavyHitters: async (a) => withScope(await hitters.heavyHitters(heavyHittersArgs(a, config))),
      trafficSeries: async (a) => withScope(await traffic.protocolSeries(trafficSeriesArgs(a, config))),
      hosts: async (a) => withScope(await hosts.hosts(hostsArgs(a, config))),
      // Enum values cannot hold '-': heavy_change is the REST kind heavy-change.
      threats: async (a) =>
        withScope(
          await threats.threats(
            threatsArgs({ ...a, kind: typeof a.kind === 'string' ? a.kind.replace(/_/g, '-') : a.kind }, config),
          ),
        ),
    };
  }
}
