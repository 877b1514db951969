/**
 * The run API's contract: every request and response body as a zod schema. The server parses
 * requests with these, tests check responses against them, and `/openapi.json` is generated
 * from them (see openapi.ts), so the three cannot drift apart.
 */
import { z } from 'zod';
import { API_KEY_SCOPES } from '../gateway/api-keys.js';
import { APPROVAL_OUTCOMES, APPROVAL_STATUSES, RUN_STATUSES } from '../journal/types.js';
import { SESSION_POLICIES } from '../runtime/session-policy.js';

/** JSON nested deeper than this is refused (JSON.stringify and Postgres' jsonb both recurse). */
export const MAX_JSON_DEPTH = 64;

// Postgres stores neither a NUL nor an unpaired surrogate, in text or in jsonb.
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * True when Postgres can store the string as text as it is (no NUL, no unpaired surrogate).
 * Required of names, ids, keys and cursors, which are matched in SQL; free text (an input, a
 * model's answer) may carry anything, as the journal escapes it (journal/storable-json.ts).
 */
export function isStorableText(value: string): boolean {
  return !value.includes('\u0000') && !UNPAIRED_SURROGATE.test(value);
}

/**
 * Why `value` cannot be stored as jsonb, or undefined when it can: nested too deep. Any string
 * or key can (the journal escapes NUL and unpaired surrogates). Iterative, so a hostile depth
 * cannot overflow the stack.
 */
export function unstorableJsonReason(value: unknown): string | undefined {
  const pending: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (pending.length > 0) {
    const { value: current, depth } = pending.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth >= MAX_JSON_DEPTH) return `is nested deeper than ${MAX_JSON_DEPTH} levels`;
    for (const item of Array.isArray(current) ? current : Object.values(current))
      pending.push({ value: item, depth: depth + 1 });
  }
  return undefined;
}

/** Any JSON value that the journal can store as jsonb (any text, at most 64 levels deep). */
export const storableJson = z.unknown().superRefine((value, context) => {
  const reason = unstorableJsonReason(value);
  if (reason !== undefined) context.addIssue({ code: 'custom', message: `Value ${reason}.` });
});

const text = (max: number) =>
  z.string().min(1).max(max).refine(isStorableText, 'Contains a NUL character or an unpaired surrogate.');

export const runStatusSchema = z.enum(RUN_STATUSES);

/** `POST /v1/runs`. */
export const createRunRequest = z
  .object({
    agent: text(64).describe('Name of an agent the server knows.'),
    input: storableJson
      .refine((value) => value !== undefined, 'input is required')
      .describe("The agent's input (any JSON)."),
    session_id: text(200).optional(),
    session_policy: z
      .enum(SESSION_POLICIES)
      .optional()
      .describe(
        'For a session with a run still active: queue behind it (default), reject with 409 session_busy, or interrupt (cancel) it.',
      ),
    metadata: z.record(z.string(), storableJson).optional(),
    user_id: text(200).optional().describe('The end user the run acts for (1-200 characters).'),
    trigger: text(64)
      .optional()
      .describe(
        'What started the run (1-64 characters): `user_explicit` (the default), `cli`, `eval`, `schedule`, `api`...',
      ),
  })
  .meta({ id: 'CreateRunRequest' });

/** `GET /v1/runs` query parameters. */
export const listRunsQuery = z.object({
  agent: text(64).optional(),
  status: runStatusSchema.optional(),
  session_id: text(200).optional(),
  user_id: text(200).optional(),
  trigger: text(64).optional(),
  stop_reason: text(64).optional(),
  prompt_version: text(200).optional(),
  dead: z
    .enum(['true', 'false'])
    .optional()
    .describe(
      '`true`: only dead runs, those that ended with stop reason `error` (`error.code` says why, e.g. `too_many_attempts`), retried or not.',
    ),
  q: text(200)
    .optional()
    .describe(
      'A run id, a trace id (32 hex digits, as exported to OpenTelemetry) or a user id, matched exactly.',
    ),
  created_after: z.iso.datetime({ offset: true }).optional(),
  created_before: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  cursor: z
    .string()
    .optional()
    .describe('A `next_cursor` of an earlier page; anything else answers 400 `invalid_cursor`.'),
});

/** `POST /v1/runs/{id}/outcome`. */
export const outcomeRequest = z
  .object({
    status: z.enum(['committed', 'rejected']),
    value: storableJson.optional(),
  })
  .meta({ id: 'OutcomeRequest' });

