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
    packets: { ...num, description: 'estimate: the deterministic upper bound (packetsUpper)' },
    packetsLower: {
      ...num,
      description: 'deterministic lower bound: counted exactly since the flow entered the kernel tables (truth ≥ this)',
    },
    packetsUpper: { ...num, description: 'deterministic upper bound (truth ≤ this)' },
    packetsBound: { ...num, description: 'ε·N: packetsUpper − truth ≤ bound with probability confidence (CMS)' },
    packetsLowerProbable: {
      ...num,
      description: 'max(packetsLower, packetsUpper − ε·N): the truth is at least this with probability confidence',
    },
    bytes: num,
    bytesLower: num,
    bytesUpper: num,
    bytesBound: num,
    bytesLowerProbable: num,
    confidence: { ...num, description: '1 − δ of the ε·N bound' },
    boundsExact: {
      type: 'boolean',
      description: 'false when sampled counts were scaled up: lower and upper are then estimates, not certain bounds',
    },
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
      nullable: true,
      description:
        "every flow not among the ranked candidates had at most this (by the ranking weight): the entry thresholds, evictions and refusals of the kernel tables, the error of the 1 h and 1 d rows' frequent-items summaries and the ranking shortlist; null when some row does not say",
    },
    summaryError: {
      ...num,
      description:
        "the part of completeAbove that is the error of the 1 h and 1 d rows' frequent-items summaries (by the ranking weight; 0 when the range used none): a deterministic bound, at most 1/10,001 of the counted traffic of those rows",
    },
    complete: {
      type: 'boolean',
      description:
        'the k-th largest lower bound is above completeAbove: no flow outside the candidates is in the top k',
    },
    kthLower: { ...num, description: 'the k-th largest lower bound (0 with fewer than k flows)' },
    boundsExact: { type: 'boolean', description: 'false when any row was sampled' },
    matched: int,
    flows: { type: 'array', items: flowSchema, description: 'the k largest estimates' },
    certain: {
      type: 'array',
      items: flowSchema,
      description: 'flows certainly in the top k: fewer than k others can exceed their lower bound',
    },
    possible: {
      type: 'array',
      items: flowSchema,
      description:
        'flows that may be in the top k (not certain): fewer than k flows certainly exceed their upper bound',
    },
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
    boundsExact: { type: 'boolean' },
    note: str,
  },
};
