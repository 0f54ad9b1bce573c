// REST /v1 hierarchical heavy hitters.
import { Get, Inject, Query } from '@nestjs/common';
import type { QueryApiConfig } from '../config';
import { Common, FLOW_FILTERS, FlowFilterParams, q, QueryController, TIME, TimeParams } from '../common/openapi';
import { type Raw, refuseUnknown } from '../common/params';
import { CONFIG } from '../tokens';
import { heavyHittersArgs } from './heavy-hitters.args';
import { heavyHittersSchema } from './heavy-hitters.schemas';
import { HeavyHittersService } from './heavy-hitters.service';

@QueryController()
export class HeavyHittersController {
  constructor(
    private readonly hitters: HeavyHittersService,
    @Inject(CONFIG) private readonly config: QueryApiConfig,
  ) {}

  @Get('heavy-hitters')
  @Common(
    'Hierarchical heavy hitters over source or destination prefixes with threshold φ, plus the prefix tree (icicle)',
    heavyHittersSchema,
  )
  @TimeParams()
  @FlowFilterParams()
  @q('side', 'src or dst', { type: 'string', enum: ['src', 'dst'], default: 'src' })
  @q('phi', 'threshold as a share of total traffic, [0.0001, 1)', {
    type: 'number',
    minimum: 0.0001,
    maximum: 1,
    exclusiveMaximum: true,
    default: 0.05,
  })
  @q('by', 'packets or bytes', { type: 'string', enum: ['packets', 'bytes'], default: 'packets' })
  heavyHitters(@Query() raw: Raw) {
    refuseUnknown(raw, [...TIME, ...FLOW_FILTERS, 'side', 'phi', 'by']);
    return this.hitters.heavyHitters(heavyHittersArgs(raw, this.config));
  }
}
