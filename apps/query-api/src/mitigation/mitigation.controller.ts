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
import { decisionBodySchema, proposeBodySchema, RULE_ID, rulesSchema, ruleWithAuditSchema } from './mitigation.schemas';

const ID_RE = new RegExp(RULE_ID);

function json(req: FastifyRequest): void {
  if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? ''))
    throw new UnsupportedMediaTypeException('send the body as application/json');
}

function ruleId(id: string): string {
  if (!ID_RE.test(id)) throw new InvalidInputError('id', 'a rule id (UUID, lower case)');
  return id;
}

function note(body: unknown): string {
  if (body == null) return '';
  if (typeof body !== 'object' || Array.isArray(body))
    throw new InvalidInputError('body', 'a JSON object {"note": "…"}');
  const extra = Object.keys(body).filter((k) => k !== 'note');
  if (extra.length) throw new InvalidInputError(extra[0], 'unknown field (only note)');
  const n = (body as { note?: unknown }).note;
  if (n === undefined) return '';
  if (typeof n !== 'string' || n.length > 500) throw new InvalidInputError('note', 'text of at most 500 characters');
  return n;
}

const FIELDS = ['srcPrefix', 'dst', 'port', 'protocol', 'ttlSeconds', 'reason', 'dryRun', 'hosts', 'alertId'];

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
    const b = body as Record<string, unknown>;
    const extra = Object.keys(b).find((k) => !FIELDS.includes(k));
    if (extra) throw new InvalidInputError(extra, `unknown field (one of ${FIELDS.join(', ')})`);
    const actor = req.tokenName ?? 'unknown';
    const dryRun = b.dryRun;
    if (dryRun !== undefined && typeof dryRun !== 'boolean') throw new InvalidInputError('dryRun', 'true or false');
    if (b.alertId !== undefined) {
      if (typeof b.alertId !== 'string' || !/^[0-9a-f]{16}$/.test(b.alertId))
        throw new InvalidInputError('alertId', 'an alert id (16 hex digits)');
      const other = Object.keys(b).find((k) => !['alertId', 'ttlSeconds', 'dryRun'].includes(k));
      if (other) throw new InvalidInputError(other, 'with alertId only ttlSeconds and dryRun may be given');
      const ttl = b.ttlSeconds === undefined ? undefined : Number(b.ttlSeconds);
      return this.service.proposeFromAlert(b.alertId, actor, ttl, dryRun as boolean | undefined);
    }
    const str = (k: string) => {
      if (b[k] != null && typeof b[k] !== 'string') throw new InvalidInputError(k, 'text');
      return b[k] as string | undefined;
    };
    const integer = (k: string) => {
      if (b[k] != null && !Number.isInteger(b[k])) throw new InvalidInputError(k, 'an integer');
      return b[k] as number | undefined;
    };
    if (b.hosts !== undefined && !Array.isArray(b.hosts)) throw new InvalidInputError('hosts', 'a list of host ids');
    if (b.srcPrefix === undefined) throw new InvalidInputError('srcPrefix', 'required: the source prefix to block');
    if (b.ttlSeconds === undefined) throw new InvalidInputError('ttlSeconds', 'required: how long the rule lasts');
    if (b.reason === undefined) throw new InvalidInputError('reason', 'required: why');
    return this.service.propose(
      {
        srcPrefix: str('srcPrefix')!,
        dst: str('dst') ?? null,
        port: integer('port') ?? 0,
        protocol: (str('protocol') ?? 'any') as never,
        ttlSeconds: integer('ttlSeconds')!,
        reason: str('reason')!,
        dryRun: dryRun as boolean | undefined,
        hosts: b.hosts as string[] | undefined,
      },
      actor,
    );
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
