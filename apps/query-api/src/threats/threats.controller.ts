// REST /v1 threat alerts.
import { Get, Inject, Query } from '@nestjs/common';
import { THREAT_KINDS } from '@tma/threats';
import type { QueryApiConfig } from '../config';
import { Common, HostsParam, q, QueryController, TIME, TimeParams } from '../common/openapi';
import { type Raw, refuseUnknown } from '../common/params';
import { CONFIG } from '../tokens';
import { ALERT_STATUSES, threatsArgs } from './threats.args';
import { threatsSchema } from './threats.schemas';
import { ThreatsService } from './threats.service';

@QueryController()
export class ThreatsController {
  constructor(
    private readonly threatsService: ThreatsService,
    @Inject(CONFIG) private readonly config: QueryApiConfig,
  ) {}

  @Get('threats')
  @Common(
    'Threat alerts with an event in the range (floods, SYN floods, heavy changes, surges, scans, superspreaders): timeline, evidence with bounds, hosts',
    threatsSchema,
  )
  @TimeParams()
  @HostsParam()
  @q('kind', 'only alerts of this kind', { type: 'string', enum: [...THREAT_KINDS] })
  @q('status', 'only open or only resolved alerts (as of the end of the range)', {
    type: 'string',
    enum: [...ALERT_STATUSES],
  })
  threats(@Query() raw: Raw) {
    refuseUnknown(raw, [...TIME, 'hosts', 'kind', 'status']);
    return this.threatsService.threats(threatsArgs(raw, this.config));
  }
}
