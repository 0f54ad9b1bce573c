// REST /v1 distinct counts: over the whole range and per step.
import { Get, Inject, Query } from '@nestjs/common';
import type { QueryApiConfig } from '../config';
import {
  Common,
  HostsParam,
  metricsSchema,
  q,
  QueryController,
  STEP_DESCRIPTION,
  stepSchema,
  TIME,
  TimeParams,
} from '../common/openapi';
import { type Raw, refuseUnknown } from '../common/params';
import { CONFIG } from '../tokens';
import { CARDINALITY_METRICS, cardinalityArgs, cardinalitySeriesArgs } from './cardinality.args';
import { cardinalitySchema, cardinalitySeriesSchema } from './cardinality.schemas';
import { CardinalityService } from './cardinality.service';

@QueryController()
export class CardinalityController {
  constructor(
    private readonly cardinalities: CardinalityService,
    @Inject(CONFIG) private readonly config: QueryApiConfig,
  ) {}

  @Get('cardinality')
  @Common(
    'Distinct flows, sources, destinations and destination ports over the whole range (one HLL union)',
    cardinalitySchema,
  )
  @TimeParams()
  @HostsParam()
  @q(
    'metrics',
    'comma-separated subset of flows,sources,destinations,ports (default all)',
    metricsSchema(CARDINALITY_METRICS),
  )
  cardinality(@Query() raw: Raw) {
    refuseUnknown(raw, [...TIME, 'hosts', 'metrics']);
    return this.cardinalities.cardinality(cardinalityArgs(raw, this.config));
  }

  @Get('cardinality/series')
  @Common('Distinct counts per step (each point one HLL union); tiers chosen from the step', cardinalitySeriesSchema)
  @TimeParams()
  @HostsParam()
  @q('step', STEP_DESCRIPTION, stepSchema)
  @q(
    'metrics',
    'comma-separated subset of flows,sources,destinations,ports (default all)',
    metricsSchema(CARDINALITY_METRICS),
  )
  cardinalitySeries(@Query() raw: Raw) {
    refuseUnknown(raw, [...TIME, 'hosts', 'metrics', 'step']);
    return this.cardinalities.cardinalitySeries(cardinalitySeriesArgs(raw, this.config));
  }
}