/** `POST /v1/runs/{id}/feedback`: at least one of `thumbs`, `score` and `comment`. */
export const feedbackRequest = z
  .object({
    thumbs: z.enum(['up', 'down']).optional(),
    score: z.number().min(0).max(1).optional().describe('A score from 0 to 1.'),
    comment: z.string().min(1).max(4000).optional().describe('Any text, 1-4000 characters.'),
    user_id: text(200).optional().describe('The end user the feedback is from (1-200 characters).'),
  })
  .refine((body) => body.thumbs !== undefined || body.score !== undefined || body.comment !== undefined, {
    message: 'Give at least one of thumbs, score and comment.',
    path: ['thumbs'],
  })
  .meta({ id: 'FeedbackRequest' });

export const feedbackResponse = z
  .object({
    id: z.string(),
    run_id: z.string(),
    thumbs: z.enum(['up', 'down']).nullable(),
    score: z.number().nullable(),
    comment: z.string().nullable(),
    user_id: z.string().nullable(),
    created_by: z.string().describe('Who recorded it: `key:<id>` of the API key.'),
    created_at: z.string(),
  })
  .meta({ id: 'Feedback' });

export const feedbackListResponse = z
  .object({ data: z.array(feedbackResponse) })
  .meta({ id: 'FeedbackList' });

export const errorResponse = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .meta({ id: 'Error' });

export const acceptedRunResponse = z
  .object({ id: z.string(), status: runStatusSchema })
  .meta({ id: 'AcceptedRun' });

const usageSchema = z.object({ input_tokens: z.number(), output_tokens: z.number() });
const serializedErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  fault: z.string(),
  retryable: z.boolean(),
  details: z.record(z.string(), z.unknown()).optional(),
});

export const outcomeResponse = z
  .object({
    status: z.enum(['committed', 'rejected']),
    value: z.unknown(),
    decided_at: z.string(),
  })
  .meta({ id: 'Outcome' });

export const runResponse = z
  .object({
    id: z.string(),
    agent: z.string(),
    status: runStatusSchema,
    stop_reason: z.string().nullable(),
    input: z.unknown(),
    output: z.unknown(),
    error: serializedErrorSchema.nullable(),
    session_id: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    user_id: z.string().nullable().describe('The end user the run acts for, as its submitter named them.'),
    trigger: z
      .string()
      .nullable()
      .describe(
        'What started the run (`user_explicit`, `cli`, `api`...); null for runs created before Keel recorded it.',
      ),
    created_by: z
      .string()
      .nullable()
      .describe('Id of the API key that submitted the run over HTTP; null from the CLI or runAgent.'),
    prompt_version: z
      .string()
      .nullable()
      .describe(
        "The agent's prompt version when the run was created: `code:` and 12 hex digits of the SHA-256 of its instructions and tool specs.",
      ),
    retry_of: z
      .string()
      .nullable()
      .describe(
        'The dead run this run retries (`POST /v1/runs/{id}/retry`); null for a run submitted afresh.',
      ),
    retried_by: z
      .string()
      .nullable()
      .describe(
        'The run that retried this dead run; null while it has not been retried (a dead run is retried once).',
      ),
    attempts: z
      .number()
      .describe('How many times a worker claimed the run (a wait for a provider does not count).'),
    waiting: z
      .object({
        reason: z
          .string()
          .describe(
            'Code of the provider error waited out, e.g. `gateway_unavailable`, `provider_http_429`.',
          ),
        message: z.string().describe("That error's message."),
        until: z.string().describe('Not before: no worker resumes the run earlier (ISO time).'),
        seq: z.number().describe('The model step that waits.'),
        attempts: z.number().describe('Model calls that step has made so far.'),
      })
      .nullable()
      .describe(
        'Set while `status` is `waiting`: a model call failed with a retryable error and the run waits, holding no worker, to retry it. The wait counts against the deadline.',
      ),
    usage: usageSchema,
    cost_usd: z.number(),
    step_count: z.number(),
    created_at: z.string(),
    started_at: z.string().nullable(),
    ended_at: z.string().nullable(),
    outcome: outcomeResponse
      .nullable()
      .optional()
      .describe('Present on GET /v1/runs/{id}: null while the run is speculative.'),
  })
  .meta({ id: 'Run' });

