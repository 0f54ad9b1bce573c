// Response schemas of the flow queries for the OpenAPI document (the e2e test checks real answers against them).
import { int, num, scopeSchema, str } from '../common/openapi';

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
