// REST /v1: every answer carries its scope (windows and hosts merged) and its error bounds.
import { applyDecorators, Controller, Get, Inject, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiOkResponse,
  ApiOperation,
  ApiQuery,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { QueryApiConfig } from './config';
import * as S from './openapi-schemas';
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
  refuseUnknown,
  type Raw,
} from './params';
import { CARDINALITY_METRICS, type CardinalityMetric, QueryService } from './query.service';
import { InvalidInputError } from './errors';

export const CONFIG = 'QUERY_API_CONFIG';

const TIME = ['range', 'from', 'to'];
const FLOW_FILTERS = ['hosts', 'protocol', 'srcPort', 'dstPort', 'srcPrefix', 'dstPrefix'];

const q = (name: string, description: string, schema: Record<string, unknown> = { type: 'string' }, required = false) =>
  ApiQuery({ name, description, required, schema });

const TimeParams = () =>
  applyDecorators(
    q('range', 'relative range ending now: 15m, 1h, 24h, 7d (default 1h); not with from/to', {
      type: 'string',
      pattern: '^\\d+[smhdw]$',
      example: '15m',
    }),
    q('from', 'start, ISO 8601 with zone or epoch ms', { type: 'string', example: '2026-11-27T14:00:00Z' }),
    q('to', 'end (exclusive), default now', { type: 'string' }),
  );
const HostsParam = () =>
  q('hosts', 'comma-separated host ids (default: the whole fleet)', { type: 'string', example: 'web-1,web-2' });
const FlowFilterParams = () =>
  applyDecorators(
    HostsParam(),
    q('protocol', 'tcp, udp, icmp, icmpv6 or a number 0-255'),
    q('srcPort', 'source port (ICMP type)', { type: 'integer', minimum: 0, maximum: 65535 }),
    q('dstPort', 'destination port (ICMP code)', { type: 'integer', minimum: 0, maximum: 65535 }),
    q('srcPrefix', 'source prefix, e.g. 10.1.0.0/16'),
    q('dstPrefix', 'destination prefix, e.g. 2001:db8::/32'),
  );
const Common = (summary: string, schema: object) =>
  applyDecorators(
    ApiOperation({ summary }),
    ApiOkResponse({ schema }),
    ApiBadRequestResponse({ description: 'a parameter was refused; `field` names it', schema: S.errorSchema }),
    ApiUnauthorizedResponse({ description: 'missing or invalid bearer token', schema: S.errorSchema }),
  );

function metricsParam(raw: Raw): CardinalityMetric[] {
  const v = raw.metrics;
  if (v === undefined || v === '') return CARDINALITY_METRICS;
  const list = String(v)
    .split(',')
    .map((s) => s.trim());
  for (const m of list)
    if (!(CARDINALITY_METRICS as string[]).includes(m))
      throw new InvalidInputError('metrics', `"${m}" is not one of ${CARDINALITY_METRICS.join(', ')}`);
  return [...new Set(list)] as CardinalityMetric[];
}

@ApiTags('queries')
@ApiBearerAuth()
@Controller('v1')
export class RestController {
  constructor(
    private readonly svc: QueryService,
    @Inject(CONFIG) private readonly config: QueryApiConfig,
  ) {}

  @Get('flows/top')
  @Common('Top flows by packets or bytes, fleet-wide or for a host set, each with its CMS bound', S.topFlowsSchema)
  @TimeParams()
  @FlowFilterParams()
  @q('by', 'rank by packets or bytes', { type: 'string', enum: ['packets', 'bytes'], default: 'packets' })
  @q('k', 'number of flows, 1-1000', { type: 'integer', minimum: 1, maximum: 1000, default: 10 })
  topFlows(@Query() raw: Raw) {
    refuseUnknown(raw, [...TIME, ...FLOW_FILTERS, 'by', 'k']);
    const range = parseTimeRange(raw, this.config);
    return this.svc.topFlows(
      range,
      parseFilters(raw),
      parseEnum(raw, 'by', ['packets', 'bytes'] as const, 'packets'),
      parseK(raw, this.config),
    );
  }

  @Get('flows/estimate')
  @Common('Point estimate of one 5-tuple (CMS estimate with lower bound and ε·N)', S.flowEstimateSchema)
  @TimeParams()
  @HostsParam()
  @q('src', 'source address', { type: 'string' }, true)
  @q('dst', 'destination address', { type: 'string' }, true)
  @q('srcPort', 'source port (ICMP type)', { type: 'integer', minimum: 0, maximum: 65535 }, true)
  @q('dstPort', 'destination port (ICMP code)', { type: 'integer', minimum: 0, maximum: 65535 }, true)
  @q('protocol', 'tcp, udp, icmp, icmpv6 or 0-255', { type: 'string' }, true)
  flowEstimate(@Query() raw: Raw) {
    refuseUnknown(raw, [...TIME, 'hosts', 'src', 'dst', 'srcPort', 'dstPort', 'protocol']);
    const range = parseTimeRange(raw, this.config);
    return this.svc.flowEstimate(range, parseHosts(raw), parseFlowTuple(raw));
  }

