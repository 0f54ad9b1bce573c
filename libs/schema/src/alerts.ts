// Threat alerts on Kafka (docs/threats.md, "Alerts on Kafka"): every alert event (opened, updated, resolved) the
// threat detectors write, published as Avro for SIEMs and chat hooks. Framed like snapshots (Avro single-object
// encoding: 0xC3 0x01, the writer schema's CRC-64-AVRO, the body) and versioned like them (the version in the topic
// name). The schema is libs/schema/avro/alerts/threat-alert.v1.avsc, embedded here so builds need no .avsc at run
// time; alerts.spec.ts checks that the two are the same.
import * as avro from 'avsc';
import { BadMagicError, InvalidBodyError, TruncatedMessageError, UnknownSchemaError } from './errors';
import { schemaFingerprint } from './fingerprint';
import { DEFAULT_TOPIC_PREFIX } from './snapshot-topics';
import { HEADER_BYTES, MAGIC } from './codec';

export const ALERT_SCHEMA_VERSION = 1;

export const THREAT_ALERT_SCHEMA_V1 = {
  type: 'record',
  name: 'ThreatAlert',
  namespace: 'tma.alerts',
  doc: 'One alert event of one fleet-wide window (docs/threats.md, Alerts): opened, updated or resolved. Topic <prefix>.alerts.v1, key = alertId:windowStartMs (an evaluation repeated after a crash sends the same key again, the value differing at most in detectedAtMs: consumers keep one message per key).',
  fields: [
    {
      name: 'alertId',
      type: 'string',
      doc: 'Stable id of the alert (hash of kind, subject and the opening window).',
    },
    { name: 'windowStartMs', type: 'long', doc: 'Start of the window the event belongs to (Unix ms).' },
    { name: 'windowSeconds', type: 'int' },
    {
      name: 'kind',
      type: 'string',
      doc: 'flood, heavy-change, traffic-surge, source-surge, port-scan, superspreader, syn-flood, … (new kinds may appear).',
    },
    {
      name: 'subject',
      type: 'string',
      doc: 'What the alert is about: an address, a flow, fleet, host:<id> or hosts:<ids>.',
    },
    {
      name: 'event',
      type: { type: 'enum', name: 'AlertEvent', symbols: ['OPENED', 'UPDATED', 'RESOLVED'] },
    },
    { name: 'openedAtMs', type: 'long', doc: 'Start of the window that opened the alert (Unix ms).' },
    { name: 'score', type: 'double', doc: 'Strength of the detection (0 on a resolved event).' },
    {
      name: 'evidence',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'Evidence',
          fields: [
            { name: 'name', type: 'string' },
            { name: 'value', type: 'double' },
            {
              name: 'lower',
              type: ['null', 'double'],
              default: null,
              doc: 'Lower bound when the value is an estimate.',
            },
            {
              name: 'upper',
              type: ['null', 'double'],
              default: null,
              doc: 'Upper bound when the value is an estimate.',
            },
          ],
        },
      },
    },
    { name: 'hosts', type: { type: 'array', items: 'string' }, doc: 'Hosts whose data held the evidence.' },
    { name: 'related', type: { type: 'array', items: 'string' }, doc: 'Named sources or flows, when known.' },
    { name: 'detectedAtMs', type: 'long', doc: 'When the window was evaluated (Unix ms).' },
  ],
} as const;

export type ThreatAlertEvent = 'OPENED' | 'UPDATED' | 'RESOLVED';

export interface ThreatAlertMessage {
  alertId: string;
  windowStartMs: number;
  windowSeconds: number;
  kind: string;
  subject: string;
  event: ThreatAlertEvent;
  openedAtMs: number;
  score: number;
  evidence: { name: string; value: number; lower: number | null; upper: number | null }[];
  hosts: string[];
  related: string[];
  detectedAtMs: number;
}

const alertType = avro.Type.forSchema(THREAT_ALERT_SCHEMA_V1 as unknown as avro.Schema);
const alertFingerprint = schemaFingerprint(THREAT_ALERT_SCHEMA_V1 as unknown as Record<string, unknown>);
const alertHeader = Buffer.concat([MAGIC, alertFingerprint]);

/** Topic of alert events, e.g. `tma.alerts.v1`. */
export function alertTopic(prefix = DEFAULT_TOPIC_PREFIX, version = ALERT_SCHEMA_VERSION): string {
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(prefix)) throw new RangeError(`topic prefix "${prefix}" is not a Kafka name`);
  if (version !== ALERT_SCHEMA_VERSION) throw new RangeError(`alert schema version ${version} is not 1`);
  return `${prefix}.alerts.v${version}`;
}

/** The message key: one per alert and window, so a repeated evaluation repeats the key (idempotent for consumers). */
export const alertKey = (m: Pick<ThreatAlertMessage, 'alertId' | 'windowStartMs'>): string =>
  `${m.alertId}:${m.windowStartMs}`;

export function encodeAlert(m: ThreatAlertMessage): Buffer {
  const paths: string[] = [];
  if (!alertType.isValid(m, { errorHook: (p) => paths.push(p.join('.')) }))
    throw new InvalidBodyError(`alert does not match tma.alerts.ThreatAlert v1 at ${paths.join(', ')}`);
  return Buffer.concat([alertHeader, alertType.toBuffer(m)]);
}

export function decodeAlert(buf: Uint8Array): ThreatAlertMessage {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < HEADER_BYTES) throw new TruncatedMessageError(`alert message of ${b.length} bytes`);
  if (!b.subarray(0, MAGIC.length).equals(MAGIC)) throw new BadMagicError('not an Avro single-object message');
  const fp = b.subarray(MAGIC.length, HEADER_BYTES);
  if (!fp.equals(alertFingerprint)) throw new UnknownSchemaError(fp.toString('hex'));
  try {
    return alertType.fromBuffer(b.subarray(HEADER_BYTES)) as ThreatAlertMessage;
  } catch (err) {
    throw new InvalidBodyError(`alert body: ${(err as Error).message}`);
  }
}
