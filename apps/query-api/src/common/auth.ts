// Bearer-token authentication on every route except health, readiness and the static shells (dashboard page and API
// docs page, which hold no data and ask for a token in the browser). Secrets are compared as SHA-256 digests in
// constant time; only the token's name is kept on the request (for logs and metrics). On open routes a valid token
// is still recognised (never required), so /ready can give its details to a caller who has one.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiToken, QueryApiConfig, TokenScope } from '../config';
import type { Metrics } from '../observability';

declare module 'fastify' {
  interface FastifyRequest {
    tokenName?: string;
    /** The token's scopes (every scope when authentication is off), for checks inside a route (GraphQL mutations). */
    tokenScopes?: readonly TokenScope[];
  }
}

const PUBLIC = [/^\/health$/, /^\/ready$/, /^\/$/, /^\/dashboard(\/.*)?$/, /^\/docs(\/.*)?$/, /^\/favicon\.ico$/];

/** Routes for admin tokens only: free-form SQL (read-only, but over every table), deciding on block rules. The same
 * decisions over /graphql check the scope in their resolvers (graphql.resolvers.ts), /graphql itself needs read. */
const ADMIN = [/^\/v1\/sql$/, /^\/v1\/mitigation\/rules\/[^/]+\/(approve|reject|remove)\/?$/];

/** The refusal of a token without `scope`, the same over REST and GraphQL. */
export const lacksScope = (scope: TokenScope) => `the token lacks the ${scope} scope`;

const digest = (s: string) => createHash('sha256').update(s).digest();

export function isPublicPath(path: string): boolean {
  return PUBLIC.some((re) => re.test(path));
}

export function installAuth(fastify: FastifyInstance, config: QueryApiConfig, metrics: Metrics): void {
  const tokens = config.tokens.map((t) => ({ token: t, digest: digest(t.secret) }));
  const find = (secret: string): ApiToken | undefined => {
    const d = digest(secret);
    let found: ApiToken | undefined;
    // Compare against every token (no early exit) so timing says nothing about which one matched.
    for (const t of tokens) if (timingSafeEqual(d, t.digest)) found = t.token;
    return found;
  };
  fastify.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split('?')[0];
    if (!config.authEnabled) {
      req.tokenName = 'auth-off';
      req.tokenScopes = ['read', 'admin'];
      return;
    }
    const header = req.headers.authorization;
    if (isPublicPath(path)) {
      const m = header ? /^Bearer ([^\s]{1,512})$/i.exec(header) : null;
      const token = m ? find(m[1]) : undefined;
      if (token?.scopes.includes('read')) req.tokenName = token.name;
      return;
    }
    const refuse = (status: number, reason: string, message: string) => {
      metrics.authFailures.inc({ reason });
      return reply
        .code(status)
        .header(
          'www-authenticate',
          status === 401 ? 'Bearer realm="tma"' : 'Bearer realm="tma", error="insufficient_scope"',
        )
        .send({ statusCode: status, error: status === 401 ? 'Unauthorized' : 'Forbidden', message });
    };
    if (!header) return refuse(401, 'missing', 'a bearer token is required: Authorization: Bearer <token>');
    const m = /^Bearer ([^\s]{1,512})$/i.exec(header);
    if (!m) return refuse(401, 'malformed', 'the Authorization header must be "Bearer <token>"');
    const token = find(m[1]);
    if (!token) return refuse(401, 'unknown', 'the bearer token is not valid');
    const needed: TokenScope = ADMIN.some((re) => re.test(path)) ? 'admin' : 'read';
    if (!token.scopes.includes(needed)) return refuse(403, 'scope', lacksScope(needed));
    req.tokenName = token.name;
    req.tokenScopes = token.scopes;
  });
}
