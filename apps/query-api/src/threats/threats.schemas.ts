// Response schema of the threats list for the OpenAPI document (the e2e and contract tests check real answers).
import { THREAT_KINDS } from '@tma/threats';
import { int, num, scopeSchema, str } from '../common/openapi';

const time = { type: 'string', format: 'date-time' } as const;

export const evidenceSchema = {
  type: 'object',
  required: ['name', 'value'],
  properties: {
    name: str,
    value: num,
    lower: {
      ...num,
      description: 'lower bound of an estimate (CMS: estimate − ε·N or the kernel count; HLL: −3 s.e.)',
    },
    upper: { ...num, description: 'upper bound of an estimate (CMS estimates never undercount; HLL: +3 s.e.)' },
  },
};

export const threatsSchema = {
  type: 'object',
  required: ['scope', 'windowsEvaluated', 'alerts'],
  properties: {
    scope: scopeSchema,
    windowsEvaluated: { ...int, description: 'windows of the range the detectors have evaluated' },
    alerts: {
      type: 'array',
      description: 'alerts with any event in the range, most recently seen first (at most 100)',
      items: {
        type: 'object',
        required: ['id', 'kind', 'subject', 'status', 'openedAt', 'lastSeen', 'resolvedAt', 'peakScore', 'score'],
        properties: {
          id: str,
          kind: { type: 'string', enum: [...THREAT_KINDS] },
          subject: { ...str, description: 'a destination, a flow, fleet, host:<id> or hosts:<id>,<id>' },
          status: { type: 'string', enum: ['open', 'resolved'], description: 'as of the end of the range' },
          openedAt: time,
          lastSeen: { ...time, description: 'start of the last window that detected it' },
          resolvedAt: { ...time, nullable: true },
          peakScore: num,
          score: { ...num, description: 'score in the last window that detected it' },
          hosts: { type: 'array', items: str, description: 'hosts whose rows held the evidence' },
          related: { type: 'array', items: str, description: 'named sources or flows' },
          evidence: { type: 'array', items: evidenceSchema, description: 'of the last window that detected it' },
          timeline: {
            type: 'array',
            description: 'the newest 30 events of the alert in the range',
            items: {
              type: 'object',
              required: ['t', 'event', 'score'],
              properties: { t: time, event: { type: 'string', enum: ['opened', 'updated', 'resolved'] }, score: num },
            },
          },
        },
      },
    },
  },
};
