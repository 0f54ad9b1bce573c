// The mitigation messages: the embedded schemas are the .avsc files, and commands and reports survive a round trip;
// a message of another schema or a cut one is refused with the typed errors of the snapshot codec.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  MITIGATION_COMMAND_SCHEMA_V1,
  MITIGATION_REPORT_SCHEMA_V1,
  mitigationCommandCodec,
  mitigationCommandTopic,
  mitigationReportCodec,
  mitigationReportTopic,
  type MitigationCommand,
} from './mitigation';
import { SchemaError } from './errors';

const avsc = (f: string) => JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'avro', 'mitigation', f), 'utf8'));

const command: MitigationCommand = {
  ruleId: 'r-1',
  version: 2,
  action: 'APPLY',
  hosts: ['edge-1'],
  srcPrefix: '203.0.113.0/24',
  dst: '198.51.100.7',
  port: 53,
  protocol: 'udp',
  dryRun: false,
  expiresAtMs: 1_800_000_000_000,
  reason: 'flood',
  approvedBy: 'ops-admin',
  issuedAtMs: 1_799_999_000_000,
};

describe('mitigation messages', () => {
  it('embed exactly the schemas of libs/schema/avro/mitigation', () => {
    expect(MITIGATION_COMMAND_SCHEMA_V1).toEqual(avsc('mitigation-command.v1.avsc'));
    expect(MITIGATION_REPORT_SCHEMA_V1).toEqual(avsc('mitigation-report.v1.avsc'));
  });

  it('round-trip commands and reports', () => {
    expect(mitigationCommandCodec.decode(mitigationCommandCodec.encode(command))).toEqual(command);
    const report = {
      hostId: 'edge-1',
      ruleId: 'r-1',
      version: 2,
      event: 'APPLIED' as const,
      atMs: 1,
      detail: '',
      dryRun: true,
      packets: 5,
      bytes: 500,
    };
    expect(mitigationReportCodec.decode(mitigationReportCodec.encode(report))).toEqual(report);
    expect([mitigationCommandTopic(), mitigationReportTopic('x')]).toEqual([
      'tma.mitigation.commands.v1',
      'x.mitigation.reports.v1',
    ]);
  });

  it('refuse invalid values and foreign or cut messages', () => {
    expect(() => mitigationCommandCodec.encode({ ...command, version: 1.5 })).toThrow(/version/);
    const report = mitigationReportCodec.encode({
      hostId: 'h',
      ruleId: 'r',
      version: 1,
      event: 'EXPIRED',
      atMs: 1,
      detail: '',
      dryRun: false,
      packets: 0,
      bytes: 0,
    });
    for (const bad of [report, report.subarray(0, 5), Buffer.from('xx-not-avro')]) {
      let error: unknown;
      try {
        mitigationCommandCodec.decode(bad);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SchemaError);
    }
  });
});
