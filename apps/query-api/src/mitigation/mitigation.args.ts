// The arguments of proposing and deciding, checked the same way for REST bodies and GraphQL mutation arguments.
import type { RuleInput } from '@tma/threats';
import { InvalidInputError } from '../common/errors';
import { RULE_ID } from './mitigation.schemas';

const ID_RE = new RegExp(RULE_ID);
const FIELDS = ['srcPrefix', 'dst', 'port', 'protocol', 'ttlSeconds', 'reason', 'dryRun', 'hosts', 'alertId'];

export function ruleId(id: unknown): string {
  if (typeof id !== 'string' || !ID_RE.test(id)) throw new InvalidInputError('id', 'a rule id (UUID, lower case)');
  return id;
}

/** The note of a decision (kept in the audit trail as why); empty when none. */
export function decisionNote(n: unknown): string {
  if (n === undefined) return '';
  if (typeof n !== 'string' || n.length > 500) throw new InvalidInputError('note', 'text of at most 500 characters');
  return n;
}

/** A proposal: a rule, or a flood alert's own proposal (alertId with at most ttlSeconds and dryRun). */
export type Proposal =
  { alertId: string; ttlSeconds?: number; dryRun?: boolean } | { alertId?: undefined; rule: RuleInput };

export function proposalArgs(b: Record<string, unknown>): Proposal {
  const extra = Object.keys(b).find((k) => !FIELDS.includes(k));
  if (extra) throw new InvalidInputError(extra, `unknown field (one of ${FIELDS.join(', ')})`);
  const dryRun = b.dryRun;
  if (dryRun !== undefined && typeof dryRun !== 'boolean') throw new InvalidInputError('dryRun', 'true or false');
  if (b.alertId !== undefined) {
    if (typeof b.alertId !== 'string' || !/^[0-9a-f]{16}$/.test(b.alertId))
      throw new InvalidInputError('alertId', 'an alert id (16 hex digits)');
    const other = Object.keys(b).find((k) => !['alertId', 'ttlSeconds', 'dryRun'].includes(k));
    if (other) throw new InvalidInputError(other, 'with alertId only ttlSeconds and dryRun may be given');
    const ttl = b.ttlSeconds === undefined ? undefined : Number(b.ttlSeconds);
    return { alertId: b.alertId, ttlSeconds: ttl, dryRun: dryRun as boolean | undefined };
  }
  const str = (k: string) => {
    if (b[k] != null && typeof b[k] !== 'string') throw new InvalidInputError(k, 'text');
    return b[k] as string | undefined;
  };
  const integer = (k: string) => {
    if (b[k] != null && !Number.isInteger(b[k])) throw new InvalidInputError(k, 'an integer');
    return b[k] as number | undefined;
  };
  if (b.hosts !== undefined && !Array.isArray(b.hosts)) throw new InvalidInputError('hosts', 'a list of host ids');
  if (b.srcPrefix === undefined) throw new InvalidInputError('srcPrefix', 'required: the source prefix to block');
  if (b.ttlSeconds === undefined) throw new InvalidInputError('ttlSeconds', 'required: how long the rule lasts');
  if (b.reason === undefined) throw new InvalidInputError('reason', 'required: why');
  return {
    rule: {
      srcPrefix: str('srcPrefix')!,
      dst: str('dst') ?? null,
      port: integer('port') ?? 0,
      protocol: (str('protocol') ?? 'any') as never,
      ttlSeconds: integer('ttlSeconds')!,
      reason: str('reason')!,
      dryRun: dryRun as boolean | undefined,
      hosts: b.hosts as string[] | undefined,
    },
  };
}
