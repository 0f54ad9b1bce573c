// GraphQL over the same QueryService and the same parameter checks as REST. Introspection stays on; every
// operation is checked for depth and complexity before validation and execution (a flows list costs k items, other
// lists 20). Introspection fields (__schema, __type) are exempt: their shape is fixed and the document length is capped.
import { Body, Controller, Get, HttpCode, Inject, Post, Query, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  buildSchema,
  execute,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  GraphQLError,
  Kind,
  parse,
  printSchema,
  type SelectionSetNode,
  validate,
  type GraphQLSchema,
} from 'graphql';
import type { QueryApiConfig } from './config';
import { InvalidInputError } from './errors';
import type { Metrics } from './observability';
import {
  parseEnum,
  parseFilters,
  parseFlowTuple,
  parseHosts,
  parseK,
  parsePhi,
  parsePrefix,
  parseStep,
  parseTimeRange,
  refuseFlowFilters,
  type Raw,
} from './params';
import { CARDINALITY_METRICS, type CardinalityMetric, QueryService, type Scope } from './query.service';

export const METRICS = 'QUERY_API_METRICS';
export const MAX_DEPTH = 6;
export const MAX_COMPLEXITY = 20_000;

const TIME_ARGS = 'range: String, from: String, to: String, hosts: [String!]';
const FLOW_FILTER_ARGS = 'protocol: String, srcPort: Int, dstPort: Int, srcPrefix: String, dstPrefix: String';

export const SDL = /* GraphQL */ `
"""Time range: range (relative, e.g. 15m, 24h) or from/to (ISO 8601 or epoch ms). Default: the last hour."""
type Query {
  "Top flows by packets or bytes; every estimate with its CMS bound ε·N at confidence 1 − δ."
  topFlows(${TIME_ARGS}, ${FLOW_FILTER_ARGS}, by: RankBy = packets, k: Int = 10): TopFlows!
  "Point estimate of one 5-tuple."
  flowEstimate(${TIME_ARGS}, src: String!, dst: String!, srcPort: Int!, dstPort: Int!, protocol: String!): FlowEstimateResult!
  "Traffic of tracked flows inside a prefix."
  prefixEstimate(${TIME_ARGS}, side: Side!, prefix: String!, protocol: String): PrefixEstimate!
  "Distinct counts over the whole range (HLL union), with standard errors."
  cardinality(${TIME_ARGS}): Cardinality!
  "Distinct counts per step."
  cardinalitySeries(${TIME_ARGS}, step: String, metrics: [CardinalityMetric!]): CardinalitySeries!
  "Hierarchical heavy hitters over prefixes with threshold phi."
  heavyHitters(${TIME_ARGS}, ${FLOW_FILTER_ARGS}, side: Side = src, phi: Float = 0.05, by: RankBy = packets): HeavyHitters!
  "Exact packets and bytes per protocol per step."
  trafficSeries(${TIME_ARGS}, protocol: String, step: String): TrafficSeries!
  "Hosts seen in the range."
  hosts(${TIME_ARGS}): Hosts!
}
enum RankBy { packets bytes }
enum Side { src dst }
enum CardinalityMetric { flows sources destinations ports }
type TierCount { tier: String!, windows: Int }
type Scope { from: String!, to: String!, tiers: [TierCount!]!, hosts: [String!], exact: Boolean!, coveredHosts: [String!] }
type CmsBound { bound: Float!, epsilon: Float!, confidence: Float!, total: Float! }
type Flow {
  src: String!, dst: String!, srcPort: Int!, dstPort: Int!, protocol: Int!, protocolName: String
  packets: Float!, packetsLower: Float!, packetsBound: Float!
  bytes: Float!, bytesLower: Float!, bytesBound: Float!, confidence: Float!
}
type TopFlows { scope: Scope!, by: RankBy!, k: Int!, packets: CmsBound!, bytes: CmsBound!, candidates: Int!, completeAbove: Float!, matched: Int!, flows: [Flow!]! }
type FlowEstimateResult { scope: Scope!, flow: Flow!, packets: CmsBound!, bytes: CmsBound! }
type PrefixEstimate {
  scope: Scope!, side: Side!, prefix: String!, flows: Int!, packets: Float!, packetsLower: Float!, packetsBound: Float!
  bytes: Float!, bytesLower: Float!, bytesBound: Float!, confidence: Float!, note: String!
}
type HllValue { estimate: Float!, standardError: Float!, low95: Float!, high95: Float! }
type Cardinality { scope: Scope!, flows: HllValue!, sources: HllValue!, destinations: HllValue!, ports: HllValue! }
type CardinalityPoint { t: String!, value: HllValue }
type MetricSeries { metric: CardinalityMetric!, points: [CardinalityPoint!]! }
type CardinalitySeries { scope: Scope!, stepSeconds: Int!, series: [MetricSeries!]! }
type Prefix { prefix: String!, family: Int!, length: Int!, weight: Float!, discounted: Float!, share: Float!, boundPerFlow: Float! }
type IcicleNode { prefix: String!, length: Int!, parent: String, weight: Float!, share: Float! }
type HeavyHitters {
  scope: Scope!, side: Side!, phi: Float!, by: RankBy!, total: Float!, threshold: Float!, bound: Float!, confidence: Float!
  prefixes: [Prefix!]!, icicle: [IcicleNode!]!
}
type Totals { packets: [Float!]!, bytes: [Float!]! }
type ProtocolSeries { protocol: Int!, name: String, packets: [Float!]!, bytes: [Float!]! }
type TrafficSeries { scope: Scope!, stepSeconds: Int!, times: [String!]!, total: Totals!, protocols: [ProtocolSeries!]! }
type Host {
  host: String!, firstSeen: String!, lastSeen: String!, agentVersion: String, bootId: String!, lastSequence: Float!
  snapshots: Float!, packets: Float!, bytes: Float!, gaps: Float!
}
type Hosts { scope: Scope!, hosts: [Host!]! }
`;

