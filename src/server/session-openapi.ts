import type { z } from 'zod';
import { sessionMessageListResponse, sessionMessagesQuery, sessionResponse } from './session-schemas.js';

/** The helpers openapi.ts builds its paths with. */
export interface OpenApiHelpers {
  json: (schema: z.ZodType, io?: 'input' | 'output') => unknown;
  errors: (...statuses: number[]) => Record<string, unknown>;
  queryParameters: (schema: z.ZodObject) => unknown[];
  bearer: unknown;
}

/** The `/v1/sessions` paths of the OpenAPI document. */
export function sessionOpenApiPaths({ json, errors, queryParameters, bearer }: OpenApiHelpers) {
  const sessionIdParameter = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
  return {
    '/v1/sessions/{id}': {
      get: {
        summary: 'A session (the runs sharing a session_id) of the key’s tenant',
        security: bearer,
        parameters: [sessionIdParameter],
        responses: {
          '200': { description: 'The session', content: json(sessionResponse) },
          ...errors(401, 403, 404),
        },
      },
    },
    '/v1/sessions/{id}/messages': {
      get: {
        summary: "A session's conversation: each run's input, then its answer once completed",
        description: 'Pages of runs, newest page first; messages oldest first within a page.',
        security: bearer,
        parameters: [sessionIdParameter, ...queryParameters(sessionMessagesQuery)],
        responses: {
          '200': { description: 'Messages', content: json(sessionMessageListResponse) },
          ...errors(400, 401, 403, 404),
        },
      },
    },
  };
}
