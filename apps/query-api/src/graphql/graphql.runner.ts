// Runs GraphQL operations over the same services as REST: size, depth and complexity checked before validation and
// execution; argument errors come back as BAD_USER_INPUT naming the field, internal ones without detail.
import { Injectable } from '@nestjs/common';
import {
  buildSchema,
  type DocumentNode,
  execute,
  GraphQLError,
  type GraphQLSchema,
  parse,
  printSchema,
  validate,
} from 'graphql';
import { InvalidInputError } from '../common/errors';
import { MAX_COMPLEXITY, MAX_DEPTH, measure } from './graphql.complexity';
import { GraphQLResolvers } from './graphql.resolvers';
import { SDL } from './graphql.schema';

export interface GraphQLResponse {
  status: number;
  body: { data?: unknown; errors?: unknown[] };
}

@Injectable()
export class GraphQLRunner {
  readonly schema: GraphQLSchema = buildSchema(SDL);

  constructor(private readonly resolvers: GraphQLResolvers) {}

  sdl(): string {
    return printSchema(this.schema);
  }

  async run(query: unknown, variables: unknown, operationName: unknown): Promise<GraphQLResponse> {
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
    const { depth, complexity } = measure(doc);
    if (depth > MAX_DEPTH) return bad(`query depth ${depth} exceeds ${MAX_DEPTH}`);
    if (complexity > MAX_COMPLEXITY)
      return bad(
        `query complexity ${Math.round(complexity)} exceeds ${MAX_COMPLEXITY}: ask for fewer fields or a smaller k`,
      );
    const errors = validate(this.schema, doc);
    if (errors.length)
      return {
        status: 400,
        body: {
          errors: errors.map((e) => ({
            message: e.message,
            locations: e.locations,
            extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
          })),
        },
      };
    const result = await execute({
      schema: this.schema,
      document: doc,
      rootValue: this.resolvers.root,
      variableValues: (variables as Record<string, unknown>) ?? undefined,
      operationName: (operationName as string) ?? undefined,
    });
    if (!result.errors?.length) return { status: 200, body: { data: result.data } };
    const errs = result.errors.map((e) => {
      const orig = e.originalError;
      if (orig instanceof InvalidInputError)
        return { message: orig.message, path: e.path, extensions: { code: 'BAD_USER_INPUT', field: orig.field } };
      if (!orig || orig instanceof GraphQLError)
        return { message: e.message, path: e.path, locations: e.locations, extensions: { code: 'BAD_USER_INPUT' } };
      return { message: 'internal error', path: e.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    });
    return { status: 200, body: { data: result.data ?? null, errors: errs } };
  }
}
