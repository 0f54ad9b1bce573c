// The OpenAPI document, generated from the /v1 controllers' decorators.
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

export function openApiDocument(app: INestApplication, version: string): OpenAPIObject {
  return SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('TMA query API')
      .setDescription(
        'Fleet-wide traffic answers merged from stored partial sketches. Every estimate carries its bound: Count-Min ε·N at confidence 1 − δ (estimates never undercount), HyperLogLog relative standard error. GraphQL over the same services at /graphql (schema at /graphql/schema).',
      )
      .setVersion(version)
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'a token from TMA_API_TOKENS (read scope)' })
      .build(),
    // Operation ids stay those of the single REST controller the endpoints were first published from: clients
    // generated from the document keep their method names.
    { operationIdFactory: (_controller: string, method: string) => `RestController_${method}` },
  );
}
