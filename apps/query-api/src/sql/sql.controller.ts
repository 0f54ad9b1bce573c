// POST /v1/sql: read-only SQL over the store for admin tokens (docs/sql.md; the access log names the token). The engine enforces read-only and the
// limits (a session of its own with readonly = 1 on chDB); what it refuses comes back as a 400 naming its reason.
import {
  Body,
  Controller,
  HttpCode,
  Inject,
  Injectable,
  type OnModuleDestroy,
  Post,
  Req,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiForbiddenResponse,
  ApiPayloadTooLargeResponse,
  ApiTags,
  ApiUnsupportedMediaTypeResponse,
} from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { SqlRefusedError, type SqlParams, type SqlReader, type SqlResult, type Storage } from '@tma/storage';
import { InvalidInputError } from '../common/errors';
import { BODY_LIMIT_BYTES, Common, errorSchema } from '../common/openapi';
import type { QueryApiConfig } from '../config';
import { CONFIG, STORAGE } from '../tokens';
import { MAX_SQL_CHARS, NOT_BLANK, sqlBodySchema, sqlResultSchema } from './sql.schemas';

@Injectable()
export class SqlService implements OnModuleDestroy {
  private reader?: SqlReader;

  constructor(
    @Inject(STORAGE) private readonly storage: Storage,
    @Inject(CONFIG) private readonly config: QueryApiConfig,
  ) {}

  async run(sql: string, params: SqlParams): Promise<SqlResult> {
    // Opened on first use: a deployment that never runs SQL never opens the extra session.
    this.reader ??= this.storage.sqlReader(this.config.sqlLimits);
    try {
      return await this.reader.query(sql, params);
    } catch (err) {
      if (err instanceof SqlRefusedError) throw new InvalidInputError('sql', `${err.code}: ${err.message}`);
      throw err;
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.reader?.close();
  }
}

/** Admin scope, checked before the route (common/auth.ts): the document says so. */
@ApiTags('admin')
@ApiBearerAuth()
@Controller('v1')
export class SqlController {
  constructor(private readonly service: SqlService) {}

  /** Body: {"sql": "SELECT … {from:DateTime} …", "params": {"from": "2026-12-04 00:00:00"}}. Answer: columns (name, type), rows (arrays; 64-bit integers as strings), statistics. The checks here are those sqlBodySchema states. */
  @Post('sql')
  @HttpCode(200)
  @Common('One read-only SQL statement over the store (admin scope; docs/sql.md)', sqlResultSchema)
  @ApiBody({ required: true, schema: sqlBodySchema })
  @ApiForbiddenResponse({ description: 'the token lacks the admin scope', schema: errorSchema })
  @ApiPayloadTooLargeResponse({
    description: `the body is larger than ${BODY_LIMIT_BYTES / 1024} KiB`,
    schema: errorSchema,
  })
  @ApiUnsupportedMediaTypeResponse({ description: 'the body is not application/json', schema: errorSchema })
  async sql(@Body() body: unknown, @Req() req: FastifyRequest) {
    // Fastify also parses text and form bodies; the document describes JSON only, so only JSON is taken. (Read from
    // the request, not @Headers(), which would list the header as a parameter of its own in the document.)
    if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? ''))
      throw new UnsupportedMediaTypeException('send the body as application/json');
    const { sql, params = {} } = (body ?? {}) as { sql?: unknown; params?: unknown };
    if (typeof sql !== 'string' || !NOT_BLANK.test(sql))
      throw new InvalidInputError('sql', 'send a JSON body {"sql": "SELECT …"}');
    // Code points, as the document's maxLength counts (sql.length counts UTF-16 units); only counted when it can matter.
    if (sql.length > MAX_SQL_CHARS && [...sql].length > MAX_SQL_CHARS)
      throw new InvalidInputError('sql', `longer than ${MAX_SQL_CHARS} characters`);
    if (
      params === null ||
      typeof params !== 'object' ||
      Array.isArray(params) ||
      Object.values(params).some((v) => typeof v !== 'string')
    )
      throw new InvalidInputError('params', 'an object of text values: {"from": "2026-12-04 00:00:00"}');
    const r = await this.service.run(sql, params as SqlParams);
    return {
      columns: r.columns,
      rows: r.rows,
      statistics: {
        rows: r.rows.length,
        elapsedSeconds: r.elapsedSeconds,
        rowsRead: r.rowsRead,
        bytesRead: r.bytesRead,
      },
    };
  }
}
