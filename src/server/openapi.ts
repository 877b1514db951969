import { z } from 'zod';
import {
  createKeyRequest,
  createdKeyResponse,
  keyListResponse,
  keyResponse,
  listKeysQuery,
  acceptedRunResponse,
  approvalDecisionEventData,
  approvalListResponse,
  approvalRequestEventData,
  approvalResponse,
  createRunRequest,
  decideApprovalRequest,
  errorResponse,
  healthResponse,
  listApprovalsQuery,
  listRunsQuery,
  outcomeRequest,
  readinessResponse,
  runEndEventData,
  runListResponse,
  runResponse,
  stepEventData,
  textDeltaEventData,
  stepListResponse,
} from './schemas.js';
import { sessionOpenApiPaths } from './session-openapi.js';

type Schema = z.ZodType;

const json = (schema: Schema, io: 'input' | 'output' = 'output') => ({
  'application/json': { schema: z.toJSONSchema(schema, { io, unrepresentable: 'any' }) },
});

const errors = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [String(status), { description: 'Error', content: json(errorResponse) }]),
  );

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
const runIdParameter = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const approvalIdParameter = runIdParameter;

function queryParameters(schema: z.ZodObject) {
  return Object.entries(schema.shape).map(([name, field]) => ({
    name,
    in: 'query',
    required: false,
    schema: z.toJSONSchema(field as Schema, { io: 'input', unrepresentable: 'any' }),
  }));
}

/**
 * The run API as an OpenAPI 3.1 document, generated from the zod schemas the server validates
 * with (OpenAPI 3.1 uses JSON Schema 2020-12, which is what `z.toJSONSchema` emits).
 */
