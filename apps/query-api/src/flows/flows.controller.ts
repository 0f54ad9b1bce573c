// REST /v1 flow queries: top flows, one 5-tuple's estimate, the traffic inside a prefix.
import { Get, Inject, Query } from '@nestjs/common';
import type { QueryApiConfig } from '../config';
import {
  Common,
  FLOW_FILTERS,
  FlowFilterParams,
  HostsParam,
  addressSchema,
  portSchema,
  prefixSchema,
  protocolSchema,
  q,
  QueryController,
  TIME,
  TimeParams,
} from '../common/openapi';
import { type Raw, refuseUnknown } from '../common/params';
import { CONFIG } from '../tokens';
import { flowEstimateArgs, prefixEstimateArgs, topFlowsArgs } from './flows.args';
import { flowEstimateSchema, prefixEstimateSchema, topFlowsSchema } from './flows.schemas';
import { FlowsService } from './flows.service';

@QueryController()
export class FlowsController {
  constructor(
    private readonly flows: FlowsService,
    @Inject(CONFIG) private readonly config: QueryApiConfig,
  ) {}

  @Get('flows/top')
  @Common('Top flows by packets or bytes, fleet-wide or for a host set, each with its CMS bound', topFlowsSchema)
  @TimeParams()
  @FlowFilterParams()
  @q('by', 'rank by packets or bytes', { type: 'string', enum: ['packets', 'bytes'], default: 'packets' })
  @q('k', 'number of flows, 1 to TMA_API_MAX_K', { type: 'integer', minimum: 1, maximum: 1000, default: 10 })
  topFlows(@Query() raw: Raw) {
    refuseUnknown(raw, [...TIME, ...FLOW_FILTERS, 'by', 'k']);
    return this.flows.topFlows(topFlowsArgs(raw, this.config));
  }

  @Get('flows/estimate')
  @Common('Point estimate of one 5-tuple (CMS estimate with lower bound and ε·N)', flowEstimateSchema)
  @TimeParams()
  @HostsParam()
  @q('src', 'source address (IPv4 or IPv6)', addressSchema, true)
  @q('dst', 'destination address (IPv4 or IPv6)', addressSchema, true)
  @q('srcPort', 'source port (ICMP type)', portSchema, true)
  @q('dstPort', 'destination port (ICMP code)', portSchema, true)
  @q('protocol', 'tcp, udp, icmp, icmpv6, gre, esp, sctp (any case) or 0-255', protocolSchema, true)
  flowEstimate(@Query() raw: Raw) {
    refuseUnknown(raw, [...TIME, 'hosts', 'src', 'dst', 'srcPort', 'dstPort', 'protocol']);
    return this.flows.flowEstimate(flowEstimateArgs(raw, this.config));
  }

  @Get('prefixes/estimate')
  @Common('Traffic of the tracked flows inside a source or destination prefix', prefixEstimateSchema)
  @TimeParams()
  @HostsParam()
  @q('side', 'src or dst', { type: 'string', enum: ['src', 'dst'] }, true)
  @q('prefix', 'CIDR prefix, e.g. 172.16.0.0/16; host bits beyond the length must be zero', prefixSchema, true)
  @q('protocol', 'tcp, udp, icmp, icmpv6, gre, esp, sctp (any case) or 0-255', protocolSchema)
  prefixEstimate(@Query() raw: Raw) {
    refuseUnknown(raw, [...TIME, 'hosts', 'side', 'prefix', 'protocol']);
    return this.flows.prefixEstimate(prefixEstimateArgs(raw, this.config));
  }
}
