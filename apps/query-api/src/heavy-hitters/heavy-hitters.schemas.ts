// Response schemas of the heavy hitters for the OpenAPI document (the e2e test checks real answers against them).
import { int, num, scopeSchema, str } from '../common/openapi';

export const heavyHittersSchema = {
  type: 'object',
  properties: {
    scope: scopeSchema,
    side: str,
    phi: num,
    by: str,
    total: num,
    threshold: num,
    bound: num,
    confidence: num,
    prefixes: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          prefix: str,
          family: int,
          length: int,
          weight: num,
          discounted: num,
          share: num,
          boundPerFlow: num,
        },
      },
    },
    icicle: {
      type: 'array',
      items: {
        type: 'object',
        properties: { prefix: str, length: int, parent: { type: 'string', nullable: true }, weight: num, share: num },
      },
    },
  },
};