export const runListResponse = z
  .object({ data: z.array(runResponse), next_cursor: z.string().nullable() })
  .meta({ id: 'RunList' });

export const stepResponse = z
  .object({
    seq: z.number(),
    parent_seq: z.number().nullable(),
    kind: z.string(),
    name: z.string(),
    status: z.enum(['started', 'completed', 'failed']),
    attempt: z.number(),
    input_hash: z.string(),
    started_at: z.string(),
    ended_at: z.string().nullable(),
    usage: usageSchema.nullable(),
    /** Model steps: `reported` by the provider, or `estimated` by Keel's tokenizer. */
    usage_source: z.enum(['reported', 'estimated']).nullable(),
    /** Set when the provider reported impossible counts, replaced by the estimate. */
    usage_invalid: z.enum(['negative', 'not_finite', 'too_large']).nullable(),
    cost_usd: z.number().nullable(),
    error: serializedErrorSchema.nullable(),
    meta: z.record(z.string(), z.unknown()).nullable(),
    output: z.unknown().optional(),
  })
  .meta({ id: 'Step' });

export const stepListResponse = z.object({ data: z.array(stepResponse) }).meta({ id: 'StepList' });

/** The `data` of a `step-start` or `step-end` server-sent event: a summary, never a payload. */
export const stepEventData = z
  .object({
    run_id: z.string(),
    seq: z.number(),
    kind: z.string(),
    name: z.string(),
    status: z.enum(['started', 'completed', 'failed']),
    /** Null on the start of a model step sent while it streams (before it is journaled). */
    attempt: z.number().nullable(),
    started_at: z.string(),
    ended_at: z.string().nullable(),
    usage: usageSchema.nullable(),
    cost_usd: z.number().nullable(),
    error_code: z.string().nullable(),
  })
  .meta({ id: 'StepEvent' });

/** The `data` of a `text-delta` server-sent event: text a model step streamed. */
export const textDeltaEventData = z
  .object({
    run_id: z.string(),
    seq: z.number(),
    /**
     * Which execution of the step streamed it (opaque, increasing): a model call retried after a
     * failure, or a run resumed after a crash, streams the step again under a new value; 0 is the
     * step's journaled text sent whole. Show the latest execution's.
     */
    execution: z.number(),
    text: z.string(),
  })
  .meta({ id: 'TextDeltaEvent' });

/** The `data` of the `run-end` server-sent event. */
export const runEndEventData = z
  .object({
    run_id: z.string(),
    status: runStatusSchema,
    stop_reason: z.string().nullable(),
    usage: usageSchema,
    cost_usd: z.number(),
    step_count: z.number(),
    error_code: z.string().nullable(),
  })
  .meta({ id: 'RunEndEvent' });

/** `/healthz` (see `health.ts`): the extra fields come with 503 `database_silent`. */
export const healthResponse = z
  .object({
    ok: z.boolean(),
    reason: z.literal('database_silent').optional(),
    message: z.string().optional(),
    database_silent_ms: z.number().nullable().optional(),
    max_silence_ms: z.number().optional(),
  })
  .meta({ id: 'Health' });
export const readinessResponse = z
  .object({
    ok: z.boolean(),
    database: z.enum(['reachable', 'unreachable']),
    migrations: z
      .object({ up_to_date: z.boolean(), pending: z.array(z.number()), unknown: z.array(z.number()) })
      .nullable(),
    /** Each agent's model as checked when the config loaded (provider, key, route, price). */
    models: z
      .object({
        ok: z.boolean(),
        agents: z.array(
          z.object({ agent: z.string(), model: z.string(), ok: z.boolean(), problems: z.array(z.string()) }),
        ),
      })
      .optional(),
  })
  .meta({ id: 'Readiness' });

export const approvalStatusSchema = z.enum(APPROVAL_STATUSES);

