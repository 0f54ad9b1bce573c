// Threat alerts in a range, from the threat_alerts rows the aggregator writes once per window (docs/threats.md):
// the rows of one alert_id are its timeline; its status, evidence and hosts are those of its newest rows.
import { Inject, Injectable } from '@nestjs/common';
import type { Storage } from '@tma/storage';
import type { Evidence } from '@tma/threats';
import { iso, type Scope } from '../partials/scope';
import { STORAGE } from '../tokens';
import type { ThreatsArgs } from './threats.args';

/** Alerts per answer and events per alert timeline (the newest): the GraphQL cost of a list is its largest size. */
export const MAX_ALERTS = 100;
export const MAX_TIMELINE = 30;

interface Row {
  ws: string;
  alert_id: string;
  kind: string;
  subject: string;
  event: 'opened' | 'updated' | 'resolved';
  opened_at: string;
  score: number;
  evidence: string;
  hosts: string[];
  related: string[];
}

@Injectable()
export class ThreatsService {
  constructor(@Inject(STORAGE) private readonly storage: Storage) {}

  async threats({ range, hosts, kind, status }: ThreatsArgs) {
    const params = { from: new Date(range.from), to: new Date(range.to), kind: kind ?? '' };
    const rows = await this.storage.query<Row>(
      `SELECT toUnixTimestamp(window_start) AS ws, alert_id, kind, subject, event, toUnixTimestamp(opened_at) AS opened_at,
              score, evidence, hosts, related
       FROM {database}.threat_alerts FINAL
       WHERE window_start >= {from:DateTime} AND window_start < {to:DateTime} ${kind ? 'AND kind = {kind:String}' : ''}
       ORDER BY window_start`,
      params,
    );
    const [w] = await this.storage.query<{ n: string }>(
      `SELECT count() AS n FROM {database}.threat_state FINAL WHERE window_start >= {from:DateTime} AND window_start < {to:DateTime}`,
      params,
    );
    const byId = new Map<string, Row[]>();
    for (const r of rows) byId.set(r.alert_id, [...(byId.get(r.alert_id) ?? []), r]);
    const wanted = hosts ? new Set(hosts) : undefined;
    const alerts = [...byId.values()]
      .map((rs) => {
        const seen = rs.filter((r) => r.event !== 'resolved');
        const last = seen[seen.length - 1] ?? rs[rs.length - 1];
        const resolved = rs.find((r) => r.event === 'resolved');
        return {
          id: last.alert_id,
          kind: last.kind,
          subject: last.subject,
          status: resolved ? 'resolved' : 'open',
          openedAt: iso(Number(last.opened_at) * 1000),
          lastSeen: iso(Number(last.ws) * 1000),
          resolvedAt: resolved ? iso(Number(resolved.ws) * 1000) : null,
          peakScore: Math.max(...rs.map((r) => Number(r.score))),
          score: Number(last.score),
          hosts: [...new Set(seen.flatMap((r) => r.hosts))].sort(),
          related: last.related,
          evidence: JSON.parse(last.evidence) as Evidence[],
          timeline: rs
            .slice(-MAX_TIMELINE)
            .map((r) => ({ t: iso(Number(r.ws) * 1000), event: r.event, score: Number(r.score) })),
        };
      })
      .filter((a) => (!status || a.status === status) && (!wanted || a.hosts.some((h) => wanted.has(h))))
      .sort((a, b) => (a.lastSeen < b.lastSeen ? 1 : a.lastSeen > b.lastSeen ? -1 : b.peakScore - a.peakScore))
      .slice(0, MAX_ALERTS);
    const scope: Scope = {
      from: iso(range.from),
      to: iso(range.to),
      tiers: { '1m': Number(w?.n ?? 0) },
      hosts: hosts ?? null,
      exact: true,
      provisionalFrom: null, // detectors run on final windows only
    };
    return { scope, windowsEvaluated: Number(w?.n ?? 0), alerts };
  }
}
