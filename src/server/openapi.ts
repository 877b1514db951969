import { z } from 'zod';
import { API_ROUTES } from './api-routes.js';
import { openApiPath, type ApiRoute } from './route-table.js';
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
export function createOpenApiDocument(routes: readonly ApiRoute[] = API_ROUTES) {
  const paths: Record<string, Record<string, object>> = {};
  for (const route of routes)
    (paths[openApiPath(route.path)] ??= {})[route.method.toLowerCase()] = operationOf(route);
  return {
    openapi: '3.1.0',
    info: { title: 'Keel run API', version: '1' },
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'A Keel API key, keel_sk_...' },
      },
      responses: sharedResponses,
    },
    paths: withSharedResponses(paths),
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

function queryParameters(schema: z.ZodObject) {
  return Object.entries(schema.shape).map(([name, field]) => ({
    name,
    in: 'query',
    required: false,
    schema: z.toJSONSchema(field as Schema, { io: 'input', unrepresentable: 'any' }),
  }));
}
