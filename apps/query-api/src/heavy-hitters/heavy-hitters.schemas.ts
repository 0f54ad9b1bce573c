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
    counted: {
      type: 'object',
      nullable: true,
      description:
        'Heavy prefixes from the prefix counts kept in the kernel (IPv4 /8 /16 /24, IPv6 /32 /48 /64), null with flow filters: every prefix whose upper bound reaches the threshold, lower ≤ truth ≤ upper; certain when lower reaches it; a level is complete when its floor (the most an unlisted prefix can have) is below the threshold',
      properties: {
        complete: { type: 'boolean' },
        levels: {
          type: 'array',
          items: {
            type: 'object',
            properties: { family: int, length: int, floor: num, complete: { type: 'boolean' } },
          },
        },
        prefixes: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              prefix: str,
              side: str,
              family: int,
              length: int,
              lower: num,
              upper: num,
              certain: { type: 'boolean' },
            },
          },
        },
      },
    },
  },
};