function scopeOut(s: Scope) {
  return { ...s, tiers: Object.entries(s.tiers).map(([tier, windows]) => ({ tier, windows })) };
}

/** Depth and complexity of an operation (fragments expanded). */
export function measure(doc: DocumentNode): { depth: number; complexity: number } {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of doc.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  let depth = 0;
  const walk = (set: SelectionSetNode | undefined, level: number, multiplier: number, seen: Set<string>): number => {
    if (!set) return 0;
    depth = Math.max(depth, level);
    if (level > 64) return Infinity;
    let cost = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        const f = sel as FieldNode;
        if (f.name.value.startsWith('__')) continue;
        cost += multiplier;
        let m = multiplier;
        if (f.selectionSet) {
          const kArg = f.arguments?.find((a) => a.name.value === 'k');
          // k given as a literal, as a variable (worst case) or by default (10); carried to the flows list below.
          if (kArg) m = multiplier * (kArg.value.kind === Kind.INT ? Number(kArg.value.value) : 1000) * 1.0000001;
          else if (f.name.value === 'flows' && Number.isInteger(multiplier)) m = multiplier * 10;
          else if (['prefixes', 'icicle', 'points', 'series', 'protocols', 'hosts', 'tiers'].includes(f.name.value))
            m *= 20;
        }
        cost += walk(f.selectionSet, level + 1, m, seen);
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        cost += walk(sel.selectionSet, level, multiplier, seen);
      } else {
        const name = sel.name.value;
        if (seen.has(name)) return Infinity; // cycles are also refused by validation
        const frag = fragments.get(name);
        cost += walk(frag?.selectionSet, level, multiplier, new Set([...seen, name]));
      }
    }
    return cost;
  };
  let complexity = 0;
  for (const d of doc.definitions)
    if (d.kind === Kind.OPERATION_DEFINITION) complexity += walk(d.selectionSet, 0, 1, new Set());
  return { depth, complexity };
}

export interface GraphQLResponse {
  status: number;
  body: { data?: unknown; errors?: unknown[] };
}

export class GraphQLRunner {
  readonly schema: GraphQLSchema;
  private readonly root: Record<string, (args: Raw) => unknown>;

  constructor(svc: QueryService, config: QueryApiConfig) {
    this.schema = buildSchema(SDL);
    const range = (a: Raw) => parseTimeRange(a, config);
    this.root = {
      topFlows: async (a) => {
        const r = await svc.topFlows(
          range(a),
          parseFilters(a),
          parseEnum(a, 'by', ['packets', 'bytes'] as const, 'packets'),
          parseK(a, config),
        );
        return { ...r, scope: scopeOut(r.scope) };
      },
      flowEstimate: async (a) => {
        const r = await svc.flowEstimate(range(a), parseHosts(a), parseFlowTuple(a));
        return { ...r, scope: scopeOut(r.scope) };
      },
      prefixEstimate: async (a) => {
        const side = parseEnum(a, 'side', ['src', 'dst'] as const);
        const r = await svc.prefixEstimate(
          range(a),
          parseFilters({ hosts: a.hosts, protocol: a.protocol }),
          side,
          parsePrefix('prefix', String(a.prefix)),
        );
        return { ...r, scope: scopeOut(r.scope) };
      },
      cardinality: async (a) => {
        const r = await svc.cardinality(range(a), parseHosts(a));
        return { ...r, scope: scopeOut(r.scope) };
      },
      cardinalitySeries: async (a) => {
        const rg = range(a);
        const metrics = (
          (a.metrics as string[] | undefined)?.length ? [...new Set(a.metrics as string[])] : CARDINALITY_METRICS
        ) as CardinalityMetric[];
        const r = await svc.cardinalitySeries(rg, parseStep(a, rg, config), parseHosts(a), metrics);
        return {
          ...r,
          scope: scopeOut(r.scope),
          series: Object.entries(r.series).map(([metric, points]) => ({ metric, points })),
        };
      },
      heavyHitters: async (a) => {
        const r = await svc.heavyHitters(
          range(a),
          parseFilters(a),
          parseEnum(a, 'side', ['src', 'dst'] as const, 'src'),
          parsePhi(a),
          parseEnum(a, 'by', ['packets', 'bytes'] as const, 'packets'),
        );
        return { ...r, scope: scopeOut(r.scope) };
      },
      trafficSeries: async (a) => {
        const rg = range(a);
        const filters = parseFilters({ hosts: a.hosts, protocol: a.protocol });
        refuseFlowFilters(filters, 'traffic totals');
        const r = await svc.protocolSeries(rg, parseStep(a, rg, config), filters);
        return { ...r, scope: scopeOut(r.scope) };
      },
      hosts: async (a) => {
        const r = await svc.hosts(range(a), parseHosts(a));
        return { ...r, scope: scopeOut(r.scope) };
      },
    };
  }

