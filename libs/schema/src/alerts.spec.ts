// The alert message contract: the embedded schema is the .avsc, values round-trip, the key repeats per alert and window.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  THREAT_ALERT_SCHEMA_V1,
  alertKey,
  alertTopic,
  decodeAlert,
  encodeAlert,
  type ThreatAlertMessage,
} from './alerts';
import { HEADER_BYTES, MAGIC } from './codec';
import { schemaFingerprint } from './fingerprint';

const sample = (): ThreatAlertMessage => ({
  alertId: '0123456789abcdef',
  windowStartMs: 1_767_225_600_000,
  windowSeconds: 60,
  kind: 'syn-flood',
  subject: '198.51.100.9',
  event: 'OPENED',
  openedAtMs: 1_767_225_600_000,
  score: 1234.5,
  evidence: [
    { name: 'SYN packets', value: 19_900, lower: 19_900, upper: 20_050 },
    { name: 'SYN / ACK (lower / upper)', value: 19_900, lower: null, upper: null },
  ],
  hosts: ['host-3'],
  related: [],
  detectedAtMs: 1_767_225_700_123,
});

describe('threat alert messages', () => {
  it('embed libs/schema/avro/alerts/threat-alert.v1.avsc verbatim', () => {
    const file = path.join(__dirname, '..', 'avro', 'alerts', 'threat-alert.v1.avsc');
    expect(THREAT_ALERT_SCHEMA_V1).toEqual(JSON.parse(fs.readFileSync(file, 'utf8')));
  });

  it('round-trip, framed as Avro single-object with the schema fingerprint', () => {
    const m = sample();
    const b = encodeAlert(m);
    expect(b.subarray(0, HEADER_BYTES)).toEqual(
      Buffer.concat([MAGIC, schemaFingerprint(THREAT_ALERT_SCHEMA_V1 as unknown as Record<string, unknown>)]),
    );
    expect(decodeAlert(b)).toEqual(m);
  });

  it('topic and key: <prefix>.alerts.v1, alertId:windowStartMs', () => {
    expect(alertTopic()).toBe('tma.alerts.v1');
    expect(alertTopic('prod-eu')).toBe('prod-eu.alerts.v1');
    expect(() => alertTopic('bad prefix')).toThrow(RangeError);
    expect(alertKey(sample())).toBe('0123456789abcdef:1767225600000');
  });

  it('refuses invalid values and foreign bytes with schema errors', () => {
    expect(() => encodeAlert({ ...sample(), event: 'CLOSED' as never })).toThrow(/event/);
    const b = encodeAlert(sample());
    expect(() => decodeAlert(b.subarray(0, 5))).toThrow(expect.objectContaining({ reason: 'truncated' }));
    const other = Buffer.from(b);
    other[3] ^= 0xff;
    expect(() => decodeAlert(other)).toThrow(expect.objectContaining({ reason: 'unknown-schema' }));
    expect(() => decodeAlert(Buffer.concat([b.subarray(0, HEADER_BYTES), Buffer.from([0xff])]))).toThrow(
      expect.objectContaining({ reason: 'invalid-body' }),
    );
  });
});
