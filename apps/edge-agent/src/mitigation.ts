// Approved block rules on this host (docs/edge-agent.md, "Mitigation"): each command of the commands topic is
// checked again here (prefix, protected addresses, the rule cap) and written to the kernel's drop map with its expiry
// in kernel monotonic ns, so the program enforces and removes it by itself even when this process is gone. A rule
// id's versions apply in order and once: a version at or below the one applied is a no-op (re-delivery, a replay
// of the topic at start-up). Every outcome becomes a report (applied, refused, removed, expired, counters).
import { BlockMap, monotonicNs, type BlockCount } from '@tma/kernel';
import type { MitigationCommand, MitigationReport } from '@tma/schema';
import { checkRule, parsePrefix, RULE_PROTOCOLS, RuleError, type RuleProtocol } from '@tma/threats';
import { parseAddress } from '@tma/sketch';

export interface MitigationOptions {
  hostId: string;
  /** most rules at once (≤ the kernel map's 1,024) */
  maxRules: number;
  /** addresses no rule may hold: the brokers, the query API, whatever the operator lists */
  protect: readonly string[];
  /** wall clock, Unix ms */
  now?: () => number;
  /** kernel monotonic ns */
  mono?: () => bigint;
}

/** A rule as it stands on this host (what the snapshot's block and the reports carry). */
export interface AppliedRule {
  ruleId: string;
  version: number;
  srcPrefix: string;
  prefixBits: number;
  addr: Uint8Array;
  dryRun: boolean;
  expiresAtMs: number;
  slot: number;
  /** counters at the last report */
  reported: BlockCount;
}

export class Mitigation {
  private readonly rules = new Map<string, AppliedRule>();
  /** highest version seen per rule id, applied or not */
  private readonly versions = new Map<string, number>();
  private readonly freeSlots: number[];
  private readonly now: () => number;
  private readonly mono: () => bigint;

  constructor(
    private readonly block: BlockMap,
    private readonly o: MitigationOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.mono = o.mono ?? monotonicNs;
    // slot 0 stays unused (a zeroed rule value never counts into a live rule's slot)
    this.freeSlots = Array.from({ length: o.maxRules }, (_, i) => o.maxRules - i);
    // a fresh object starts empty; a rule left by a crashed run of this object is not ours to keep
    for (const r of block.list()) block.delete(r.src, r.prefixLen);
    block.setRuleCount(0);
  }

  get size(): number {
    return this.rules.size;
  }

  applied(): AppliedRule[] {
    return [...this.rules.values()];
  }

