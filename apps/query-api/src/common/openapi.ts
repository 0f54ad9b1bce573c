// What every /v1 endpoint shares in the OpenAPI document: the query parameters of the range, hosts and flow filters,
// the error and scope schemas, and the operation decorator (summary, 200 schema, 400 and 401).
import { applyDecorators, Controller } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiOkResponse,
  ApiOperation,
  ApiQuery,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ADDRESS, durationPattern, HOSTS, INSTANT, METRIC_LIST, PREFIX, PROTOCOL } from './patterns';

/** Largest request body Fastify reads (app.ts); a larger one is a 413. */
export const BODY_LIMIT_BYTES = 256 * 1024;

export const num = { type: 'number' } as const;
export const int = { type: 'integer' } as const;
export const str = { type: 'string' } as const;

export const scopeSchema = {
  type: 'object',
  description: 'What was answered: the windows merged, the host set, and from where figures are still provisional',
  required: ['from', 'to', 'tiers', 'hosts', 'exact', 'provisionalFrom'],
  properties: {
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    tiers: {
      type: 'object',
      additionalProperties: { type: 'integer', nullable: true },
      description: 'windows merged per tier (1m, 1h, 1d)',
    },
    hosts: { type: 'array', items: str, nullable: true },
    exact: { type: 'boolean', description: 'false when stored partials mix requested hosts with others' },
    coveredHosts: { type: 'array', items: str },
    provisionalFrom: {
      type: 'string',
      format: 'date-time',
      nullable: true,
      description:
        'start of the earliest window merged from provisional rows (a window an aggregator has not written as final yet: its figures still grow); null when every window merged is final',
    },
    otherSeedWindows: {
      type: 'integer',
      minimum: 1,
      description:
        'windows whose rows (all or some partitions) were stored under another hash seed and left out (after a seed rotation: sketches of two seeds never merge); absent when none',
    },
  },
};

export const errorSchema = {
  type: 'object',
  required: ['statusCode', 'error', 'message'],
  properties: {
    statusCode: int,
    error: str,
    message: str,
    field: { ...str, description: 'the parameter that was refused' },
    requestId: str,
  },
};

/** A /v1 controller: tagged "queries", bearer auth. */
export const QueryController = () => applyDecorators(ApiTags('queries'), ApiBearerAuth(), Controller('v1'));

/** Query parameters a REST endpoint takes besides its own: the range, then hosts and flow filters. */
export const TIME = ['range', 'from', 'to'];
export const FLOW_FILTERS = ['hosts', 'protocol', 'srcPort', 'dstPort', 'srcPrefix', 'dstPrefix'];

export const q = (
  name: string,
  description: string,
  schema: Record<string, unknown> = { type: 'string' },
  required = false,
) => ApiQuery({ name, description, required, schema });

/** The range's pattern is set from TMA_API_MAX_RANGE when the document is generated (openapi-document.ts). */
export const TimeParams = () =>
  applyDecorators(
    q(
      'range',
      'relative range ending now, at most TMA_API_MAX_RANGE: 15m, 1h, 24h, 7d (default 1h). Give either range or from [+ to], never both',
      { type: 'string', pattern: durationPattern(31 * 86_400_000), example: '15m' },
    ),
    q(
      'from',
      'start, ISO 8601 with a zone (a real calendar date) or epoch ms; not with range. from..to (to default now) must be positive and at most TMA_API_MAX_RANGE',
      { type: 'string', pattern: INSTANT },
    ),
    q('to', 'end (exclusive), ISO 8601 with a zone or epoch ms, default now; only with from, later than from', {
      type: 'string',
      pattern: INSTANT,
    }),
  );
export const HostsParam = () =>
  q('hosts', 'comma-separated host ids, at most 1000 (default: the whole fleet)', {
    type: 'string',
    pattern: HOSTS,
    example: 'web-1,web-2',
  });
export const protocolSchema = { type: 'string', pattern: PROTOCOL } as const;
export const portSchema = { type: 'integer', minimum: 0, maximum: 65535 } as const;
export const addressSchema = { type: 'string', pattern: ADDRESS } as const;
export const prefixSchema = { type: 'string', pattern: PREFIX } as const;
/** The step's pattern is set from TMA_API_MAX_RANGE when the document is generated (openapi-document.ts). */
export const stepSchema = { type: 'string', pattern: durationPattern(31 * 86_400_000, 'mhdw'), example: '5m' } as const;
export const metricsSchema = (metrics: readonly string[]) => ({ type: 'string', pattern: METRIC_LIST(metrics) });
export const STEP_DESCRIPTION =
  'bucket width in whole minutes, hours, days or weeks, at most TMA_API_MAX_RANGE (default: about 120 points); range / step must not exceed TMA_API_MAX_POINTS';
const PREFIX_NOTE = 'host bits beyond the length must be zero';
export const FlowFilterParams = () =>
  applyDecorators(
    HostsParam(),
    q('protocol', 'tcp, udp, icmp, icmpv6, gre, esp, sctp (any case) or a number 0-255', protocolSchema),
    q('srcPort', 'source port (ICMP type)', portSchema),
    q('dstPort', 'destination port (ICMP code)', portSchema),
    q('srcPrefix', `source prefix, e.g. 10.1.0.0/16; ${PREFIX_NOTE}`, prefixSchema),
    q('dstPrefix', `destination prefix, e.g. 2001:db8::/32; ${PREFIX_NOTE}`, prefixSchema),
  );
export const Common = (summary: string, schema: object) =>
  applyDecorators(
    ApiOperation({ summary }),
    ApiOkResponse({ schema }),
    ApiBadRequestResponse({ description: 'a parameter was refused; `field` names it', schema: errorSchema }),
    ApiUnauthorizedResponse({ description: 'missing or invalid bearer token', schema: errorSchema }),
  );
