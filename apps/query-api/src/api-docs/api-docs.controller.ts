// The browsable API page at /docs (Swagger UI from the package, no CDN) and the generated OpenAPI document.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Controller, Get, Param, Res } from '@nestjs/common';
import { ApiExcludeController, type OpenAPIObject } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';

/** The generated OpenAPI document, set once the application exists (it is generated from the app's routes). */
export class DocsHolder {
  document: OpenAPIObject | undefined;
}

const SWAGGER_DIR = dirname(require.resolve('swagger-ui-dist/package.json'));
// A Map: a file named "constructor" must not find Object.prototype's members.
const DOCS_ASSETS = new Map([
  ['swagger-ui.css', 'text/css; charset=utf-8'],
  ['swagger-ui-bundle.js', 'text/javascript; charset=utf-8'],
  ['swagger-ui-standalone-preset.js', 'text/javascript; charset=utf-8'],
]);
const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TMA query API</title><link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div><script src="/docs/swagger-ui-bundle.js"></script><script src="/docs/docs-init.js"></script></body></html>`;
const DOCS_INIT =
  "window.ui = SwaggerUIBundle({ url: '/docs/openapi.json', dom_id: '#swagger-ui', persistAuthorization: true, deepLinking: true });";

/** The browsable API page: Swagger UI from the package (no CDN), served without a static-file plugin. */
@ApiExcludeController()
@Controller('docs')
export class DocsController {
  private readonly files = new Map<string, Buffer>();

  constructor(private readonly docs: DocsHolder) {}

  @Get()
  page(@Res() reply: FastifyReply) {
    return reply.header('content-type', 'text/html; charset=utf-8').send(DOCS_PAGE);
  }

  @Get('openapi.json')
  json() {
    return this.docs.document;
  }

  @Get('docs-init.js')
  init(@Res() reply: FastifyReply) {
    return reply.header('content-type', 'text/javascript; charset=utf-8').send(DOCS_INIT);
  }

  @Get(':file')
  asset(@Param('file') file: string, @Res() reply: FastifyReply) {
    const type = DOCS_ASSETS.get(file);
    if (!type) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no docs asset ${file}` });
    let body = this.files.get(file);
    if (!body) this.files.set(file, (body = readFileSync(join(SWAGGER_DIR, file))));
    return reply.header('content-type', type).header('cache-control', 'public, max-age=3600').send(body);
  }
}