  @Get('prefixes/estimate')
  @Common('Traffic of the tracked flows inside a source or destination prefix', S.prefixEstimateSchema)
  @TimeParams()
  @HostsParam()
  @q('side', 'src or dst', { type: 'string', enum: ['src', 'dst'] }, true)
  @q('prefix', 'CIDR prefix, e.g. 172.16.0.0/16', { type: 'string' }, true)
  @q('protocol', 'tcp, udp, icmp, icmpv6 or 0-255')
  prefixEstimate(@Query() raw: Raw) {
    refuseUnknown(raw, [...TIME, 'hosts', 'side', 'prefix', 'protocol']);
    const range = parseTimeRange(raw, this.config);
    const side = parseEnum(raw, 'side', ['src', 'dst'] as const);
    if (raw.prefix === undefined || raw.prefix === '') throw new InvalidInputError('prefix', 'is required');
    const prefix = parsePrefix('prefix', String(raw.prefix).trim());
    return this.svc.prefixEstimate(range, parseFilters({ hosts: raw.hosts, protocol: raw.protocol }), side, prefix);
  }

  @Get('cardinality')
  @Common(
    'Distinct flows, sources, destinations and destination ports over the whole range (one HLL union)',
    S.cardinalitySchema,
  )
  @TimeParams()
  @HostsParam()
  @q('metrics', 'comma-separated subset of flows,sources,destinations,ports (default all)')
  cardinality(@Query() raw: Raw) {
    refuseUnknown(raw, [...TIME, 'hosts', 'metrics']);
    const range = parseTimeRange(raw, this.config);
    return this.svc.cardinality(range, parseHosts(raw), metricsParam(raw));
  }

  @Get('cardinality/series')
  @Common('Distinct counts per step (each point one HLL union); tiers chosen from the step', S.cardinalitySeriesSchema)
  @TimeParams()
  @HostsParam()
  @q('step', 'bucket width, whole minutes (default: about 120 points)', { type: 'string', example: '5m' })
  @q('metrics', 'comma-separated subset of flows,sources,destinations,ports (default all)')
  cardinalitySeries(@Query() raw: Raw) {
    refuseUnknown(raw, [...TIME, 'hosts', 'metrics', 'step']);
    const range = parseTimeRange(raw, this.config);
    const step = parseStep(raw, range, this.config);
    return this.svc.cardinalitySeries(range, step, parseHosts(raw), metricsParam(raw));
  }

  @Get('heavy-hitters')
  @Common(
    'Hierarchical heavy hitters over source or destination prefixes with threshold φ, plus the prefix tree (icicle)',
    S.heavyHittersSchema,
  )
  @TimeParams()
  @FlowFilterParams()
  @q('side', 'src or dst', { type: 'string', enum: ['src', 'dst'], default: 'src' })
  @q('phi', 'threshold as a share of total traffic, [0.0001, 1)', { type: 'number', default: 0.05 })
  @q('by', 'packets or bytes', { type: 'string', enum: ['packets', 'bytes'], default: 'packets' })
  heavyHitters(@Query() raw: Raw) {
    refuseUnknown(raw, [...TIME, ...FLOW_FILTERS, 'side', 'phi', 'by']);
    const range = parseTimeRange(raw, this.config);
    return this.svc.heavyHitters(
      range,
      parseFilters(raw),
      parseEnum(raw, 'side', ['src', 'dst'] as const, 'src'),
      parsePhi(raw),
      parseEnum(raw, 'by', ['packets', 'bytes'] as const, 'packets'),
    );
  }

  @Get('traffic/series')
  @Common('Exact packets and bytes per IP protocol per step (fleet traffic over time)', S.trafficSeriesSchema)
  @TimeParams()
  @HostsParam()
  @q('protocol', 'only this protocol')
  @q('step', 'bucket width, whole minutes (default: about 120 points)', { type: 'string', example: '1m' })
  trafficSeries(@Query() raw: Raw) {
    refuseUnknown(raw, [...TIME, 'hosts', 'protocol', 'step']);
    const range = parseTimeRange(raw, this.config);
    const step = parseStep(raw, range, this.config);
    const filters = parseFilters({ hosts: raw.hosts, protocol: raw.protocol });
    refuseFlowFilters(filters, 'traffic totals');
    return this.svc.protocolSeries(range, step, filters);
  }

  @Get('hosts')
  @Common('Hosts seen in the range: last seen, boot, last sequence, exact totals, sequence gaps', S.hostsSchema)
  @TimeParams()
  @HostsParam()
  hosts(@Query() raw: Raw) {
    refuseUnknown(raw, [...TIME, 'hosts']);
    const range = parseTimeRange(raw, this.config);
    return this.svc.hosts(range, parseHosts(raw));
  }
}
