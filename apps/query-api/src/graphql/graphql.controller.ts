// /graphql: POST {query, variables, operationName} or GET with the same as query parameters; the schema as text at
// /graphql/schema.
import { Body, Controller, Get, HttpCode, Inject, Post, Query, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Raw } from '../common/params';
import type { Metrics } from '../observability';
import { METRICS } from '../tokens';
import { GraphQLRunner } from './graphql.runner';

@ApiExcludeController()
@Controller('graphql')
export class GraphQLController {
  constructor(
    private readonly runner: GraphQLRunner,
    @Inject(METRICS) private readonly metrics: Metrics,
  ) {}

  private async answer(
    reply: FastifyReply,
    req: FastifyRequest,
    query: unknown,
    variables: unknown,
    operationName: unknown,
  ) {
    const r = await this.runner.run(query, variables, operationName, {
      method: req.method === 'POST' ? 'POST' : 'GET',
      tokenName: req.tokenName ?? 'unknown',
      scopes: req.tokenScopes ?? [],
    });
    const codes = ((r.body.errors ?? []) as { extensions?: { code?: string } }[]).map((e) => e.extensions?.code);
    const internal = codes.includes('INTERNAL_SERVER_ERROR');
    // a decision without the admin scope counts as REST's 403 does
    if (codes.includes('FORBIDDEN')) this.metrics.authFailures.inc({ reason: 'scope' });
    this.metrics.graphql.inc({
      outcome: r.status !== 200 ? 'rejected' : internal ? 'error' : r.body.errors ? 'partial' : 'ok',
    });
    if (internal) (req as unknown as { graphqlInternalError?: boolean }).graphqlInternalError = true;
    if (r.status === 405) reply.header('allow', 'POST');
    return reply.code(r.status).header('content-type', 'application/json').send(r.body);
  }

  @Post()
  @HttpCode(200)
  post(@Body() body: Raw | undefined, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    if (!body || typeof body !== 'object')
      return reply.code(400).send({
        errors: [
          {
            message: 'body: a JSON object {query, variables} is required',
            extensions: { code: 'BAD_REQUEST', field: 'body' },
          },
        ],
      });
    return this.answer(reply, req, body.query, body.variables, body.operationName);
  }

  @Get()
  get(@Query() q: Raw, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    let variables: unknown;
    if (typeof q.variables === 'string' && q.variables !== '') {
      try {
        variables = JSON.parse(q.variables);
      } catch {
        return reply.code(400).send({
          errors: [{ message: 'variables: not valid JSON', extensions: { code: 'BAD_REQUEST', field: 'variables' } }],
        });
      }
    }
    return this.answer(reply, req, q.query, variables, q.operationName);
  }

  @Get('schema')
  schema(@Res() reply: FastifyReply) {
    return reply.header('content-type', 'text/plain; charset=utf-8').send(this.runner.sdl());
  }
}
