// The OpenAPI document, generated from the /v1 controllers' decorators; the bounds that come from the settings
// (longest range, largest k) are written in from the running configuration so the document states what this
// instance accepts.
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { durationPattern } from '../common/patterns';
import type { QueryApiConfig } from '../config';

export function openApiDocument(
  app: INestApplication,
  version: string,
  config: Pick<QueryApiConfig, 'maxRangeMs' | 'maxK'>,
): OpenAPIObject {
  const doc = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('TMA query API')
      .setDescription(
        'Fleet-wide traffic answers merged from stored partial sketches. Every estimate carries its bound: Count-Min ε·N at confidence 1 − δ (estimates never undercount), HyperLogLog relative standard error. GraphQL over the same services at /graphql (schema at /graphql/schema).',
      )
      .setVersion(version)
      .addBearerAuth({
        type: 'http',
        scheme: 'bearer',
        description: 'a token from TMA_API_TOKENS: read scope, admin scope for POST /v1/sql',
      })
      .build(),
    // Operation ids stay those of the single REST controller the endpoints were first published from: clients
    // generated from the document keep their method names.
    { operationIdFactory: (_controller: string, method: string) => `RestController_${method}` },
  );
  for (const item of Object.values(doc.paths))
    for (const op of [item.get, item.post]) {
      for (const p of op?.parameters ?? []) {
        if (!('name' in p) || !p.schema || !('type' in p.schema)) continue;
        if (p.name === 'range') p.schema.pattern = durationPattern(config.maxRangeMs);
        if (p.name === 'k') p.schema.maximum = config.maxK;
        if (p.name === 'step') p.schema.pattern = durationPattern(config.maxRangeMs, 'mhdw');
      }
    }
  return doc;
}