export function createOpenApiDocument() {
  return {
    openapi: '3.1.0',
    info: { title: 'Keel run API', version: '1' },
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'A Keel API key, keel_sk_...' },
      },
      responses: sharedResponses,
    },
    paths: withSharedResponses({
      '/v1/runs': {
        post: {
          summary: 'Submit a run',
          security: bearer,
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              schema: { type: 'string', maxLength: 200 },
            },
            {
              name: 'wait',
              in: 'query',
              required: false,
              schema: { type: 'integer', minimum: 0, maximum: 60 },
            },
          ],
          requestBody: { required: true, content: json(createRunRequest, 'input') },
          responses: {
            '200': { description: 'Ended within `wait` seconds', content: json(runResponse) },
            '202': { description: 'Accepted', content: json(acceptedRunResponse) },
            ...errors(400, 401, 403, 404, 409, 413, 422),
          },
        },
        get: {
          summary: "List the tenant's runs, newest first",
          security: bearer,
          parameters: queryParameters(listRunsQuery),
          responses: {
            '200': { description: 'A page', content: json(runListResponse) },
            ...errors(400, 401, 403),
          },
        },
      },
      '/v1/runs/{id}': {
        get: {
          summary: 'Read a run, with its outcome (null while speculative)',
          security: bearer,
          parameters: [runIdParameter],
          responses: {
            '200': { description: 'The run', content: json(runResponse) },
            ...errors(401, 403, 404),
          },
        },
      },
      '/v1/runs/{id}/steps': {
        get: {
          summary: "A run's journal",
          security: bearer,
          parameters: [
            runIdParameter,
            {
              name: 'outputs',
              in: 'query',
              required: false,
              schema: { type: 'string', enum: ['true', 'false'] },
            },
          ],
          responses: {
            '200': { description: 'Steps', content: json(stepListResponse) },
            ...errors(401, 403, 404),
          },
        },
      },
      '/v1/runs/{id}/events': {
        get: {
          summary:
            "A run's events as server-sent events: step-start, text-delta, step-end, approval-request, approval-decision, run-end",
          description:
            'Event ids are integers from the journal (each step seq owns ids seq * 2^20 to seq * 2^20 + 2^20 - 1); ' +
            'reconnect with Last-Event-ID to resume with no loss and no repeat. ' +
            'The data of step events is StepEvent, of text-delta TextDeltaEvent (the text a model step streams; ' +
            "a step's deltas add up to its text), of approval-request ApprovalRequestEvent, of approval-decision " +
            'ApprovalDecisionEvent (an `approval` step is sent as these two instead of step-start and step-end), ' +
            'of run-end RunEndEvent.',
          security: bearer,
          parameters: [
            runIdParameter,
            {
              name: 'Last-Event-ID',
              in: 'header',
              required: false,
              schema: { type: 'string', pattern: '^[0-9]+$' },
            },
          ],
          responses: {
            '200': {
              description: 'An event stream that ends after run-end',
              content: {
                'text/event-stream': {
                  schema: {
                    oneOf: [
                      z.toJSONSchema(stepEventData, { unrepresentable: 'any' }),
                      z.toJSONSchema(textDeltaEventData, { unrepresentable: 'any' }),
                      z.toJSONSchema(approvalRequestEventData, { unrepresentable: 'any' }),
                      z.toJSONSchema(approvalDecisionEventData, { unrepresentable: 'any' }),
                      z.toJSONSchema(runEndEventData, { unrepresentable: 'any' }),
                    ],
                  },
                },
              },
            },
            ...errors(400, 401, 403, 404),
          },
        },
      },
      '/v1/runs/{id}/cancel': {
        post: {
          summary: 'Ask a run to stop',
          security: bearer,
          parameters: [runIdParameter],
          responses: {
            '202': { description: 'The run', content: json(runResponse) },
            ...errors(401, 403, 404),
          },
        },
      },
      '/v1/runs/{id}/outcome': {
        post: {
          summary: "Commit or reject an ended run's result (final; repeating the same outcome is harmless)",
          security: bearer,
          parameters: [runIdParameter],
          requestBody: { required: true, content: json(outcomeRequest, 'input') },
          responses: {
            '200': { description: 'The run with its outcome', content: json(runResponse) },
            ...errors(400, 401, 403, 404, 409, 413),
          },
        },
      },
      '/v1/keys': {
        get: {
          summary:
            'List API keys, newest first (scope admin: its own tenant; operator: every tenant, or tenant_id)',
          security: bearer,
          parameters: queryParameters(listKeysQuery),
          responses: {
            '200': { description: 'Keys (never their secrets)', content: json(keyListResponse) },
            ...errors(400, 401, 403),
          },
        },
        post: {
          summary:
            'Create an API key (scope admin: in its own tenant, without operator; operator: any tenant); the secret is in this answer only',
          security: bearer,
          requestBody: { required: true, content: json(createKeyRequest, 'input') },
          responses: {
            '201': { description: 'The key, with its secret', content: json(createdKeyResponse) },
            ...errors(400, 401, 403, 413),
          },
        },
      },
      '/v1/keys/{id}/revoke': {
        post: {
          summary: 'Revoke an API key (scope admin: its own tenant; operator: any); repeating it is harmless',
          security: bearer,
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': { description: 'The revoked key', content: json(keyResponse) },
            ...errors(401, 403, 404),
          },
        },
      },
      '/v1/approvals': {
        get: {
          summary: "List the tenant's approvals, newest first (scope approvals or admin)",
          security: bearer,
          parameters: queryParameters(listApprovalsQuery),
          responses: {
            '200': { description: 'Approvals', content: json(approvalListResponse) },
            ...errors(400, 401, 403),
          },
        },
      },
      '/v1/approvals/{id}': {
        get: {
          summary: 'Read an approval (scope approvals or admin)',
          security: bearer,
          parameters: [approvalIdParameter],
          responses: {
            '200': { description: 'The approval', content: json(approvalResponse) },
            ...errors(401, 403, 404),
          },
        },
        post: {
          summary: 'Approve or reject a pending approval (scope approvals or admin)',
          description:
            'Recorded with the deciding key (`key:<id>`). Deciding the last pending approval of a run queues the run. ' +
            'Repeating the same decision with the same key answers 200 unchanged; any other decision on an approval ' +
            'that is no longer pending (decided, expired, cancelled) answers 409 approval_not_pending.',
          security: bearer,
          parameters: [approvalIdParameter],
          requestBody: { required: true, content: json(decideApprovalRequest, 'input') },
          responses: {
            '200': { description: 'The decided approval', content: json(approvalResponse) },
            ...errors(400, 401, 403, 404, 409, 413),
          },
        },
      },
      ...sessionOpenApiPaths({ json, errors, queryParameters, bearer }),
      '/healthz': {
        get: {
          summary: 'The process is up and not wedged',
          responses: {
            '200': { description: 'Up', content: json(healthResponse) },
            '503': { description: 'No database round trip for too long', content: json(healthResponse) },
          },
        },
      },
      '/readyz': {
        get: {
          summary: 'The database answers and its migrations are current',
          responses: {
            '200': { description: 'Ready', content: json(readinessResponse) },
            '503': { description: 'Not ready (with Retry-After)', content: json(readinessResponse) },
          },
        },
      },
    }),
  };
}