  sdl(): string {
    return printSchema(this.schema);
  }

  async run(query: unknown, variables: unknown, operationName: unknown): Promise<GraphQLResponse> {
    const bad = (message: string, field?: string): GraphQLResponse => ({
      status: 400,
      body: { errors: [{ message, extensions: { code: 'BAD_REQUEST', ...(field ? { field } : {}) } }] },
    });
    if (typeof query !== 'string' || query.trim() === '') return bad('query: a GraphQL document is required', 'query');
    if (query.length > 20_000) return bad('query: longer than 20,000 characters', 'query');
    if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables)))
      return bad('variables: must be a JSON object', 'variables');
    if (operationName !== undefined && operationName !== null && typeof operationName !== 'string')
      return bad('operationName: must be a string', 'operationName');
    let doc: DocumentNode;
    try {
      doc = parse(query);
    } catch (e) {
      return {
        status: 400,
        body: {
          errors: [
            {
              message: (e as GraphQLError).message,
              locations: (e as GraphQLError).locations,
              extensions: { code: 'GRAPHQL_PARSE_FAILED' },
            },
          ],
        },
      };
    }
    const { depth, complexity } = measure(doc);
    if (depth > MAX_DEPTH) return bad(`query depth ${depth} exceeds ${MAX_DEPTH}`);
    if (complexity > MAX_COMPLEXITY)
      return bad(
        `query complexity ${Math.round(complexity)} exceeds ${MAX_COMPLEXITY}: ask for fewer fields or a smaller k`,
      );
    const errors = validate(this.schema, doc);
    if (errors.length)
      return {
        status: 400,
        body: {
          errors: errors.map((e) => ({
            message: e.message,
            locations: e.locations,
            extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
          })),
        },
      };
    const result = await execute({
      schema: this.schema,
      document: doc,
      rootValue: this.root,
      variableValues: (variables as Record<string, unknown>) ?? undefined,
      operationName: (operationName as string) ?? undefined,
    });
    if (!result.errors?.length) return { status: 200, body: { data: result.data } };
    const errs = result.errors.map((e) => {
      const orig = e.originalError;
      if (orig instanceof InvalidInputError)
        return { message: orig.message, path: e.path, extensions: { code: 'BAD_USER_INPUT', field: orig.field } };
      if (!orig || orig instanceof GraphQLError)
        return { message: e.message, path: e.path, locations: e.locations, extensions: { code: 'BAD_USER_INPUT' } };
      return { message: 'internal error', path: e.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    });
    return { status: 200, body: { data: result.data ?? null, errors: errs } };
  }
}

@ApiExcludeController()
@Controller('graphql')
export class GraphQLController {
  constructor(
    private readonly runner: GraphQLRunner,
    @Inject(METRICS) private readonly metrics: Metrics,
  ) {}

  private async answer(
    reply: FastifyReply,
    req: FastifyRequest,
    query: unknown,
    variables: unknown,
    operationName: unknown,
  ) {
    const r = await this.runner.run(query, variables, operationName);
    const internal = (r.body.errors as { extensions?: { code?: string } }[] | undefined)?.some(
      (e) => e.extensions?.code === 'INTERNAL_SERVER_ERROR',
    );
    this.metrics.graphql.inc({
      outcome: r.status !== 200 ? 'rejected' : internal ? 'error' : r.body.errors ? 'partial' : 'ok',
    });
    if (internal) (req as unknown as { graphqlInternalError?: boolean }).graphqlInternalError = true;
    return reply.code(r.status).header('content-type', 'application/json').send(r.body);
  }

  @Post()
  @HttpCode(200)
  post(@Body() body: Raw | undefined, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    if (!body || typeof body !== 'object')
      return reply.code(400).send({
        errors: [
          {
            message: 'body: a JSON object {query, variables} is required',
            extensions: { code: 'BAD_REQUEST', field: 'body' },
          },
        ],
      });
    return this.answer(reply, req, body.query, body.variables, body.operationName);
  }

  @Get()
  get(@Query() q: Raw, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    let variables: unknown;
    if (typeof q.variables === 'string' && q.variables !== '') {
      try {
        variables = JSON.parse(q.variables);
      } catch {
        return reply.code(400).send({
          errors: [{ message: 'variables: not valid JSON', extensions: { code: 'BAD_REQUEST', field: 'variables' } }],
        });
      }
    }
    return this.answer(reply, req, q.query, variables, q.operationName);
  }

  @Get('schema')
  schema(@Res() reply: FastifyReply) {
    return reply.header('content-type', 'text/plain; charset=utf-8').send(this.runner.sdl());
  }
}
