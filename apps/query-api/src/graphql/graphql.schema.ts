// The GraphQL schema: the same queries as REST /v1 with the same arguments (checked by the same parsers). Arguments
// with a fixed text form are scalars of their own (graphql.scalars.ts), so the schema states what each accepts.
import { RULE_PROTOCOLS, THREAT_KINDS } from '@tma/threats';
import { COUNT_DESCRIPTION } from '../common/count';
const TIME_ARGS = 'range: Duration, from: Instant, to: Instant, hosts: [HostId!]';
const FLOW_FILTER_ARGS = 'protocol: Protocol, srcPort: Port, dstPort: Port, srcPrefix: Cidr, dstPrefix: Cidr';

export const SDL = /* GraphQL */ `
"Relative range ending now: 1-6 digits and a unit s, m, h, d, w (15m, 24h, 7d), at most TMA_API_MAX_RANGE. Not with from/to."
scalar Duration
"ISO 8601 with a zone (a real calendar date, 2026-11-27T14:00:00Z) or epoch milliseconds (10-13 digits). to needs from and is later; from..to at most TMA_API_MAX_RANGE."
scalar Instant
"Series step: whole minutes, hours, days or weeks (5m, 1h), at most TMA_API_MAX_RANGE; the range must not hold more than TMA_API_MAX_POINTS steps."
scalar Step
"A host id: 1-200 of letters, digits, '.', '_', ':', '-'."
scalar HostId
"An IP protocol: tcp, udp, icmp, icmpv6, gre, esp, sctp (any case) or a number 0-255."
scalar Protocol
"A port number 0-65535 (ICMP: type or code)."
scalar Port
"An IPv4 or IPv6 address."
scalar IpAddress
"An IPv4 or IPv6 prefix (10.1.0.0/16, 2001:db8::/32); host bits beyond the length must be zero."
scalar Cidr
"A block rule id: a lower-case UUID."
scalar RuleId
"Number of flows: 1 to TMA_API_MAX_K."
scalar TopK
"Heavy-hitter threshold as a share of the total: at least 0.0001, below 1."
scalar Phi
"${COUNT_DESCRIPTION}."
scalar Count
"""Time range: range (relative, e.g. 15m, 24h) or from/to (ISO 8601 or epoch ms). Default: the last hour."""
type Query {
  "Top flows by packets or bytes; every estimate with its CMS bound ε·N at confidence 1 − δ."
  topFlows(${TIME_ARGS}, ${FLOW_FILTER_ARGS}, by: RankBy = packets, k: TopK = 10): TopFlows!
  "Point estimate of one 5-tuple."
  flowEstimate(${TIME_ARGS}, src: IpAddress!, dst: IpAddress!, srcPort: Port!, dstPort: Port!, protocol: Protocol!): FlowEstimateResult!
  "Traffic of tracked flows inside a prefix."
  prefixEstimate(${TIME_ARGS}, side: Side!, prefix: Cidr!, protocol: Protocol): PrefixEstimate!
  "Distinct counts over the whole range (HLL union), with standard errors."
  cardinality(${TIME_ARGS}): Cardinality!
  "Distinct counts per step."
  cardinalitySeries(${TIME_ARGS}, step: Step, metrics: [CardinalityMetric!]): CardinalitySeries!
  "Hierarchical heavy hitters over prefixes with threshold phi."
  heavyHitters(${TIME_ARGS}, ${FLOW_FILTER_ARGS}, side: Side = src, phi: Phi = 0.05, by: RankBy = packets): HeavyHitters!
  "Exact packets and bytes per protocol per step."
  trafficSeries(${TIME_ARGS}, protocol: Protocol, step: Step): TrafficSeries!
  "Hosts seen in the range."
  hosts(${TIME_ARGS}): Hosts!
  "Threat alerts with an event in the range, most recently seen first (at most 100): timeline, evidence with bounds, hosts."
  threats(${TIME_ARGS}, kind: ThreatKind, status: AlertStatus): Threats!
  "Block rules, newest proposal first (at most 100), with what each dropped per host. Proposing and deciding: the mutations (or REST /v1/mitigation)."
  mitigationRules(status: RuleStatus): MitigationRules!
  "One block rule with its audit trail; null when there is no rule with this id."
  mitigationRule(id: RuleId!): MitigationRule
}
"""
Block rules with a human in the loop, as REST /v1/mitigation (same checks, same audit trail). Mutations are sent with
POST only. Any token proposes; approving, rejecting and removing need the admin scope: a token without it gets a
FORBIDDEN error and nothing changes. Other refusals: BAD_USER_INPUT naming the argument, NOT_FOUND (no such rule or
alert), CONFLICT (the rule is not in the state the step needs, a rule already covers the prefix, or the cap is reached).
"""
type Mutation {
  "Propose a block rule (any token): srcPrefix, ttlSeconds and reason are required; or alertId alone (with ttlSeconds and dryRun) for the proposal a flood alert carries. A prefix with host bits set, wider than /8 (IPv4) or /16 (IPv6), holding a protected address, or a port without tcp/udp is refused naming the argument."
  proposeRule(srcPrefix: Cidr, dst: IpAddress, port: Port, protocol: RuleProtocol, ttlSeconds: Int, reason: String, dryRun: Boolean, hosts: [HostId!], alertId: String): MitigationRule!
  "Approve a proposed rule (admin scope): it goes to the agents on the commands topic. note: why, kept in the audit trail (at most 500 characters)."
  approveRule(id: RuleId!, note: String): MitigationRule!
  "Reject a proposed rule (admin scope)."
  rejectRule(id: RuleId!, note: String): MitigationRule!
  "Remove an approved rule before its TTL ends (admin scope)."
  removeRule(id: RuleId!, note: String): MitigationRule!
}
"Threat kinds: REST's with '_' for '-' (heavy_change is REST's heavy-change)."
enum ThreatKind { ${THREAT_KINDS.map((k) => k.replace(/-/g, '_')).join(' ')} }
enum AlertStatus { open resolved }
enum RankBy { packets bytes }
enum Side { src dst }
enum CardinalityMetric { flows sources destinations ports }
type TierCount { tier: String!, windows: Int }
type Scope {
  from: String!, to: String!, tiers: [TierCount!]!, hosts: [String!], exact: Boolean!, coveredHosts: [String!]
  "Start of the earliest window merged from provisional rows (not yet final: its figures still grow); null when all are final."
  provisionalFrom: String
  "Windows whose rows (all or some partitions) were stored under another hash seed and left out; null when none."
  otherSeedWindows: Int
}
type CmsBound { bound: Float!, epsilon: Float!, confidence: Float!, total: Float! }
type Flow {
  src: String!, dst: String!, srcPort: Int!, dstPort: Int!, protocol: Int!, protocolName: String
  "packets: the estimate (= packetsUpper); packetsLower ≤ truth ≤ packetsUpper (certain when boundsExact); truth ≥ packetsLowerProbable with probability confidence (packetsBound = ε·N)"
  packets: Float!, packetsLower: Float!, packetsUpper: Float!, packetsBound: Float!, packetsLowerProbable: Float!
  bytes: Float!, bytesLower: Float!, bytesUpper: Float!, bytesBound: Float!, bytesLowerProbable: Float!, confidence: Float!
  boundsExact: Boolean!
}
type TopFlows {
  scope: Scope!, by: RankBy!, k: Int!, packets: CmsBound!, bytes: CmsBound!, candidates: Int!
  "every flow not ranked had at most this; null when unknown"
  completeAbove: Float
  "the part of completeAbove that is the error of the 1 h and 1 d rows' frequent-items summaries (0 without them)"
  summaryError: Float!
  "the k-th largest lower bound is above completeAbove"
  complete: Boolean!, kthLower: Float!, boundsExact: Boolean!, matched: Int!
  flows: [Flow!]!
  "certainly in the top k"
  certain: [Flow!]!
  "possibly in the top k, not certain"
  possible: [Flow!]!
}
type FlowEstimateResult { scope: Scope!, flow: Flow!, packets: CmsBound!, bytes: CmsBound! }
type PrefixEstimate {
  scope: Scope!, side: Side!, prefix: String!, flows: Int!, packets: Float!, packetsLower: Float!, packetsBound: Float!
  bytes: Float!, bytesLower: Float!, bytesBound: Float!, confidence: Float!, boundsExact: Boolean!, note: String!
}
type HllValue { estimate: Float!, standardError: Float!, low95: Float!, high95: Float! }
type Cardinality { scope: Scope!, flows: HllValue!, sources: HllValue!, destinations: HllValue!, ports: HllValue! }
type CardinalityPoint { t: String!, value: HllValue }
type MetricSeries { metric: CardinalityMetric!, points: [CardinalityPoint!]! }
type CardinalitySeries { scope: Scope!, stepSeconds: Int!, series: [MetricSeries!]! }
type Prefix { prefix: String!, family: Int!, length: Int!, weight: Float!, discounted: Float!, share: Float!, boundPerFlow: Float! }
type IcicleNode { prefix: String!, length: Int!, parent: String, weight: Float!, share: Float! }
"A prefix counted in the kernel: lower <= truth <= upper; certain when lower reaches the threshold."
type CountedPrefix { prefix: String!, side: Side!, family: Int!, length: Int!, lower: Float!, upper: Float!, certain: Boolean! }
"A counted level: every prefix it does not list had at most floor; complete when floor is below the threshold."
type CountedLevel { family: Int!, length: Int!, floor: Float!, complete: Boolean! }
"Heavy prefixes from the prefix counts kept in the kernel (IPv4 /8 /16 /24, IPv6 /32 /48 /64)."
type CountedPrefixes { complete: Boolean!, levels: [CountedLevel!]!, prefixes: [CountedPrefix!]! }
type HeavyHitters {
  scope: Scope!, side: Side!, phi: Float!, by: RankBy!, total: Float!, threshold: Float!, bound: Float!, confidence: Float!
  prefixes: [Prefix!]!, icicle: [IcicleNode!]!
  "Null with flow filters (prefix counts cover whole prefixes)."
  counted: CountedPrefixes
}
type Totals { packets: [Count!]!, bytes: [Count!]! }
type ProtocolSeries { protocol: Int!, name: String, packets: [Count!]!, bytes: [Count!]! }
type TrafficSeries { scope: Scope!, stepSeconds: Int!, times: [String!]!, total: Totals!, protocols: [ProtocolSeries!]! }
type Host {
  host: String!, firstSeen: String!, lastSeen: String!, agentVersion: String, bootId: String!, lastSequence: Float!
  snapshots: Float!, packets: Count!, bytes: Count!, gaps: Float!
}
type Hosts { scope: Scope!, hosts: [Host!]! }
"An estimate with its bounds (CMS: never under the truth; HLL: ±3 standard errors), or a baseline."
type Evidence { name: String!, value: Float!, lower: Float, upper: Float }
type AlertEvent { t: String!, event: String!, score: Float! }
type Alert {
  id: String!, kind: String!, subject: String!, status: AlertStatus!, openedAt: String!, lastSeen: String!, resolvedAt: String
  peakScore: Float!, score: Float!, hosts: [String!]!, related: [String!]!, evidence: [Evidence!]!
  "The newest 30 events of the alert in the range."
  timeline: [AlertEvent!]!
}
type Threats { scope: Scope!, windowsEvaluated: Int!, alerts: [Alert!]! }
enum RuleStatus { proposed approved rejected removed expired }
"What a rule matches besides its prefix (any: every protocol; a port needs tcp or udp)."
enum RuleProtocol { ${Object.keys(RULE_PROTOCOLS).join(' ')} }
type RuleDrops { host: String!, packets: Float!, bytes: Float!, dryRun: Boolean!, at: String! }
type AuditStep {
  at: String!, step: String!, version: Int!, actor: String!, host: String, detail: String!, packets: Float!, bytes: Float!
}
type MitigationRuleSummary {
  id: String!, version: Int!, status: RuleStatus!, srcPrefix: String!, dst: String, port: Int!, protocol: String!
  ttlSeconds: Int!, dryRun: Boolean!, hosts: [String!]!, reason: String!, origin: String!, alertId: String
  proposedBy: String!, proposedAt: String!, decidedBy: String, decidedAt: String, expiresAt: String
  drops: [RuleDrops!]!, totalPackets: Float!
}
type MitigationRule {
  id: String!, version: Int!, status: RuleStatus!, srcPrefix: String!, dst: String, port: Int!, protocol: String!
  ttlSeconds: Int!, dryRun: Boolean!, hosts: [String!]!, reason: String!, origin: String!, alertId: String
  proposedBy: String!, proposedAt: String!, decidedBy: String, decidedAt: String, expiresAt: String
  drops: [RuleDrops!]!, totalPackets: Float!
  "Every step, oldest first (at most 200)."
  audit: [AuditStep!]!
}
type MitigationRules { rules: [MitigationRuleSummary!]!, cap: Int! }
`;
