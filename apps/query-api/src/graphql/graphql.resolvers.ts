// The GraphQL root: each query and mutation parses its arguments with the same functions as its REST endpoint and
// calls the same service (mutations record the token's name as who in the audit trail, as REST does); only the shapes
// GraphQL cannot express as maps (tiers, series) are turned into lists.
import { ForbiddenException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { cardinalityArgs, cardinalitySeriesArgs } from '../cardinality/cardinality.args';
import { CardinalityService } from '../cardinality/cardinality.service';
import type { Raw } from '../common/params';
import type { QueryApiConfig, TokenScope } from '../config';
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
import { lacksScope } from '../common/auth';
import { parseEnum } from '../common/params';
import { decisionNote, proposalArgs, ruleId } from '../mitigation/mitigation.args';
import { MitigationService, RULE_STATUSES } from '../mitigation/mitigation.service';

/** Who sends the operation (from the bearer token, common/auth.ts). */
export interface GraphQLContext {
  tokenName: string;
  scopes: readonly TokenScope[];
}

export type GraphQLRoot = Record<string, (args: Raw, ctx: GraphQLContext) => unknown>;

/** The decisions need the admin scope, checked before anything else as REST does before the route. */
function admin(ctx: GraphQLContext): string {
  if (!ctx.scopes.includes('admin')) throw new ForbiddenException(lacksScope('admin'));
  return ctx.tokenName;
}

/** GraphQL passes an argument given as null as null: the same as leaving it out. */
const given = (a: Raw) => Object.fromEntries(Object.entries(a).filter(([, v]) => v != null));

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
      mitigationRule: async (a) =>
        mitigation.rule(ruleId(a.id)).catch((e: unknown) => {
          if (e instanceof NotFoundException) return null;
          throw e;
        }),
      proposeRule: async (a, ctx) => {
        const p = proposalArgs(given(a));
        return p.alertId !== undefined
          ? mitigation.proposeFromAlert(p.alertId, ctx.tokenName, p.ttlSeconds, p.dryRun)
          : mitigation.propose(p.rule, ctx.tokenName);
      },
      approveRule: async (a, ctx) => {
        const who = admin(ctx);
        return mitigation.approve(ruleId(a.id), who, decisionNote(a.note ?? undefined));
      },
      rejectRule: async (a, ctx) => {
        const who = admin(ctx);
        return mitigation.reject(ruleId(a.id), who, decisionNote(a.note ?? undefined));
      },
      removeRule: async (a, ctx) => {
        const who = admin(ctx);
        return mitigation.remove(ruleId(a.id), who, decisionNote(a.note ?? undefined));
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
