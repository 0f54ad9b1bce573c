// The GraphQL schema: the same queries as REST /v1 with the same arguments (checked by the same parsers).
const TIME_ARGS = 'range: String, from: String, to: String, hosts: [String!]';
const FLOW_FILTER_ARGS = 'protocol: String, srcPort: Int, dstPort: Int, srcPrefix: String, dstPrefix: String';

export const SDL = /* GraphQL */ `
"""Time range: range (relative, e.g. 15m, 24h) or from/to (ISO 8601 or epoch ms). Default: the last hour."""
type Query {
  "Top flows by packets or bytes; every estimate with its CMS bound ε·N at confidence 1 − δ."
  topFlows(${TIME_ARGS}, ${FLOW_FILTER_ARGS}, by: RankBy = packets, k: Int = 10): TopFlows!
  "Point estimate of one 5-tuple."
  flowEstimate(${TIME_ARGS}, src: String!, dst: String!, srcPort: Int!, dstPort: Int!, protocol: String!): FlowEstimateResult!
  "Traffic of tracked flows inside a prefix."
  prefixEstimate(${TIME_ARGS}, side: Side!, prefix: String!, protocol: String): PrefixEstimate!
  "Distinct counts over the whole range (HLL union), with standard errors."
  cardinality(${TIME_ARGS}): Cardinality!
  "Distinct counts per step."
  cardinalitySeries(${TIME_ARGS}, step: String, metrics: [CardinalityMetric!]): CardinalitySeries!
  "Hierarchical heavy hitters over prefixes with threshold phi."
  heavyHitters(${TIME_ARGS}, ${FLOW_FILTER_ARGS}, side: Side = src, phi: Float = 0.05, by: RankBy = packets): HeavyHitters!
  "Exact packets and bytes per protocol per step."
  trafficSeries(${TIME_ARGS}, protocol: String, step: String): TrafficSeries!
  "Hosts seen in the range."
  hosts(${TIME_ARGS}): Hosts!
}
enum RankBy { packets bytes }
enum Side { src dst }
enum CardinalityMetric { flows sources destinations ports }
type TierCount { tier: String!, windows: Int }
type Scope { from: String!, to: String!, tiers: [TierCount!]!, hosts: [String!], exact: Boolean!, coveredHosts: [String!] }
type CmsBound { bound: Float!, epsilon: Float!, confidence: Float!, total: Float! }
type Flow {
  src: String!, dst: String!, srcPort: Int!, dstPort: Int!, protocol: Int!, protocolName: String
  packets: Float!, packetsLower: Float!, packetsBound: Float!
  bytes: Float!, bytesLower: Float!, bytesBound: Float!, confidence: Float!
}
type TopFlows { scope: Scope!, by: RankBy!, k: Int!, packets: CmsBound!, bytes: CmsBound!, candidates: Int!, completeAbove: Float!, matched: Int!, flows: [Flow!]! }
type FlowEstimateResult { scope: Scope!, flow: Flow!, packets: CmsBound!, bytes: CmsBound! }
type PrefixEstimate {
  scope: Scope!, side: Side!, prefix: String!, flows: Int!, packets: Float!, packetsLower: Float!, packetsBound: Float!
  bytes: Float!, bytesLower: Float!, bytesBound: Float!, confidence: Float!, note: String!
}
type HllValue { estimate: Float!, standardError: Float!, low95: Float!, high95: Float! }
type Cardinality { scope: Scope!, flows: HllValue!, sources: HllValue!, destinations: HllValue!, ports: HllValue! }
type CardinalityPoint { t: String!, value: HllValue }
type MetricSeries { metric: CardinalityMetric!, points: [CardinalityPoint!]! }
type CardinalitySeries { scope: Scope!, stepSeconds: Int!, series: [MetricSeries!]! }
type Prefix { prefix: String!, family: Int!, length: Int!, weight: Float!, discounted: Float!, share: Float!, boundPerFlow: Float! }
type IcicleNode { prefix: String!, length: Int!, parent: String, weight: Float!, share: Float! }
type HeavyHitters {
  scope: Scope!, side: Side!, phi: Float!, by: RankBy!, total: Float!, threshold: Float!, bound: Float!, confidence: Float!
  prefixes: [Prefix!]!, icicle: [IcicleNode!]!
}
type Totals { packets: [Float!]!, bytes: [Float!]! }
type ProtocolSeries { protocol: Int!, name: String, packets: [Float!]!, bytes: [Float!]! }
type TrafficSeries { scope: Scope!, stepSeconds: Int!, times: [String!]!, total: Totals!, protocols: [ProtocolSeries!]! }
type Host {
  host: String!, firstSeen: String!, lastSeen: String!, agentVersion: String, bootId: String!, lastSequence: Float!
  snapshots: Float!, packets: Float!, bytes: Float!, gaps: Float!
}
type Hosts { scope: Scope!, hosts: [Host!]! }
`;