  /** Applies one command; returns its report, or null when it is not for this host or is a no-op. */
  handle(cmd: MitigationCommand): MitigationReport | null {
    if (cmd.hosts.length > 0 && !cmd.hosts.includes(this.o.hostId)) return null;
    const seen = this.versions.get(cmd.ruleId);
    if (seen !== undefined && cmd.version <= seen) return null;
    this.versions.set(cmd.ruleId, cmd.version);
    const current = this.rules.get(cmd.ruleId);
    if (cmd.action === 'REMOVE') {
      if (!current) return null;
      return this.drop(current, 'REMOVED');
    }
    if (cmd.expiresAtMs <= this.now()) {
      // a replay of a rule that ran out meanwhile: nothing to apply (its expiry was reported when it happened)
      if (current) return this.drop(current, 'EXPIRED');
      return null;
    }
    let prefix;
    try {
      checkRule(
        {
          srcPrefix: cmd.srcPrefix,
          dst: cmd.dst,
          port: cmd.port,
          protocol: cmd.protocol as RuleProtocol,
          ttlSeconds: 3600,
          reason: cmd.reason || 'approved rule',
          hosts: cmd.hosts,
        },
        this.o.protect,
      );
      prefix = parsePrefix(cmd.srcPrefix);
    } catch (e) {
      if (e instanceof RuleError) return this.refuse(cmd, e.message);
      throw e;
    }
    const clash = [...this.rules.values()].find(
      (r) => r.ruleId !== cmd.ruleId && r.prefixBits === prefix.bits && r.srcPrefix === prefix.text,
    );
    if (clash) return this.refuse(cmd, `rule ${clash.ruleId} already blocks ${prefix.text} on this host`);
    if (current && (current.prefixBits !== prefix.bits || current.srcPrefix !== prefix.text)) {
      this.block.delete(current.addr, current.prefixBits);
    }
    const slot = current?.slot ?? this.freeSlots.pop();
    if (slot === undefined) return this.refuse(cmd, `the host's cap of ${this.o.maxRules} rules is reached`);
    const expiresNs = this.mono() + BigInt(Math.max(0, cmd.expiresAtMs - this.now())) * 1_000_000n;
    this.block.put(
      {
        src: prefix.addr,
        prefixLen: prefix.bits,
        dst: cmd.dst ? parseAddress(cmd.dst) : null,
        dport: cmd.port,
        proto: RULE_PROTOCOLS[cmd.protocol as RuleProtocol] ?? 0,
        dryRun: cmd.dryRun,
        expiresNs,
        slot,
      },
      !current,
    );
    const rule: AppliedRule = {
      ruleId: cmd.ruleId,
      version: cmd.version,
      srcPrefix: prefix.text,
      prefixBits: prefix.bits,
      addr: prefix.addr,
      dryRun: cmd.dryRun,
      expiresAtMs: cmd.expiresAtMs,
      slot,
      reported: current?.reported ?? { packets: 0, bytes: 0 },
    };
    this.rules.set(cmd.ruleId, rule);
    this.block.setRuleCount(this.rules.size);
    return this.report(rule, 'APPLIED', '', this.block.count(slot));
  }

  /** Once per interval: rules past their expiry leave (the kernel may have deleted them already), the others report
   * their counters when they changed. */
  tick(): MitigationReport[] {
    const out: MitigationReport[] = [];
    const now = this.now();
    for (const r of [...this.rules.values()]) {
      if (r.expiresAtMs <= now) out.push(this.drop(r, 'EXPIRED'));
      else {
        const c = this.block.count(r.slot);
        if (c.packets !== r.reported.packets || c.bytes !== r.reported.bytes) {
          r.reported = c;
          out.push(this.report(r, 'COUNTERS', '', c));
        }
      }
    }
    return out;
  }

  /** The rules and their counters since applied, for the snapshot. */
  counters(): { rule: AppliedRule; count: BlockCount }[] {
    return this.applied().map((rule) => ({ rule, count: this.block.count(rule.slot) }));
  }

  private drop(r: AppliedRule, event: 'REMOVED' | 'EXPIRED'): MitigationReport {
    const c = this.block.count(r.slot);
    this.block.delete(r.addr, r.prefixBits);
    this.rules.delete(r.ruleId);
    this.freeSlots.push(r.slot);
    this.block.setRuleCount(this.rules.size);
    return this.report(r, event, '', c);
  }

  private refuse(cmd: MitigationCommand, detail: string): MitigationReport {
    return {
      hostId: this.o.hostId,
      ruleId: cmd.ruleId,
      version: cmd.version,
      event: 'REFUSED',
      atMs: this.now(),
      detail,
      dryRun: cmd.dryRun,
      packets: 0,
      bytes: 0,
    };
  }

  private report(r: AppliedRule, event: MitigationReport['event'], detail: string, c: BlockCount): MitigationReport {
    return {
      hostId: this.o.hostId,
      ruleId: r.ruleId,
      version: r.version,
      event,
      atMs: this.now(),
      detail,
      dryRun: r.dryRun,
      packets: c.packets,
      bytes: c.bytes,
    };
  }
}

/** A report as log fields: its event is the `outcome` (the log line's own event is "mitigation"). */
export function reportFields(r: MitigationReport): Record<string, unknown> {
  const { event, ...rest } = r;
  return { ...rest, outcome: event };
}
