// The schema's argument scalars: each checks the text form (or number range) its REST parameter accepts, with the
// same patterns as the OpenAPI document, and hands the resolvers the value as given, so the shared parsers
// (params.ts) still make every decision about meaning and cross-argument rules.
import { type GraphQLSchema, GraphQLScalarType, Kind, type ValueNode } from 'graphql';
import { wireCount } from '../common/count';
import { ADDRESS, HOST_ID, INSTANT, PREFIX, PROTOCOL } from '../common/patterns';
import { RULE_ID } from '../mitigation/mitigation.schemas';

type Check = (v: unknown) => string | null;

const text =
  (re: RegExp, what: string): Check =>
  (v) =>
    typeof v === 'string' && re.test(v) ? null : `must be ${what}`;
const whole =
  (min: number, max: number, what: string): Check =>
  (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? null : `must be ${what}`;

function checks(maxK: number): Record<string, { check: Check; literal: Kind[] }> {
  const str = [Kind.STRING];
  return {
    Duration: { check: text(/^[1-9]\d{0,5}[smhdw]$/, 'a duration like 15m, 24h or 7d'), literal: str },
    Instant: { check: text(new RegExp(INSTANT), 'ISO 8601 with a zone or epoch milliseconds'), literal: str },
    Step: { check: text(/^[1-9]\d{0,5}[mhdw]$/, 'whole minutes, hours, days or weeks like 5m'), literal: str },
    HostId: {
      check: text(new RegExp(`^${HOST_ID}$`), 'a host id (letters, digits, ".", "_", ":", "-")'),
      literal: str,
    },
    Protocol: { check: text(new RegExp(PROTOCOL), 'tcp, udp, icmp, icmpv6, gre, esp, sctp or 0-255'), literal: str },
    IpAddress: { check: text(new RegExp(ADDRESS), 'an IPv4 or IPv6 address'), literal: str },
    Cidr: { check: text(new RegExp(PREFIX), 'an IPv4 or IPv6 prefix like 10.1.0.0/16'), literal: str },
    Port: { check: whole(0, 65535, 'a port number 0-65535'), literal: [Kind.INT] },
    RuleId: { check: text(new RegExp(RULE_ID), 'a rule id (UUID, lower case)'), literal: str },
    TopK: { check: whole(1, maxK, `a whole number from 1 to ${maxK}`), literal: [Kind.INT] },
    Phi: {
      check: (v) => (typeof v === 'number' && v >= 0.0001 && v < 1 ? null : 'must be a number in [0.0001, 1)'),
      literal: [Kind.INT, Kind.FLOAT],
    },
  };
}

/** Gives the schema's argument scalars their checks (the schema is built from SDL, which has no code). */
export function installScalars(schema: GraphQLSchema, maxK: number): void {
  for (const [name, { check, literal }] of Object.entries(checks(maxK))) {
    const type = schema.getType(name);
    if (!(type instanceof GraphQLScalarType)) throw new Error(`the schema has no scalar ${name}`);
    const parseValue = (v: unknown) => {
      const problem = check(v);
      // A plain Error: graphql-js wraps it with the value's location (a GraphQLError would be passed on bare).
      if (problem) throw new Error(`${name} ${problem}, got ${JSON.stringify(v)?.slice(0, 80)}`);
      return v;
    };
    Object.assign(type, {
      parseValue,
      parseLiteral: (node: ValueNode) => {
        if (!literal.includes(node.kind)) throw new Error(`${name} is not given as ${literal.join(' or ')}`);
        const v = node.kind === Kind.STRING ? node.value : Number((node as { value: string }).value);
        return parseValue(v);
      },
      serialize: (v: unknown) => v,
    });
  }
  // The one output scalar: exact counts as the services give them (wireCount: a safe number or decimal text).
  const count = schema.getType('Count');
  if (!(count instanceof GraphQLScalarType)) throw new Error('the schema has no scalar Count');
  Object.assign(count, {
    serialize: (v: unknown) => {
      if (typeof v === 'bigint') return wireCount(v);
      if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
      if (typeof v === 'string' && /^\d+$/.test(v)) return wireCount(BigInt(v));
      throw new Error(`Count cannot represent ${String(v)}`);
    },
  });
}
