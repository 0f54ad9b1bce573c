// Block rules with a human in the loop (docs/threats.md, "Mitigation"): an operator (any token) or a detector's
// flood alert proposes a rule; an admin token approves it (then it goes out on the commands topic) or rejects it,
// and may remove it before it expires. Every step, and what each agent reports doing with it, is an audit row.
import { randomUUID } from 'node:crypto';
import {
  ConflictException,
  Inject,
  Injectable,
  NotFoundException,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import type { MitigationCommand, MitigationReport } from '@tma/schema';
import type { Storage } from '@tma/storage';
import {
  checkRule,
  proposalFromAlert,
  RuleError,
  type RuleInput,
  type RuleProtocol,
  type RuleSpec,
} from '@tma/threats';
import { InvalidInputError } from '../common/errors';
import { DEFAULT_MITIGATION, type QueryApiConfig } from '../config';
import { CONFIG, STORAGE } from '../tokens';
import type { MitigationBus } from './mitigation.bus';

/** Injection token of the commands/reports link (null: none configured). */
export const MITIGATION_BUS = 'QUERY_API_MITIGATION_BUS';

export const RULE_STATUSES = ['proposed', 'approved', 'rejected', 'removed', 'expired'] as const;
export type RuleStatus = (typeof RULE_STATUSES)[number];
export const AUDIT_STEPS = ['proposed', 'approved', 'rejected', 'removed', 'applied', 'refused', 'expired'] as const;
/** Rules per list answer, audit rows per rule. */
export const MAX_RULES_LISTED = 100;
export const MAX_AUDIT = 200;

interface RuleRow {
  rule_id: string;
  version: number;
  status: 'proposed' | 'approved' | 'rejected' | 'removed';
  src_prefix: string;
  dst: string;
  port: number;
  protocol: string;
  ttl_seconds: number;
  dry_run: number;
  hosts: string[];
  reason: string;
  origin: string;
  alert_id: string;
  proposed_by: string;
  proposed_at: string;
  decided_by: string;
  decided_at: string;
  applies_until: string;
}

interface AuditRow {
  at: string;
  rule_id: string;
  version: number;
  step: string;
  actor: string;
  host: string;
  detail: string;
  packets: string;
  bytes: string;
}

interface CounterRow {
  rule_id: string;
  host: string;
  version: number;
  dry_run: number;
  packets: string;
  bytes: string;
  at: string;
}

const iso = (ms: number | string) => (Number(ms) > 0 ? new Date(Number(ms)).toISOString() : null);

@Injectable()
export class MitigationService implements OnModuleInit, OnModuleDestroy {
  private readonly settings;

  constructor(
    @Inject(STORAGE) private readonly storage: Storage,
    @Inject(CONFIG) config: QueryApiConfig,
    @Inject(MITIGATION_BUS) private readonly bus: MitigationBus | null,
  ) {
    this.settings = config.mitigation ?? DEFAULT_MITIGATION;
  }

  private stopped = false;

  onModuleInit(): void {
    // reports arrive in the background; a broker that is away delays the audit of agents' steps, nothing else
    const subscribe = async (attempt: number): Promise<void> => {
      if (this.stopped || !this.bus) return;
      try {
        await this.bus.onReports((r) => this.ingest(r));
      } catch {
        await new Promise((r) => setTimeout(r, Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5))).unref());
        return subscribe(attempt + 1);
      }
    };
    void subscribe(0);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    await this.bus?.close();
  }

  private expires(fromMs: number): number {
    return Math.floor((fromMs + this.settings.auditTtlMs) / 1000);
  }

  private check(input: RuleInput): RuleSpec {
    try {
      return checkRule(input, this.settings.protect);
    } catch (e) {
      if (e instanceof RuleError) throw new InvalidInputError(e.field, e.message.slice(e.field.length + 2));
      throw e;
    }
  }

  /** A rule proposed by `actor` (a token's name, or a detector), checked, stored and audited. */
  async propose(input: RuleInput, actor: string, origin: 'operator' | 'detector' = 'operator', alertId = '') {
    const spec = this.check(input);
    const active = (await this.rows()).filter((r) => this.status(r) === 'proposed' || this.status(r) === 'approved');
    if (active.length >= this.settings.maxRules)
      throw new ConflictException(
        `${active.length} rules are proposed or in force: the cap is ${this.settings.maxRules} (TMA_MITIGATION_MAX_RULES)`,
      );
    const same = active.find((r) => r.src_prefix === spec.srcPrefix);
    if (same)
      throw new ConflictException(`rule ${same.rule_id} already covers ${spec.srcPrefix} (${this.status(same)})`);
    const now = Date.now();
    const row: RuleRow = {
      rule_id: randomUUID(),
      version: 1,
      status: 'proposed',
      src_prefix: spec.srcPrefix,
      dst: spec.dst ?? '',
      port: spec.port,
      protocol: spec.protocol,
      ttl_seconds: spec.ttlSeconds,
      dry_run: spec.dryRun ? 1 : 0,
      hosts: spec.hosts,
      reason: spec.reason,
      origin,
      alert_id: alertId,
      proposed_by: actor,
      proposed_at: String(now),
      decided_by: '',
      decided_at: '0',
      applies_until: '0',
    };
    await this.write(row, now);
    await this.audit(row, 'proposed', actor, '', spec.reason, now);
    return this.rule(row.rule_id);
  }

  /** A detector's proposal from a flood alert (its top sources or their /24, the flooded destination). */
  async proposeFromAlert(alertId: string, actor: string, ttlSeconds?: number, dryRun?: boolean) {
    const [a] = await this.storage.query<{
      alert_id: string;
      kind: string;
      subject: string;
      hosts: string[];
      related: string[];
    }>(
      `SELECT alert_id, kind, subject, hosts, related FROM {database}.threat_alerts FINAL
       WHERE alert_id = {id:String} AND event != 'resolved' ORDER BY window_start DESC LIMIT 1`,
      { id: alertId },
    );
    if (!a) throw new NotFoundException(`no alert ${alertId}`);
    const input = proposalFromAlert(
      { id: a.alert_id, kind: a.kind, subject: a.subject, hosts: a.hosts, related: a.related },
      ttlSeconds,
    );
    if (!input)
      throw new InvalidInputError('alertId', `alert ${alertId} (${a.kind}) carries no proposal: only floods do`);
    return this.propose({ ...input, dryRun }, actor, 'detector', alertId);
  }

  async approve(id: string, actor: string, note: string) {
    const row = await this.current(id);
    if (this.status(row) !== 'proposed') throw new ConflictException(`rule ${id} is ${this.status(row)}, not proposed`);
    // the protected addresses may have changed since the proposal: checked again
    this.check(this.input(row));
    const now = Date.now();
    const next: RuleRow = {
      ...row,
      version: row.version + 1,
      status: 'approved',
      decided_by: actor,
      decided_at: String(now),
      applies_until: String(now + row.ttl_seconds * 1000),
    };
    await this.publish(next, 'APPLY', actor, now);
    await this.write(next, now);
    await this.audit(next, 'approved', actor, '', note || row.reason, now);
    return this.rule(id);
  }

  async reject(id: string, actor: string, note: string) {
    const row = await this.current(id);
    if (this.status(row) !== 'proposed') throw new ConflictException(`rule ${id} is ${this.status(row)}, not proposed`);
    const now = Date.now();
    const next: RuleRow = {
      ...row,
      version: row.version + 1,
      status: 'rejected',
      decided_by: actor,
      decided_at: String(now),
    };
    await this.write(next, now);
    await this.audit(next, 'rejected', actor, '', note, now);
    return this.rule(id);
  }

  /** Takes an approved rule back before its TTL ends. */
  async remove(id: string, actor: string, note: string) {
    const row = await this.current(id);
    if (this.status(row) !== 'approved') throw new ConflictException(`rule ${id} is ${this.status(row)}, not in force`);
    const now = Date.now();
    const next: RuleRow = { ...row, version: row.version + 1, status: 'removed' };
    await this.publish(next, 'REMOVE', actor, now);
    await this.write(next, now);
    await this.audit(next, 'removed', actor, '', note, now);
    return this.rule(id);
  }

  /** An agent's report: its step in the audit trail (counters only update the counters). */
  async ingest(r: MitigationReport): Promise<void> {
    const at = r.atMs;
    await this.storage.insertRows('mitigation_counters', [
      {
        rule_id: r.ruleId,
        host: r.hostId,
        version: r.version,
        dry_run: r.dryRun ? 1 : 0,
        packets: r.packets,
        bytes: r.bytes,
        at: new Date(at),
        expires_at: this.expires(at),
      },
    ]);
    if (r.event === 'COUNTERS') return;
    await this.storage.insertRows('mitigation_audit', [
      {
        at: new Date(at),
        rule_id: r.ruleId,
        version: r.version,
        step: r.event.toLowerCase(),
        actor: `host:${r.hostId}`,
        host: r.hostId,
        detail: r.detail,
        rule: '',
        packets: r.packets,
        bytes: r.bytes,
        expires_at: this.expires(at),
      },
    ]);
  }

  async list(status?: RuleStatus) {
    const rows = (await this.rows()).filter((r) => !status || this.status(r) === status).slice(0, MAX_RULES_LISTED);
    const counters = await this.counters(rows.map((r) => r.rule_id));
    return { rules: rows.map((r) => this.view(r, counters.get(r.rule_id) ?? [])), cap: this.settings.maxRules };
  }

  async rule(id: string) {
    const row = await this.current(id);
    const counters = await this.counters([id]);
    const audit = await this.storage.query<AuditRow>(
      `SELECT toUnixTimestamp64Milli(at) AS at, rule_id, version, step, actor, host, detail, packets, bytes
       FROM {database}.mitigation_audit WHERE rule_id = {id:String} ORDER BY at, step LIMIT ${MAX_AUDIT}`,
      { id },
    );
    return {
      ...this.view(row, counters.get(id) ?? []),
      audit: audit.map((a) => ({
        at: iso(a.at)!,
        step: a.step,
        version: Number(a.version),
        actor: a.actor,
        host: a.host || null,
        detail: a.detail,
        packets: Number(a.packets),
        bytes: Number(a.bytes),
      })),
    };
  }

  private status(r: RuleRow): RuleStatus {
    return r.status === 'approved' && Number(r.applies_until) <= Date.now() ? 'expired' : r.status;
  }

  private input(r: RuleRow): RuleInput {
    return {
      srcPrefix: r.src_prefix,
      dst: r.dst || null,
      port: Number(r.port),
      protocol: r.protocol as RuleProtocol,
      ttlSeconds: Number(r.ttl_seconds),
      reason: r.reason,
      dryRun: Number(r.dry_run) === 1,
      hosts: r.hosts,
    };
  }

  private view(r: RuleRow, counters: CounterRow[]) {
    return {
      id: r.rule_id,
      version: Number(r.version),
      status: this.status(r),
      srcPrefix: r.src_prefix,
      dst: r.dst || null,
      port: Number(r.port),
      protocol: r.protocol,
      ttlSeconds: Number(r.ttl_seconds),
      dryRun: Number(r.dry_run) === 1,
      hosts: r.hosts,
      reason: r.reason,
      origin: r.origin,
      alertId: r.alert_id || null,
      proposedBy: r.proposed_by,
      proposedAt: iso(r.proposed_at)!,
      decidedBy: r.decided_by || null,
      decidedAt: iso(r.decided_at),
      expiresAt: iso(r.applies_until),
      drops: counters.map((c) => ({
        host: c.host,
        packets: Number(c.packets),
        bytes: Number(c.bytes),
        dryRun: Number(c.dry_run) === 1,
        at: iso(c.at)!,
      })),
      totalPackets: counters.reduce((s, c) => s + Number(c.packets), 0),
    };
  }

  private async rows(): Promise<RuleRow[]> {
    return this.storage.query<RuleRow>(
      `SELECT rule_id, version, status, src_prefix, dst, port, protocol, ttl_seconds, dry_run, hosts, reason, origin,
              alert_id, proposed_by, toUnixTimestamp64Milli(proposed_at) AS proposed_at, decided_by,
              toUnixTimestamp64Milli(decided_at) AS decided_at, toUnixTimestamp64Milli(applies_until) AS applies_until
       FROM {database}.mitigation_rules FINAL ORDER BY proposed_at DESC`,
    );
  }

  private async current(id: string): Promise<RuleRow> {
    const row = (await this.rows()).find((r) => r.rule_id === id);
    if (!row) throw new NotFoundException(`no rule ${id}`);
    return row;
  }

  private async counters(ids: string[]): Promise<Map<string, CounterRow[]>> {
    const out = new Map<string, CounterRow[]>();
    if (ids.length === 0) return out;
    const rows = await this.storage.query<CounterRow>(
      `SELECT rule_id, host, version, dry_run, packets, bytes, toUnixTimestamp64Milli(at) AS at
       FROM {database}.mitigation_counters FINAL WHERE has({ids:Array(String)}, rule_id) ORDER BY host`,
      { ids },
    );
    for (const r of rows) out.set(r.rule_id, [...(out.get(r.rule_id) ?? []), r]);
    return out;
  }

  private async write(r: RuleRow, now: number): Promise<void> {
    await this.storage.insertRows('mitigation_rules', [
      {
        ...r,
        proposed_at: new Date(Number(r.proposed_at)),
        decided_at: new Date(Number(r.decided_at)),
        applies_until: new Date(Number(r.applies_until)),
        updated_at: new Date(now),
        expires_at: this.expires(Math.max(now, Number(r.applies_until))),
      },
    ]);
  }

  private async audit(r: RuleRow, step: string, actor: string, host: string, detail: string, now: number) {
    await this.storage.insertRows('mitigation_audit', [
      {
        at: new Date(now),
        rule_id: r.rule_id,
        version: r.version,
        step,
        actor,
        host,
        detail,
        rule: JSON.stringify(this.input(r)),
        packets: 0,
        bytes: 0,
        expires_at: this.expires(now),
      },
    ]);
  }

  private async publish(r: RuleRow, action: 'APPLY' | 'REMOVE', actor: string, now: number): Promise<void> {
    if (!this.bus) return;
    const cmd: MitigationCommand = {
      ruleId: r.rule_id,
      version: r.version,
      action,
      hosts: r.hosts,
      srcPrefix: r.src_prefix,
      dst: r.dst || null,
      port: Number(r.port),
      protocol: r.protocol,
      dryRun: Number(r.dry_run) === 1,
      expiresAtMs: Number(r.applies_until),
      reason: r.reason,
      approvedBy: actor,
      issuedAtMs: now,
    };
    await this.bus.publish(cmd);
  }
}
