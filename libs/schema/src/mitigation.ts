// Mitigation messages (docs/threats.md, "Mitigation"): approved block rules to edge agents, and what the agents did
// with them. Framed like snapshots (Avro single-object encoding: 0xC3 0x01, the writer schema's CRC-64-AVRO, the body);
// versioned like them (the version in the topic name). The schemas are libs/schema/avro/mitigation/*.avsc, embedded
// here so builds need no .avsc at run time; mitigation.spec.ts checks that they are the same.
import * as avro from 'avsc';
import { BadMagicError, TruncatedMessageError, UnknownSchemaError } from './errors';
import { schemaFingerprint } from './fingerprint';
import { DEFAULT_TOPIC_PREFIX } from './snapshot-topics';

export const MITIGATION_COMMAND_SCHEMA_V1 = {
  type: 'record',
  name: 'MitigationCommand',
  namespace: 'tma.mitigation',
  doc: "An approved block rule (or its removal) for edge agents. Topic <prefix>.mitigation.commands.v1, key = the target host id, or * for every host; an agent applies a rule id's versions in order and ignores a version it already has.",
  fields: [
    {
      name: 'ruleId',
      type: 'string',
      doc: 'Stable id of the rule.',
    },
    {
      name: 'version',
      type: 'int',
      doc: 'Increases with every change of the rule (apply, then remove); a version at or below the one an agent applied is a no-op.',
    },
    {
      name: 'action',
      type: {
        type: 'enum',
        name: 'MitigationAction',
        symbols: ['APPLY', 'REMOVE'],
      },
    },
    {
      name: 'hosts',
      type: {
        type: 'array',
        items: 'string',
      },
      doc: 'Hosts the rule applies on; empty: every host.',
    },
    {
      name: 'srcPrefix',
      type: 'string',
      doc: 'Source prefix, e.g. 203.0.113.0/24 or 2001:db8::/48.',
    },
    {
      name: 'dst',
      type: ['null', 'string'],
      default: null,
      doc: 'Destination address to match, or any.',
    },
    {
      name: 'port',
      type: 'int',
      doc: 'Destination port, 0 = any (tcp/udp only).',
    },
    {
      name: 'protocol',
      type: 'string',
      doc: 'any, icmp, tcp, udp or icmpv6.',
    },
    {
      name: 'dryRun',
      type: 'boolean',
      doc: 'Count what the rule would drop and drop nothing.',
    },
    {
      name: 'expiresAtMs',
      type: 'long',
      doc: 'Wall-clock expiry (Unix ms); agents convert it to kernel monotonic time when they apply the rule.',
    },
    {
      name: 'reason',
      type: 'string',
    },
    {
      name: 'approvedBy',
      type: 'string',
      doc: 'Name of the admin token that approved (or removed) it.',
    },
    {
      name: 'issuedAtMs',
      type: 'long',
    },
  ],
} as const;

export const MITIGATION_REPORT_SCHEMA_V1 = {
  type: 'record',
  name: 'MitigationReport',
  namespace: 'tma.mitigation',
  doc: 'What an edge agent did with a rule, and its counters. Topic <prefix>.mitigation.reports.v1, key = the host id.',
  fields: [
    {
      name: 'hostId',
      type: 'string',
    },
    {
      name: 'ruleId',
      type: 'string',
    },
    {
      name: 'version',
      type: 'int',
    },
    {
      name: 'event',
      type: {
        type: 'enum',
        name: 'MitigationEvent',
        symbols: ['APPLIED', 'REFUSED', 'REMOVED', 'EXPIRED', 'COUNTERS'],
      },
    },
    {
      name: 'atMs',
      type: 'long',
    },
    {
      name: 'detail',
      type: 'string',
      doc: 'Why a rule was refused; empty otherwise.',
    },
    {
      name: 'dryRun',
      type: 'boolean',
    },
    {
      name: 'packets',
      type: 'long',
      doc: 'Packets the rule dropped on this host since it was applied (would have dropped, in dry-run).',
    },
    {
      name: 'bytes',
      type: 'long',
    },
  ],
} as const;

export type MitigationAction = 'APPLY' | 'REMOVE';
export type MitigationEvent = 'APPLIED' | 'REFUSED' | 'REMOVED' | 'EXPIRED' | 'COUNTERS';

export interface MitigationCommand {
  ruleId: string;
  version: number;
  action: MitigationAction;
  hosts: string[];
  srcPrefix: string;
  dst: string | null;
  port: number;
  protocol: string;
  dryRun: boolean;
  expiresAtMs: number;
  reason: string;
  approvedBy: string;
  issuedAtMs: number;
}

export interface MitigationReport {
  hostId: string;
  ruleId: string;
  version: number;
  event: MitigationEvent;
  atMs: number;
  detail: string;
  dryRun: boolean;
  packets: number;
  bytes: number;
}

/** Message key of a command for every host. */
export const FLEET_KEY = '*';

const MAGIC = Buffer.from([0xc3, 0x01]);

function codec<T>(schema: object, what: string) {
  const type = avro.Type.forSchema(schema as avro.Schema);
  const header = Buffer.concat([MAGIC, schemaFingerprint(schema)]);
  return {
    encode(value: T): Buffer {
      const paths: string[] = [];
      if (!type.isValid(value, { errorHook: (p) => paths.push(p.join('.') || '(root)') }))
        throw new TypeError(`invalid ${what}: ${paths.join(', ')}`);
      return Buffer.concat([header, type.toBuffer(value)]);
    },
    decode(message: Uint8Array): T {
      const buf = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
      if (buf.length < header.length) throw new TruncatedMessageError(`${what} of ${buf.length} bytes has no header`);
      if (buf[0] !== MAGIC[0] || buf[1] !== MAGIC[1]) throw new BadMagicError(`${what} without the 0xc301 marker`);
      if (!buf.subarray(2, header.length).equals(header.subarray(2)))
        throw new UnknownSchemaError(buf.subarray(2, header.length).toString('hex'));
      return type.fromBuffer(buf.subarray(header.length)) as T;
    },
  };
}

export const mitigationCommandCodec = codec<MitigationCommand>(MITIGATION_COMMAND_SCHEMA_V1, 'mitigation command');
export const mitigationReportCodec = codec<MitigationReport>(MITIGATION_REPORT_SCHEMA_V1, 'mitigation report');

/** `<prefix>.mitigation.commands.v1`: approved rules to agents (key: host id or FLEET_KEY). */
export const mitigationCommandTopic = (prefix: string = DEFAULT_TOPIC_PREFIX): string =>
  `${prefix}.mitigation.commands.v1`;
/** `<prefix>.mitigation.reports.v1`: what agents did with them (key: host id). */
export const mitigationReportTopic = (prefix: string = DEFAULT_TOPIC_PREFIX): string =>
  `${prefix}.mitigation.reports.v1`;
