// REST /v1 fleet traffic over time.
import { Get, Inject, Query } from '@nestjs/common';
import type { QueryApiConfig } from '../config';
import {
  Common,
  HostsParam,
  protocolSchema,
  q,
  QueryController,
  STEP_DESCRIPTION,
  stepSchema,
  TIME,
  TimeParams,
} from '../common/openapi';
import { type Raw, refuseUnknown } from '../common/params';
import { CONFIG } from '../tokens';
import { trafficSeriesArgs } from './traffic.args';
import { trafficSeriesSchema } from './traffic.schemas';
import { TrafficService } from './traffic.service';

@QueryController()
export class TrafficController {
  constructor(
    private readonly traffic: TrafficService,
    @Inject(CONFIG) private readonly config: QueryApiConfig,
  ) {}

  @Get('traffic/series')
  @Common('Exact packets and bytes per IP protocol per step (fleet traffic over time)', trafficSeriesSchema)
  @TimeParams()
  @HostsParam()
  @q('protocol', 'only this protocol: tcp, udp, icmp, icmpv6, gre, esp, sctp (any case) or 0-255', protocolSchema)
  @q('step', STEP_DESCRIPTION, stepSchema)
  trafficSeries(@Query() raw: Raw) {
    refuseUnknown(raw, [...TIME, 'hosts', 'protocol', 'step']);
    return this.traffic.protocolSeries(trafficSeriesArgs(raw, this.config));
  }
}
