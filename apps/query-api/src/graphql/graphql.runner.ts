// Runs GraphQL operations over the same services as REST: size, depth and complexity checked before validation and
// execution; argument errors come back as BAD_USER_INPUT naming the field, refusals REST answers with 403, 404 or 409
// as FORBIDDEN, NOT_FOUND or CONFLICT with the same message, internal ones without detail. Mutations need POST.
import { HttpException, Inject, Injectable } from '@nestjs/common';
import {
  buildSchema,
  type DocumentNode,
  execute,
  getOperationAST,
  GraphQLError,
  type GraphQLSchema,
  Kind,
  parse,
  printSchema,
  validate,
  visit,
  type ASTNode,
} from 'graphql';
import { InvalidInputError } from '../common/errors';
import type { QueryApiConfig } from '../config';
import { CONFIG } from '../tokens';
import {
  introspectionSizes,
  MAX_COMPLEXITY,
  MAX_DEPTH,
  MAX_INTROSPECTION_COST,
  type Measure,
  measure,
} from './graphql.complexity';
import { type GraphQLContext, GraphQLResolvers } from './graphql.resolvers';
import { installScalars } from './graphql.scalars';
import { SDL } from './graphql.schema';

export interface GraphQLResponse {
  status: number;
  body: { data?: unknown; errors?: unknown[] };
}

const HTTP_CODES: Record<number, string> = { 403: 'FORBIDDEN', 404: 'NOT_FOUND', 409: 'CONFLICT' };
const httpCode = (status: number) => HTTP_CODES[status] ?? 'BAD_USER_INPUT';

const cost = (n: number) => (n < 1e15 ? Math.round(n).toLocaleString('en-US') : n.toExponential(2));

@Injectable()
export class GraphQLRunner {
  readonly schema: GraphQLSchema;
  private readonly sizes: Map<string, number>;

  constructor(
    private readonly resolvers: GraphQLResolvers,
    @Inject(CONFIG) private readonly config: QueryApiConfig,
  ) {
    this.schema = buildSchema(SDL);
    installScalars(this.schema, config.maxK);
    this.sizes = introspectionSizes(this.schema);
  }

  sdl(): string {
    return printSchema(this.schema);
  }

  async run(
    query: unknown,
    variables: unknown,
    operationName: unknown,
    caller: GraphQLContext & { method: 'GET' | 'POST' },
  ): Promise<GraphQLResponse> {
    const bad = (message: string, field?: string): GraphQLResponse => ({
      status: 400,
      body: { errors: [{ message, extensions: { code: 'BAD_REQUEST', ...(field ? { field } : {}) } }] },
    });
    if (typeof query !== 'string' || query.trim() === '') return bad('query: a GraphQL document is required', 'query');
    if (query.length > 20_000) return bad('query: longer than 20,000 characters', 'query');
    if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables)))
      return bad('variables: must be a JSON object', 'variables');
    if (operationName !== undefined && operationName !== null && typeof operationName !== 'string')
      return bad('operationName: must be a string', 'operationName');
    let doc: DocumentNode;
    try {
      doc = parse(query);
    } catch (e) {
      return {
        status: 400,
        body: {
          errors: [
            {
              message: (e as GraphQLError).message,
              locations: (e as GraphQLError).locations,
              extensions: { code: 'GRAPHQL_PARSE_FAILED' },
            },
          ],
        },
      };
    }
    let m: Measure;
    try {
      m = measure(doc, {
        variables: variables as Record<string, unknown> | undefined,
        operationName: operationName as string | undefined,
        maxK: this.config.maxK,
        sizes: this.sizes,
      });
    } catch (e) {
      if (!(e instanceof InvalidInputError)) throw e;
      return {
        status: 400,
        body: { errors: [{ message: e.message, extensions: { code: 'BAD_USER_INPUT', field: e.field } }] },
      };
    }
    const { depth, complexity, introspection } = m;
    if (!Number.isFinite(depth + complexity + introspection))
      return bad('fragments form a cycle or nest deeper than 64 levels');
    if (depth > MAX_DEPTH) return bad(`query depth ${depth} exceeds ${MAX_DEPTH}`);
    if (complexity > MAX_COMPLEXITY)
      return bad(`query complexity ${cost(complexity)} exceeds ${MAX_COMPLEXITY}: ask for fewer fields or a smaller k`);
    if (introspection > MAX_INTROSPECTION_COST)
      return bad(
        `introspection cost ${cost(introspection)} exceeds ${MAX_INTROSPECTION_COST}: ask for less of the schema`,
      );
    const errors = validate(this.schema, doc);
    if (errors.length) {
      // A literal refused by an argument scalar is bad input naming its argument, as over REST.
      const argOf = new Map<ASTNode, string>();
      visit(doc, {
        Argument: (a) => {
          argOf.set(a.value, a.name.value);
          if (a.value.kind === Kind.LIST) for (const item of a.value.values) argOf.set(item, a.name.value);
        },
      });
      return {
        status: 400,
        body: {
          errors: errors.map((e) => {
            const field = e.nodes?.length ? argOf.get(e.nodes[0]) : undefined;
            return {
              message: e.message,
              locations: e.locations,
              extensions: field ? { code: 'BAD_USER_INPUT', field } : { code: 'GRAPHQL_VALIDATION_FAILED' },
            };
          }),
        },
      };
    }
    // GET stays read-only (a link or a prefetch must never change anything): mutations need POST.
    if (
      caller.method === 'GET' &&
      getOperationAST(doc, (operationName as string) ?? undefined)?.operation === 'mutation'
    )
      return {
        status: 405,
        body: { errors: [{ message: 'mutations are sent with POST', extensions: { code: 'METHOD_NOT_ALLOWED' } }] },
      };
    const context: GraphQLContext = { tokenName: caller.tokenName, scopes: caller.scopes };
    const result = await execute({
      schema: this.schema,
      document: doc,
      rootValue: this.resolvers.root,
      contextValue: context,
      variableValues: (variables as Record<string, unknown>) ?? undefined,
      operationName: (operationName as string) ?? undefined,
    });
    if (!result.errors?.length) return { status: 200, body: { data: result.data } };
    const errs = result.errors.map((e) => {
      const orig = e.originalError;
      if (orig instanceof InvalidInputError)
        return { message: orig.message, path: e.path, extensions: { code: 'BAD_USER_INPUT', field: orig.field } };
      // A refusal the REST endpoint answers with a 4xx (403, 404, 409): its message, the status as a code.
      if (orig instanceof HttpException && orig.getStatus() < 500)
        return { message: orig.message, path: e.path, extensions: { code: httpCode(orig.getStatus()) } };
      if (!orig || orig instanceof GraphQLError)
        return { message: e.message, path: e.path, locations: e.locations, extensions: { code: 'BAD_USER_INPUT' } };
      return { message: 'internal error', path: e.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    });
    return { status: 200, body: { data: result.data ?? null, errors: errs } };
  }
}
