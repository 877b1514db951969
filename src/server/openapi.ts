import { z } from 'zod';
import { API_ROUTES } from './api-routes.js';
import { openApiPath, type ApiRoute, type WireRoute, type WireTable } from './route-table.js';
import { errorResponse } from './schemas.js';

type Schema = z.ZodType;

const json = (schema: Schema, io: 'input' | 'output' = 'output') => ({
  'application/json': { schema: z.toJSONSchema(schema, { io, unrepresentable: 'any' }) },
});

const bearer = [{ apiKey: [] }];

const retryAfterHeader = {
  description: 'Seconds to wait before retrying (whole seconds, rounded up)',
  schema: { type: 'integer', minimum: 0 },
};

/**
 * Responses any authenticated operation may give before (or instead of) its own: the key's
 * rate limit (429) and a database blip or a request over its time budget (503).
 */
const sharedResponses = {
  RateLimited: {
    description: 'rate_limited: the API key is over its requests per minute',
    headers: {
      'Retry-After': retryAfterHeader,
      'retry-after-ms': {
        description: 'Milliseconds to wait before retrying (the precise form of Retry-After)',
        schema: { type: 'integer', minimum: 0 },
      },
    },
    content: json(errorResponse),
  },
  Unavailable: {
    description:
      'database_unavailable (the database could not be reached; sent with Retry-After: 1) or ' +
      'request_timeout (the request took longer than the server allows; no Retry-After). Both are ' +
      'retryable; retry a submit with the same Idempotency-Key.',
    headers: {
      'Retry-After': { ...retryAfterHeader, description: 'Seconds to wait (database_unavailable)' },
    },
    content: json(errorResponse),
  },
};

const sharedResponseRefs = {
  '429': { $ref: '#/components/responses/RateLimited' },
  '503': { $ref: '#/components/responses/Unavailable' },
};

/** Adds the shared 429 and 503 to every operation that needs an API key. */
function withSharedResponses<Paths extends Record<string, Record<string, object>>>(paths: Paths): Paths {
  for (const operations of Object.values(paths)) {
    for (const operation of Object.values(operations) as { security?: unknown; responses?: object }[]) {
      if (operation.security !== undefined && operation.responses !== undefined)
        operation.responses = { ...operation.responses, ...sharedResponseRefs };
    }
  }
  return paths;
}
/**
 * The API as an OpenAPI 3.1 document, generated from the route table the server mounts
 * (`API_ROUTES`) and the zod schemas its routes validate with (OpenAPI 3.1 uses JSON Schema
 * 2020-12, which is what `z.toJSONSchema` emits): every route is in it, with its scopes.
 */
export function createOpenApiDocument(routes: readonly ApiRoute[] = API_ROUTES, wire?: WireTable) {
  const paths: Record<string, Record<string, object>> = {};
  for (const route of routes)
    (paths[openApiPath(route.path)] ??= {})[route.method.toLowerCase()] = operationOf(route);
  withSharedResponses(paths);
  // The gateway's routes, when the server serves them: marked with their wire format (their
  // bodies and errors are the provider's, OpenAI's or Anthropic's, not described here).
  for (const route of wire?.routes ?? [])
    (paths[openApiPath(route.path.replace(/\/\*$/, '/:id'))] ??= {})[route.method.toLowerCase()] =
      wireOperationOf(route);
  return {
    openapi: '3.1.0',
    info: { title: 'Keel run API', version: '1' },
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'A Keel API key, keel_sk_...' },
      },
      responses: sharedResponses,
    },
    paths,
  };
}

function operationOf(route: ApiRoute) {
  const pathParameters = [...route.path.matchAll(/:([A-Za-z_]+)/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));
  const parameters = [
    ...pathParameters,
    ...(route.query === undefined ? [] : queryParameters(route.query as z.ZodObject)),
    ...(route.parameters ?? []).map((parameter) => ({ ...parameter, required: false })),
  ];
  const responses = Object.fromEntries(
    Object.entries(route.responses).map(([status, response]) => [
      status,
      {
        description: response.description,
        ...(response.content !== undefined
          ? { content: response.content }
          : response.schema !== undefined
            ? { content: json(response.schema) }
            : Number(status) >= 400
              ? { content: json(errorResponse) }
              : {}),
      },
    ]),
  );
  return {
    summary: route.summary,
    ...(route.description === undefined ? {} : { description: route.description }),
    ...(route.scopes.length === 0 ? {} : { security: bearer, 'x-keel-scopes': [...route.scopes] }),
    ...(parameters.length === 0 ? {} : { parameters }),
    ...(route.body === undefined
      ? {}
      : { requestBody: { required: true, content: json(route.body, 'input') } }),
    responses,
  };
}

function wireOperationOf(route: WireRoute) {
  return {
    summary: route.summary,
    security: bearer,
    'x-keel-scopes': [...route.scopes],
    'x-keel-wire': route.errors,
    ...(route.path.endsWith('/*')
      ? { parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }] }
      : {}),
    responses: {
      200: {
        description: `The answer, in ${route.errors === 'openai' ? "OpenAI's" : "Anthropic's"} wire format`,
      },
      default: {
        description: `An error, in ${route.errors === 'openai' ? "OpenAI's" : "Anthropic's"} error format`,
      },
    },
  };
}

function queryParameters(schema: z.ZodObject) {
  return Object.entries(schema.shape).map(([name, field]) => ({
    name,
    in: 'query',
    required: false,
    schema: z.toJSONSchema(field as Schema, { io: 'input', unrepresentable: 'any' }),
  }));
}
