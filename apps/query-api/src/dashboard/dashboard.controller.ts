// The dashboard's static files, read once from the package (no CDN), under a strict content security policy.
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { Controller, Get, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';

const DASHBOARD_DIR = join(__dirname, '..', '..', 'dashboard');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

/** The dashboard: its page, style sheet and ES modules (served as JavaScript, which module scripts require). */
@ApiExcludeController()
@Controller()
export class DashboardController {
  private readonly files = new Map(
    readdirSync(DASHBOARD_DIR)
      .filter((f) => TYPES[extname(f)])
      .map((f) => [f, readFileSync(join(DASHBOARD_DIR, f))]),
  );

  @Get()
  index(@Res() reply: FastifyReply) {
    return reply.redirect('/dashboard', 302);
  }

  @Get('favicon.ico')
  favicon(@Res() reply: FastifyReply) {
    return reply.code(204).send();
  }

  // Fastify treats /dashboard and /dashboard/ alike; the page links its assets by absolute path.
  @Get('dashboard')
  page(@Res() reply: FastifyReply) {
    return this.send(reply, 'index.html');
  }

  @Get('dashboard/:file')
  asset(@Param('file') file: string, @Res() reply: FastifyReply) {
    if (!this.files.has(file))
      return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no dashboard asset ${file}` });
    return this.send(reply, file);
  }

  private send(reply: FastifyReply, file: string) {
    return reply
      .header('content-type', TYPES[extname(file)])
      .header('cache-control', 'no-cache')
      .header(
        'content-security-policy',
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
      )
      .send(this.files.get(file));
  }
}
