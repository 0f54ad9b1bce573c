// Request and response schemas of the mitigation endpoints for the OpenAPI document (the e2e and contract tests check
// real answers against them).
import { RULE_PROTOCOLS, MAX_RULE_TTL_S, MIN_RULE_TTL_S } from '@tma/threats';
import { int, str } from '../common/openapi';
import { ADDRESS, PREFIX } from '../common/patterns';
import { AUDIT_STEPS, RULE_STATUSES } from './mitigation.service';

const time = { type: 'string', format: 'date-time' } as const;
export const RULE_ID = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
const HOST = '^[A-Za-z0-9._:-]{1,253}$';

export const proposeBodySchema = {
  type: 'object',
  description:
    'A rule (srcPrefix, ttlSeconds and reason required), or {"alertId"} for the proposal a flood alert carries (its top sources or their /24, its destination, its hosts). A schema-valid rule is still refused with a 400 naming the field when its prefix has host bits set, is wider than /8 (IPv4) or /16 (IPv6), holds a protected address (a broker, the API), or names a port without tcp/udp; with a 409 when a rule already covers the prefix or the cap is reached.',
  additionalProperties: false,
  properties: {
    srcPrefix: { type: 'string', pattern: PREFIX, description: 'source prefix: 203.0.113.0/24, 2001:db8::/48' },
    dst: { type: 'string', pattern: ADDRESS, nullable: true, description: 'destination address (default any)' },
    port: { type: 'integer', minimum: 0, maximum: 65535, description: 'destination port, 0 = any (tcp/udp only)' },
    protocol: { type: 'string', enum: Object.keys(RULE_PROTOCOLS), description: 'default any' },
    ttlSeconds: { type: 'integer', minimum: MIN_RULE_TTL_S, maximum: MAX_RULE_TTL_S },
    reason: { type: 'string', minLength: 3, maxLength: 500, pattern: '\\S' },
    dryRun: { type: 'boolean', description: 'only count what the rule would drop' },
    hosts: {
      type: 'array',
      items: { type: 'string', pattern: HOST },
      maxItems: 100,
      description: 'default every host',
    },
    alertId: { type: 'string', pattern: '^[0-9a-f]{16}$', description: 'propose from this flood alert' },
  },
};

export const decisionBodySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { note: { type: 'string', maxLength: 500, description: 'why (kept in the audit trail)' } },
};

const dropsSchema = {
  type: 'array',
  description: 'per host: what the rule dropped there since it was applied (would have dropped, in dry-run)',
  items: {
    type: 'object',
    required: ['host', 'packets', 'bytes', 'dryRun', 'at'],
    properties: { host: str, packets: int, bytes: int, dryRun: { type: 'boolean' }, at: time },
  },
};

const ruleProperties = {
  id: str,
  version: int,
  status: { type: 'string', enum: [...RULE_STATUSES] },
  srcPrefix: str,
  dst: { ...str, nullable: true },
  port: int,
  protocol: str,
  ttlSeconds: int,
  dryRun: { type: 'boolean' },
  hosts: { type: 'array', items: str, description: 'empty: every host' },
  reason: str,
  origin: { type: 'string', enum: ['operator', 'detector'] },
  alertId: { ...str, nullable: true },
  proposedBy: str,
  proposedAt: time,
  decidedBy: { ...str, nullable: true },
  decidedAt: { ...time, nullable: true },
  expiresAt: { ...time, nullable: true, description: 'approval time + TTL; null until approved' },
  drops: dropsSchema,
  totalPackets: int,
};
const ruleRequired = Object.keys(ruleProperties);

export const ruleSchema = { type: 'object', required: ruleRequired, properties: ruleProperties };

export const ruleWithAuditSchema = {
  type: 'object',
  required: [...ruleRequired, 'audit'],
  properties: {
    ...ruleProperties,
    audit: {
      type: 'array',
      description: 'every step, oldest first: who (a token, or host:<id>), when, what, why',
      items: {
        type: 'object',
        required: ['at', 'step', 'version', 'actor', 'host', 'detail', 'packets', 'bytes'],
        properties: {
          at: time,
          step: { type: 'string', enum: [...AUDIT_STEPS] },
          version: int,
          actor: str,
          host: { ...str, nullable: true },
          detail: str,
          packets: int,
          bytes: int,
        },
      },
    },
  },
};

export const rulesSchema = {
  type: 'object',
  required: ['rules', 'cap'],
  properties: {
    rules: { type: 'array', items: ruleSchema, description: 'newest proposal first (at most 100)' },
    cap: { ...int, description: 'rules proposed or in force at once (TMA_MITIGATION_MAX_RULES)' },
  },
};
