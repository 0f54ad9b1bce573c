// Alert lifecycle: a detection opens an alert; the same kind and subject while it is open updates it (one alert, not
// one per window); an alert with no detection for `resolveAfter` windows in a row is resolved. Pure: the open
// alerts travel in the stored state, so any instance (or a restart) continues the same alerts.
import { createHash } from 'node:crypto';
import type { Detection, Evidence, ThreatKind } from './window';

export interface OpenAlert {
  id: string;
  kind: ThreatKind;
  subject: string;
  openedAt: number;
  lastSeen: number;
  /** Windows in a row without a detection. */
  quiet: number;
  peakScore: number;
}

export type AlertEventType = 'opened' | 'updated' | 'resolved';

/** One row of the alert history: what happened to an alert in a window. */
export interface AlertEvent {
  alertId: string;
  kind: ThreatKind;
  subject: string;
  event: AlertEventType;
  windowStart: number;
  openedAt: number;
  score: number;
  evidence: Evidence[];
  hosts: string[];
  related: string[];
}

/** Stable id of an alert: its kind, subject and the window that opened it. */
export function alertId(kind: string, subject: string, openedAt: number): string {
  return createHash('sha256').update(`${kind}|${subject}|${openedAt}`).digest('hex').slice(0, 16);
}

export function advanceAlerts(
  open: readonly OpenAlert[],
  detections: readonly Detection[],
  windowStart: number,
  resolveAfter: number,
): { open: OpenAlert[]; events: AlertEvent[] } {
  const byKey = new Map(open.map((a) => [`${a.kind}|${a.subject}`, { ...a }]));
  const events: AlertEvent[] = [];
  const seen = new Set<string>();
  for (const d of detections) {
    const key = `${d.kind}|${d.subject}`;
    if (seen.has(key)) continue;
    seen.add(key);
    let a = byKey.get(key);
    const event: AlertEventType = a ? 'updated' : 'opened';
    if (!a) {
      a = {
        id: alertId(d.kind, d.subject, windowStart),
        kind: d.kind,
        subject: d.subject,
        openedAt: windowStart,
        lastSeen: windowStart,
        quiet: 0,
        peakScore: d.score,
      };
      byKey.set(key, a);
    }
    a.lastSeen = windowStart;
    a.quiet = 0;
    a.peakScore = Math.max(a.peakScore, d.score);
    events.push({
      alertId: a.id,
      kind: d.kind,
      subject: d.subject,
      event,
      windowStart,
      openedAt: a.openedAt,
      score: d.score,
      evidence: d.evidence,
      hosts: d.hosts,
      related: d.related,
    });
  }
  const still: OpenAlert[] = [];
  for (const [key, a] of byKey) {
    if (!seen.has(key) && ++a.quiet >= resolveAfter) {
      events.push({
        alertId: a.id,
        kind: a.kind,
        subject: a.subject,
        event: 'resolved',
        windowStart,
        openedAt: a.openedAt,
        score: 0,
        evidence: [],
        hosts: [],
        related: [],
      });
      continue;
    }
    still.push(a);
  }
  return { open: still, events };
}
