// POST /v1/sql: read-only SQL over the store for admin tokens (docs/sql.md; the access log names the token). The engine enforces read-only and the
// limits (a session of its own with readonly = 1 on chDB); what it refuses comes back as a 400 naming its reason.
import { Body, Controller, HttpCode, Inject, Injectable, type OnModuleDestroy, Post } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { SqlRefusedError, type SqlParams, type SqlReader, type SqlResult, type Storage } from '@tma/storage';
import { InvalidInputError } from '../common/errors';
import type { QueryApiConfig } from '../config';
import { CONFIG, STORAGE } from '../tokens';

/** Longest statement accepted (characters). */
export const MAX_SQL_CHARS = 100_000;

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

@ApiExcludeController()
@Controller('v1')
export class SqlController {
  constructor(private readonly sql: SqlService) {}

  /** Body: {"sql": "SELECT … {from:DateTime} …", "params": {"from": "2026-12-04 00:00:00"}}. Answer: columns (name, type), rows (arrays; 64-bit integers as strings), statistics. */
  @Post('sql')
  @HttpCode(200)
  async run(@Body() body: unknown) {
    const { sql, params = {} } = (body ?? {}) as { sql?: unknown; params?: unknown };
    if (typeof sql !== 'string' || sql.trim() === '')
      throw new InvalidInputError('sql', 'send a JSON body {"sql": "SELECT …"}');
    if (sql.length > MAX_SQL_CHARS) throw new InvalidInputError('sql', `longer than ${MAX_SQL_CHARS} characters`);
    if (
      params === null ||
      typeof params !== 'object' ||
      Array.isArray(params) ||
      Object.values(params).some((v) => typeof v !== 'string')
    )
      throw new InvalidInputError('params', 'an object of text values: {"from": "2026-12-04 00:00:00"}');
    const r = await this.sql.run(sql, params as SqlParams);
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
