// Response schemas of the distinct counts for the OpenAPI document (the e2e test checks real answers against them).
import { int, num, scopeSchema } from '../common/openapi';

const hll = {
  type: 'object',
  properties: { estimate: num, standardError: { ...num, description: 'relative, 1.04/√m' }, low95: num, high95: num },
};

export const cardinalitySchema = {
  type: 'object',
  properties: { scope: scopeSchema, flows: hll, sources: hll, destinations: hll, ports: hll },
};

export const cardinalitySeriesSchema = {
  type: 'object',
  properties: {
    scope: scopeSchema,
    stepSeconds: int,
    series: {
      type: 'object',
      additionalProperties: {
        type: 'array',
        items: {
          type: 'object',
          properties: { t: { type: 'string', format: 'date-time' }, value: { ...hll, nullable: true } },
        },
      },
    },
  },
};
