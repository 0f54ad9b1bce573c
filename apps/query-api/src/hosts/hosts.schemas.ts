// Response schemas of the hosts table for the OpenAPI document (the e2e test checks real answers against them).
import { countSchema } from '../common/count';
import { int, scopeSchema, str } from '../common/openapi';

export const hostsSchema = {
  type: 'object',
  properties: {
    scope: scopeSchema,
    hosts: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          host: str,
          firstSeen: { type: 'string', format: 'date-time' },
          lastSeen: { type: 'string', format: 'date-time' },
          agentVersion: { type: 'string', nullable: true },
          bootId: str,
          lastSequence: int,
          snapshots: int,
          packets: countSchema,
          bytes: countSchema,
          gaps: { ...int, description: 'snapshots the host never delivered' },
        },
      },
    },
  },
};
