// Turns every failure into the API's JSON error: 400 naming the refused field, Nest's HTTP errors as they are, and
// anything else a 500 that points at the request id in the server log (the log has the detail), naming stored
// sketches of another hash seed as the cause when they are.
import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { IncompatibleParametersError } from '@tma/sketch';
import type { JsonLogger } from '../observability';
import { InvalidInputError } from './errors';

@Catch()
export class ErrorFilter implements ExceptionFilter {
  constructor(private readonly logger: JsonLogger) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const req = host.switchToHttp().getRequest<FastifyRequest>();
    if (error instanceof InvalidInputError) {
      reply
        .code(400)
        .send({ statusCode: 400, error: 'Bad Request', field: error.field, message: error.message, requestId: req.id });
      return;
    }
    if (error instanceof HttpException) {
      const status = error.getStatus();
      reply.code(status).send({
        statusCode: status,
        error: error.name.replace(/Exception$/, ''),
        message: error.message,
        requestId: req.id,
      });
      return;
    }
    this.logger.write('error', 'request failed', {
      reqId: req.id,
      error: error instanceof Error ? error.message : String(error),
      stack: error instanceof Error ? error.stack : undefined,
    });
    reply.code(500).send({
      statusCode: 500,
      error: 'Internal Server Error',
      // stored rows of another hash seed (or sketch specification) are refused, never merged (docs/deploy.md)
      message:
        error instanceof IncompatibleParametersError
          ? "stored sketches were built with another hash seed or sketch specification than this API's; see the server log for this request id"
          : 'the query failed; see the server log for this request id',
      requestId: req.id,
    });
  }
}
