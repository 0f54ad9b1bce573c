// REST /v1/mitigation: block rules with a human in the loop (docs/threats.md, "Mitigation"). Any token lists rules
// and proposes one; approving, rejecting and removing need the admin scope (common/auth.ts, checked before the
// route: a read token gets 403).
import { Body, Get, HttpCode, Param, Post, Query, Req, UnsupportedMediaTypeException } from '@nestjs/common';
import {
  ApiBody,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiParam,
  ApiUnsupportedMediaTypeResponse,
} from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { InvalidInputError } from '../common/errors';
import { Common, errorSchema, q, QueryController } from '../common/openapi';
import { parseEnum, type Raw, refuseUnknown } from '../common/params';
import { MitigationService, RULE_STATUSES } from './mitigation.service';
import { decisionNote, proposalArgs, ruleId } from './mitigation.args';
import { decisionBodySchema, proposeBodySchema, RULE_ID, rulesSchema, ruleWithAuditSchema } from './mitigation.schemas';

function json(req: FastifyRequest): void {
  if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? ''))
    throw new UnsupportedMediaTypeException('send the body as application/json');
}

function note(body: unknown): string {
  if (body == null) return '';
  if (typeof body !== 'object' || Array.isArray(body))
    throw new InvalidInputError('body', 'a JSON object {"note": "…"}');
  const extra = Object.keys(body).filter((k) => k !== 'note');
  if (extra.length) throw new InvalidInputError(extra[0], 'unknown field (only note)');
  return decisionNote((body as { note?: unknown }).note);
}

const IdParam = () => ApiParam({ name: 'id', schema: { type: 'string', pattern: RULE_ID }, description: 'rule id' });
const Admin = () => ApiForbiddenResponse({ description: 'the token lacks the admin scope', schema: errorSchema });
const NotFound = () => ApiNotFoundResponse({ description: 'no rule with this id', schema: errorSchema });
const Conflict = (description: string) => ApiConflictResponse({ description, schema: errorSchema });
const Json = () =>
  ApiUnsupportedMediaTypeResponse({ description: 'the body is not application/json', schema: errorSchema });

@QueryController()
export class MitigationController {
  constructor(private readonly service: MitigationService) {}

  @Get('mitigation/rules')
  @Common('Block rules, newest proposal first, with what each dropped per host', rulesSchema)
  @q('status', 'only rules in this state', { type: 'string', enum: [...RULE_STATUSES] })
  rules(@Query() raw: Raw) {
    refuseUnknown(raw, ['status']);
    return this.service.list(raw.status == null ? undefined : parseEnum(raw, 'status', RULE_STATUSES));
  }

  @Get('mitigation/rules/:id')
  @Common(
    'One block rule with its audit trail (proposed, approved or rejected, applied/expired per host)',
    ruleWithAuditSchema,
  )
  @IdParam()
  @NotFound()
  rule(@Param('id') id: string, @Query() raw: Raw) {
    refuseUnknown(raw, []);
    return this.service.rule(ruleId(id));
  }

  /** Body: a rule, or {"alertId": "…"} for a flood alert's proposal. */
  @Post('mitigation/rules')
  @HttpCode(201)
  @Common('Propose a block rule (any token); an admin approves or rejects it', ruleWithAuditSchema)
  @ApiCreatedResponse({ description: 'the proposed rule', schema: ruleWithAuditSchema })
  @ApiBody({ required: true, schema: proposeBodySchema })
  @NotFound()
  @Conflict('a rule already covers the prefix, or the cap of rules is reached')
  @Json()
  async propose(@Body() body: unknown, @Req() req: FastifyRequest) {
    json(req);
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw new InvalidInputError(
        'body',
        'a JSON object: {"srcPrefix": "203.0.113.0/24", "ttlSeconds": 600, "reason": "…"}',
      );
    const p = proposalArgs(body as Record<string, unknown>);
    const actor = req.tokenName ?? 'unknown';
    return p.alertId !== undefined
      ? this.service.proposeFromAlert(p.alertId, actor, p.ttlSeconds, p.dryRun)
      : this.service.propose(p.rule, actor);
  }

  @Post('mitigation/rules/:id/approve')
  @HttpCode(200)
  @Common('Approve a proposed rule (admin scope): it goes to the agents on the commands topic', ruleWithAuditSchema)
  @IdParam()
  @ApiBody({ required: false, schema: decisionBodySchema })
  @Admin()
  @NotFound()
  @Conflict('the rule is not proposed (already decided, removed or expired)')
  @Json()
  approve(@Param('id') id: string, @Body() body: unknown, @Req() req: FastifyRequest) {
    if (body != null) json(req);
    return this.service.approve(ruleId(id), req.tokenName ?? 'unknown', note(body));
  }

  @Post('mitigation/rules/:id/reject')
  @HttpCode(200)
  @Common('Reject a proposed rule (admin scope)', ruleWithAuditSchema)
  @IdParam()
  @ApiBody({ required: false, schema: decisionBodySchema })
  @Admin()
  @NotFound()
  @Conflict('the rule is not proposed')
  @Json()
  reject(@Param('id') id: string, @Body() body: unknown, @Req() req: FastifyRequest) {
    if (body != null) json(req);
    return this.service.reject(ruleId(id), req.tokenName ?? 'unknown', note(body));
  }

  @Post('mitigation/rules/:id/remove')
  @HttpCode(200)
  @Common('Remove an approved rule before its TTL ends (admin scope)', ruleWithAuditSchema)
  @IdParam()
  @ApiBody({ required: false, schema: decisionBodySchema })
  @Admin()
  @NotFound()
  @Conflict('the rule is not in force')
  @Json()
  remove(@Param('id') id: string, @Body() body: unknown, @Req() req: FastifyRequest) {
    if (body != null) json(req);
    return this.service.remove(ruleId(id), req.tokenName ?? 'unknown', note(body));
  }
}