/** `GET /v1/approvals` query parameters. */
export const listApprovalsQuery = z.object({
  status: approvalStatusSchema.optional(),
  run_id: text(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  cursor: z
    .string()
    .optional()
    .describe('A `next_cursor` of an earlier page; anything else answers 400 `invalid_cursor`.'),
});

/** `POST /v1/keys`: create an API key. */
export const createKeyRequest = z
  .object({
    tenant_id: text(200)
      .optional()
      .describe("The key's tenant. Default: the caller's; another tenant needs the `operator` scope."),
    scopes: z.array(z.enum(API_KEY_SCOPES)).min(1).max(API_KEY_SCOPES.length),
    name: text(200).optional(),
    rpm: z.number().int().positive().max(2_147_483_647).optional(),
    tpm: z.number().int().positive().max(2_147_483_647).optional(),
    expires_at: z.iso.datetime({ offset: true }).optional(),
  })
  .meta({ id: 'CreateKeyRequest' });

/** `GET /v1/keys` query parameters. */
export const listKeysQuery = z.object({ tenant_id: text(200).optional() });

/** An API key as the API shows it: never its secret nor its hash. */
export const keyResponse = z
  .object({
    id: z.string(),
    tenant_id: z.string(),
    name: z.string(),
    prefix: z.string(),
    scopes: z.array(z.enum(API_KEY_SCOPES)),
    rpm: z.number().nullable(),
    tpm: z.number().nullable(),
    status: z.enum(['active', 'revoked', 'expired']),
    created_at: z.string(),
    last_used_at: z.string().nullable(),
    revoked_at: z.string().nullable(),
    expires_at: z.string().nullable(),
  })
  .meta({ id: 'ApiKey' });

export const createdKeyResponse = keyResponse
  .extend({ key: z.string().describe('The secret: shown in this answer only, never again.') })
  .meta({ id: 'CreatedApiKey' });

export const keyListResponse = z.object({ data: z.array(keyResponse) }).meta({ id: 'ApiKeyList' });

/** `POST /v1/approvals/{id}`: decide a pending approval. */
export const decideApprovalRequest = z
  .object({
    decision: z.enum(['approve', 'reject']),
    reason: text(2000)
      .optional()
      .describe('Why: recorded with the decision and shown to the model on a rejection.'),
    extend_usd: z
      .number()
      .positive()
      .max(1e9)
      .optional()
      .describe(
        "Approving a budget extension: dollars added to the budget's limit_usd. " +
          'Default: all the held call needs (each approval buys room for its own call).',
      ),
    extend_tokens: z
      .number()
      .int()
      .positive()
      .max(Number.MAX_SAFE_INTEGER)
      .optional()
      .describe(
        "Approving a budget extension: tokens added to the budget's limit_tokens. " +
          'Default: all the held call needs (each approval buys room for its own call).',
      ),
  })
  .meta({ id: 'DecideApprovalRequest' });

export const approvalResponse = z
  .object({
    id: z.string(),
    run_id: z.string(),
    step_seq: z.number(),
    kind: z
      .enum(['tool', 'budget_extension'])
      .describe(
        '`tool`: a tool call waits; `budget_extension`: a model call waits for a budget to be extended.',
      ),
    tool: z.string().describe('The tool, or `budget:<budget id>` for a budget extension.'),
    arguments: z
      .unknown()
      .describe(
        "The tool call's arguments, as the model gave them; for a budget extension, the budget " +
          '(id, scope, scope_id, period, limits, spend and holds) and what the held call needs.',
      ),
    status: approvalStatusSchema,
    reason: z.string().nullable(),
    decided_by: z
      .string()
      .nullable()
      .describe('Who decided: `key:<api key id>` for decisions taken over the API.'),
    requested_at: z.string(),
    decided_at: z.string().nullable(),
    expires_at: z.string().nullable(),
  })
  .meta({ id: 'Approval' });

export const approvalListResponse = z
  .object({ data: z.array(approvalResponse), next_cursor: z.string().nullable() })
  .meta({ id: 'ApprovalList' });

/** The `data` of the `approval-request` server-sent event (the started `approval` step). */
export const approvalRequestEventData = z
  .object({
    run_id: z.string(),
    seq: z.number(),
    approval_id: z.string().nullable(),
    tool: z.string(),
    status: z.literal('pending'),
    requested_at: z.string(),
    expires_at: z.string().nullable(),
  })
  .meta({ id: 'ApprovalRequestEvent' });

/** The `data` of the `approval-decision` server-sent event (the `approval` step completed). */
export const approvalDecisionEventData = z
  .object({
    run_id: z.string(),
    seq: z.number(),
    approval_id: z.string().nullable(),
    tool: z.string(),
    decision: z.enum(APPROVAL_OUTCOMES).nullable(),
    decided_by: z.string().nullable(),
    reason: z.string().nullable(),
    decided_at: z.string().nullable(),
  })
  .meta({ id: 'ApprovalDecisionEvent' });
