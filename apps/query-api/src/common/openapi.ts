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

export const num = { type: 'number' } as const;
export const int = { type: 'integer' } as const;
export const str = { type: 'string' } as const;

export const scopeSchema = {
  type: 'object',
  description: 'What was answered: the windows merged and the host set',
  required: ['from', 'to', 'tiers', 'hosts', 'exact'],
  properties: {
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    tiers: {
      type: 'object',
      additionalProperties: { type: 'integer', nullable: true },
      description: 'windows merged per tier (1m, 1h)',
    },
    hosts: { type: 'array', items: str, nullable: true },
    exact: { type: 'boolean', description: 'false when stored partials mix requested hosts with others' },
    coveredHosts: { type: 'array', items: str },
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

export const TimeParams = () =>
  applyDecorators(
    q('range', 'relative range ending now: 15m, 1h, 24h, 7d (default 1h); not with from/to', {
      type: 'string',
      pattern: '^\\d+[smhdw]$',
      example: '15m',
    }),
    q('from', 'start, ISO 8601 with zone or epoch ms', { type: 'string', example: '2026-11-27T14:00:00Z' }),
    q('to', 'end (exclusive), default now', { type: 'string' }),
  );
export const HostsParam = () =>
  q('hosts', 'comma-separated host ids (default: the whole fleet)', { type: 'string', example: 'web-1,web-2' });
export const FlowFilterParams = () =>
  applyDecorators(
    HostsParam(),
    q('protocol', 'tcp, udp, icmp, icmpv6 or a number 0-255'),
    q('srcPort', 'source port (ICMP type)', { type: 'integer', minimum: 0, maximum: 65535 }),
    q('dstPort', 'destination port (ICMP code)', { type: 'integer', minimum: 0, maximum: 65535 }),
    q('srcPrefix', 'source prefix, e.g. 10.1.0.0/16'),
    q('dstPrefix', 'destination prefix, e.g. 2001:db8::/32'),
  );
export const Common = (summary: string, schema: object) =>
  applyDecorators(
    ApiOperation({ summary }),
    ApiOkResponse({ schema }),
    ApiBadRequestResponse({ description: 'a parameter was refused; `field` names it', schema: errorSchema }),
    ApiUnauthorizedResponse({ description: 'missing or invalid bearer token', schema: errorSchema }),
  );
