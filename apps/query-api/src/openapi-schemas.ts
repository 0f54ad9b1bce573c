// Response schemas for the OpenAPI document (kept beside the REST controller; the e2e test checks real answers
// against them).
const num = { type: 'number' } as const;
const int = { type: 'integer' } as const;
const str = { type: 'string' } as const;

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

const cmsBound = {
  type: 'object',
  properties: {
    bound: { ...num, description: 'ε·N' },
    epsilon: num,
    confidence: { ...num, description: '1 − δ' },
    total: { ...num, description: 'N' },
  },
};

export const flowSchema = {
  type: 'object',
  properties: {
    src: str,
    dst: str,
    srcPort: int,
    dstPort: int,
    protocol: int,
    protocolName: { type: 'string', nullable: true },
    packets: { ...num, description: 'estimate; never below the truth' },
    packetsLower: { ...num, description: 'the truth is at least this (with probability confidence)' },
    packetsBound: { ...num, description: 'ε·N: estimate − truth ≤ bound with probability confidence' },
    bytes: num,
    bytesLower: num,
    bytesBound: num,
    confidence: num,
  },
};

const hll = {
  type: 'object',
  properties: { estimate: num, standardError: { ...num, description: 'relative, 1.04/√m' }, low95: num, high95: num },
};

export const topFlowsSchema = {
  type: 'object',
  properties: {
    scope: scopeSchema,
    by: str,
    k: int,
    packets: cmsBound,
    bytes: cmsBound,
    candidates: int,
    completeAbove: {
      ...num,
      description:
        'every flow whose traffic over the range (by the ranking weight) exceeds this is among the ranked candidates: the sum of the smallest estimates the 1 h rows kept (0 when nothing was left out)',
    },
    matched: int,
    flows: { type: 'array', items: flowSchema },
  },
};

export const flowEstimateSchema = {
  type: 'object',
  properties: { scope: scopeSchema, flow: flowSchema, packets: cmsBound, bytes: cmsBound },
};

export const prefixEstimateSchema = {
  type: 'object',
  properties: {
    scope: scopeSchema,
    side: str,
    prefix: str,
    flows: int,
    packets: num,
    packetsLower: num,
    packetsBound: num,
    bytes: num,
    bytesLower: num,
    bytesBound: num,
    confidence: num,
    note: str,
  },
};

export const cardinalitySchema = {
  type: 'object',
  properties: { scope: scopeSchema, flows: hll, sources: hll, destinations: hll, ports: hll },
};

export const cardinalitySeriesSchema = {
  type: 'object',
  properties: {
    scope: scopeSchema,
    stepSeconds: int,
    series: {
      type: 'object',
      additionalProperties: {
        type: 'array',
        items: {
          type: 'object',
          properties: { t: { type: 'string', format: 'date-time' }, value: { ...hll, nullable: true } },
        },
      },
    },
  },
};

export const heavyHittersSchema = {
  type: 'object',
  properties: {
    scope: scopeSchema,
    side: str,
    phi: num,
    by: str,
    total: num,
    threshold: num,
    bound: num,
    confidence: num,
    prefixes: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          prefix: str,
          family: int,
          length: int,
          weight: num,
          discounted: num,
          share: num,
          boundPerFlow: num,
        },
      },
    },
    icicle: {
      type: 'array',
      items: {
        type: 'object',
        properties: { prefix: str, length: int, parent: { type: 'string', nullable: true }, weight: num, share: num },
      },
    },
  },
};

const numbers = { type: 'array', items: num };
export const trafficSeriesSchema = {
  type: 'object',
  properties: {
    scope: scopeSchema,
    stepSeconds: int,
    times: { type: 'array', items: { type: 'string', format: 'date-time' } },
    total: { type: 'object', properties: { packets: numbers, bytes: numbers } },
    protocols: {
      type: 'array',
      items: {
        type: 'object',
        properties: { protocol: int, name: { type: 'string', nullable: true }, packets: numbers, bytes: numbers },
      },
    },
  },
};

export const hostsSchema = {
  type: 'object',
  properties: {
    scope: scopeSchema,
    hosts: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          host: str,
          firstSeen: { type: 'string', format: 'date-time' },
          lastSeen: { type: 'string', format: 'date-time' },
          agentVersion: { type: 'string', nullable: true },
          bootId: str,
          lastSequence: int,
          snapshots: int,
          packets: int,
          bytes: int,
          gaps: { ...int, description: 'snapshots the host never delivered' },
        },
      },
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
