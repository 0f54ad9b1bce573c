// REST /v1 hosts table.
import { Get, Inject, Query } from '@nestjs/common';
import type { QueryApiConfig } from '../config';
import { Common, HostsParam, QueryController, TIME, TimeParams } from '../common/openapi';
import { type Raw, refuseUnknown } from '../common/params';
import { CONFIG } from '../tokens';
import { hostsArgs } from './hosts.args';
import { hostsSchema } from './hosts.schemas';
import { HostsService } from './hosts.service';

@QueryController()
export class HostsController {
  constructor(
    private readonly hostsService: HostsService,
    @Inject(CONFIG) private readonly config: QueryApiConfig,
  ) {}

  @Get('hosts')
  @Common('Hosts seen in the range: last seen, boot, last sequence, exact totals, sequence gaps', hostsSchema)
  @TimeParams()
  @HostsParam()
  hosts(@Query() raw: Raw) {
    refuseUnknown(raw, [...TIME, 'hosts']);
    return this.hostsService.hosts(hostsArgs(raw, this.config));
  }
}
