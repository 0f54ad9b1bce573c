// Response schemas of the traffic series for the OpenAPI document (the e2e test checks real answers against them).
import { countSchema } from '../common/count';
import { int, scopeSchema } from '../common/openapi';

const numbers = { type: 'array', items: countSchema };
export const trafficSeriesSchema = {
  type: 'object',
  properties: {
    scope: scopeSchema,
    stepSeconds: int,
    times: { type: 'array', items: { type: 'string', format: 'date-time' } },
    total: { type: 'object', properties: { packets: numbers, bytes: numbers } },
    protocols: {
      type: 'array',
      items: {
        type: 'object',
        properties: { protocol: int, name: { type: 'string', nullable: true }, packets: numbers, bytes: numbers },
      },
    },
  },
};
