import { ForbiddenError } from '../errors/auth-errors.js';
/**
 * `/v1/runs`: submit, list, read and cancel runs, read their steps, stream their events and
 * record their outcomes and feedback. Every run is its key's tenant's: another tenant's run answers 404, as a
 * run that does not exist.
 */
import type { ServerResponse } from 'node:http';
import { agentHeldError } from '../controls/control-errors.js';
import { pricedModelOfAgent } from '../budgets/agent-model.js';
import { UnknownAgentError } from '../errors/config-errors.js';
import { KeelError } from '../errors/keel-error.js';
import { IdempotencyKeyReusedError, RunNotFoundError } from '../errors/storage-errors.js';
import type { ApiKeyRecord } from '../gateway/api-keys.js';
import { TERMINAL_STATUSES, type RunRecord, type RunStatus } from '../journal/types.js';
import { resolvePromptVersion } from '../runtime/resolve-prompt-version.js';
import { submitSessionRun } from '../runtime/session-policy.js';
import { redactValue, runRedactor } from '../runtime/redaction.js';
import { canonicalJson } from '../util/canonical-hash.js';
import {
  canReadPayloads,
  canReadRuns,
  PAYLOAD_SCOPES,
  presentedKey,
  READ_SCOPES,
  WRITE_SCOPES,
} from './authenticate.js';
import { decodeId, headerValue, invalidRequest, sendJson } from './http-io.js';
import { waitSecondsOf } from './request-edges.js';
import { defineRoute, errorResponses, type RouteDependencies } from './route-table.js';
import { streamRunEvents } from './run-events.js';
import { feedbackView, outcomeView, runView, stepView } from './run-views.js';
import {
  acceptedRunResponse,
  approvalDecisionEventData,
  approvalRequestEventData,
  createRunRequest,
  feedbackListResponse,
  feedbackRequest,
  feedbackResponse,
  isStorableText,
  listRunsQuery,
  outcomeRequest,
  runEndEventData,
  runListResponse,
  runResponse,
  stepEventData,
  stepListResponse,
  textDeltaEventData,
} from './schemas.js';
import { z } from 'zod';

const EVENT_ID = /^\d{1,15}$/;
/** The `trigger` of a run submitted over HTTP that names none. */
const DEFAULT_HTTP_TRIGGER = 'user_explicit';
/** How long a `?wait` goes without re-reading its run, in case a run-end notification was missed. */
const WAIT_RECHECK_MS = 1_000;

/** Statuses a cancel ends at once (the run holds no worker); a running run ends in its worker. */
const ENDS_ON_CANCEL: ReadonlySet<RunStatus> = new Set(['queued', 'waiting', 'awaiting_approval']);

/** The run a path names; an id that cannot exist is answered like one that does not. */
export function runIdOf(segment: string | undefined): string {
  const runId = decodeId(segment);
  if (runId === undefined) throw new RunNotFoundError(segment ?? '');
  return runId;
}

export const runRoutes = [
  defineRoute({
    method: 'POST',
    path: '/v1/runs',
    scopes: WRITE_SCOPES,
    summary: 'Submit a run',
    body: createRunRequest,
    parameters: [
      { name: 'Idempotency-Key', in: 'header', schema: { type: 'string', maxLength: 200 } },
      { name: 'wait', in: 'query', schema: { type: 'integer', minimum: 0, maximum: 60 } },
    ],
    responses: {
      200: { description: 'Ended within `wait` seconds', schema: runResponse },
      202: { description: 'Accepted', schema: acceptedRunResponse },
      ...errorResponses(400, 401, 403, 404, 409, 413, 422),
    },
    async handle({ request, response, url, key, body, dependencies }) {
      const { store } = dependencies;
      const submission = await body();
      const agent = await admitRunOf(dependencies, key, submission.agent, {
        userId: submission.user_id,
        sessionId: submission.session_id,
      });
      // The input is stored as the run's redaction rules leave it (redaction.ts).
      const redact = runRedactor(agent, key.tenantId, dependencies.redactByTenant);
      const storedInput = (input: unknown) => (redact ? redactValue(input, redact) : input);
      const idempotencyKey = headerValue(request, 'idempotency-key');
      if (idempotencyKey !== undefined && (idempotencyKey.length > 200 || !isStorableText(idempotencyKey)))
        throw invalidRequest('Idempotency-Key must be 1-200 characters.');
      // The pinned registry version, if any, is fixed now: a later pin never changes this run.
      const promptVersion = await resolvePromptVersion({
        prompts: dependencies.prompts,
        agent,
        tenantId: key.tenantId,
      });
      const { run, created, cancelled } = await submitSessionRun({
        store,
        policy: submission.session_policy,
        run: {
          tenantId: key.tenantId,
          agent: submission.agent,
          input: storedInput(submission.input),
          sessionId: submission.session_id ?? null,
          metadata: submission.metadata ?? {},
          userId: submission.user_id ?? null,
          trigger: submission.trigger ?? DEFAULT_HTTP_TRIGGER,
          createdBy: key.id,
          promptVersion,
          idempotencyKey: idempotencyKey || null,
        },
      });
      for (const ended of cancelled) dependencies.telemetry?.runEnded(ended);
      // A key names one request: the same key with another request is a client bug, not a retry.
      if (!created && !sameSubmission(run, { ...submission, input: storedInput(submission.input) }))
        throw new IdempotencyKeyReusedError(run.id);
      const waitSeconds = waitSecondsOf(url);
      if (waitSeconds > 0) return waitForEnd(dependencies, response, run, key, waitSeconds * 1000);
      return sendJson(response, 202, { id: run.id, status: run.status });
    },
  }),
  /**
   * The console's run list. Every filter is an equality the SQL gets only when given, so the
   * planner picks the index that matches (measured over 100,000 runs, run-search.test.ts):
   * - no filter, time: an index scan of `runs_tenant_created` in `created_at DESC` order,
   *   stopping after `limit + 1` rows;
   * - `status`, `trigger`: the same scan, filtering as it goes: it stops once `limit + 1` rows
   *   match, so a common value is as fast as no filter, but a rare one (`failed` in a healthy
   *   tenant) reads far into the index. No index of their own on purpose: `status` changes
   *   several times per run, and an index on it would cost every run's updates (no HOT update);
   *   narrow such a search with `agent` or a time bound;
   * - `agent`, `user_id`, `session_id`, `stop_reason`, `prompt_version`: a scan of that column's
   *   `(tenant_id, column, created_at DESC, id DESC)` index, as short as the page;
   * - `dead=true`: `stop_reason = 'error'`, the same scan as `stop_reason=error`;
   * - `q`: a BitmapOr of three exact lookups (the primary key for a run id,
   *   `runs_tenant_user_created` for a user id, `runs_tenant_trace_id` for a 32-hex trace id),
   *   then a sort of the few rows found. 1-8 ms on Postgres, 2-45 ms on PGlite.
   */
  defineRoute({
    method: 'GET',
    path: '/v1/runs',
    scopes: READ_SCOPES,
    summary: "List the tenant's runs, newest first",
    query: listRunsQuery,
    responses: {
      200: { description: 'A page', schema: runListResponse },
      ...errorResponses(400, 401, 403),
    },
    async handle({ response, key, query, dependencies }) {
      const filter = query();
      const page = await dependencies.store.listRuns({
        tenantId: key.tenantId,
        agent: filter.agent,
        status: filter.status,
        sessionId: filter.session_id,
        userId: filter.user_id,
        trigger: filter.trigger,
        stopReason: filter.stop_reason,
        promptVersion: filter.prompt_version,
        dead: filter.dead === 'true',
        search: filter.q,
        createdAfter: filter.created_after === undefined ? undefined : new Date(filter.created_after),
        createdBefore: filter.created_before === undefined ? undefined : new Date(filter.created_before),
        limit: filter.limit,
        cursor: filter.cursor,
      });
      return sendJson(response, 200, { data: page.runs.map(runView), next_cursor: page.nextCursor ?? null });
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/runs/:id',
    scopes: READ_SCOPES,
    summary: 'Read a run, with its outcome (null while speculative)',
    responses: {
      200: { description: 'The run', schema: runResponse },
      ...errorResponses(401, 403, 404),
    },
    async handle({ response, key, params, dependencies: { store, outcomes } }) {
      const runId = runIdOf(params.id);
      const run = await store.getRun(runId, { tenantId: key.tenantId });
      if (!run) throw new RunNotFoundError(runId);
      const outcome = await outcomes.get(runId, { tenantId: key.tenantId });
      return sendJson(response, 200, { ...runView(run), outcome: outcomeView(outcome) });
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/runs/:id/steps',
    scopes: READ_SCOPES,
    summary: "A run's journal",
    parameters: [{ name: 'outputs', in: 'query', schema: { type: 'string', enum: ['true', 'false'] } }],
    responses: {
      200: { description: 'Steps', schema: stepListResponse },
      ...errorResponses(401, 403, 404),
    },
    async handle({ response, url, key, params, dependencies: { store } }) {
      const runId = runIdOf(params.id);
      if (!(await store.getRun(runId, { tenantId: key.tenantId }))) throw new RunNotFoundError(runId);
      const withOutputs = url.searchParams.get('outputs') === 'true';
      // Outputs are payloads (model responses, tool results): `runs:read` alone sees the journal.
      if (withOutputs && !canReadPayloads(key)) throw new ForbiddenError(PAYLOAD_SCOPES);
      const steps = await store.loadSteps(runId, { withOutputs });
      return sendJson(response, 200, { data: steps.map(stepView) });
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/runs/:id/events',
    scopes: READ_SCOPES,
    summary:
      "A run's events as server-sent events: step-start, text-delta, step-end, approval-request, approval-decision, run-end",
    description:
      'Event ids are integers from the journal (each step seq owns ids seq * 2^20 to seq * 2^20 + 2^20 - 1); ' +
      'reconnect with Last-Event-ID to resume with no loss and no repeat. ' +
      'The data of step events is StepEvent, of text-delta TextDeltaEvent (the text a model step streams; ' +
      "a step's deltas add up to its text), of approval-request ApprovalRequestEvent, of approval-decision " +
      'ApprovalDecisionEvent (an `approval` step is sent as these two instead of step-start and step-end), ' +
      'of run-end RunEndEvent. A key holds a limited number of open streams per server (429 too_many_streams ' +
      'beyond); a stream whose key is revoked or expires ends with an `error` event.',
    parameters: [{ name: 'Last-Event-ID', in: 'header', schema: { type: 'string', pattern: '^[0-9]+$' } }],
    responses: {
      200: {
        description: 'An event stream that ends after run-end',
        content: {
          'text/event-stream': {
            schema: {
              oneOf: [
                stepEventData,
                textDeltaEventData,
                approvalRequestEventData,
                approvalDecisionEventData,
                runEndEventData,
              ].map((schema) => z.toJSONSchema(schema, { unrepresentable: 'any' })),
            },
          },
        },
      },
      ...errorResponses(400, 401, 403, 404),
    },
    async handle({ request, response, url, key, params, dependencies }) {
      const { store, apiKeys, streamSlots } = dependencies;
      const runId = runIdOf(params.id);
      const lastEventId = headerValue(request, 'last-event-id') ?? url.searchParams.get('last_event_id');
      if (lastEventId && !EVENT_ID.test(lastEventId))
        throw invalidRequest('Last-Event-ID must be an event id this stream sent.');
      const release = streamSlots.acquire(key.id);
      const presented = presentedKey(request) ?? '';
      try {
        return await streamRunEvents({
          store,
          runId,
          tenantId: key.tenantId,
          response,
          lastEventId: lastEventId ? Number(lastEventId) : -1,
          // Revoked here, the cache forgets the key at once; elsewhere, within the cache's TTL.
          keyValid: async () => (await apiKeys.verify(presented))?.id === key.id,
          ...(dependencies.eventPollIntervalMs === undefined
            ? {}
            : { pollIntervalMs: dependencies.eventPollIntervalMs }),
          ...(dependencies.eventHeartbeatMs === undefined
            ? {}
            : { heartbeatMs: dependencies.eventHeartbeatMs }),
          ...(dependencies.streamKeyCheckMs === undefined
            ? {}
            : { keyCheckMs: dependencies.streamKeyCheckMs }),
        });
      } finally {
        release();
      }
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/runs/:id/cancel',
    scopes: WRITE_SCOPES,
    summary: 'Ask a run to stop',
    description: 'A key without runs:read gets the run’s id and status only (AcceptedRun).',
    responses: {
      202: { description: 'The run', schema: runResponse },
      ...errorResponses(401, 403, 404),
    },
    async handle({ response, key, params, dependencies: { store, telemetry } }) {
      const runId = runIdOf(params.id);
      // Read first only to know whether the cancel ends the run here: a run no worker holds
      // (queued, waiting, awaiting approval) is ended by this request, so it reports the end.
      const before =
        telemetry === undefined ? undefined : await store.getRun(runId, { tenantId: key.tenantId });
      const run = await store.requestCancel(runId, { tenantId: key.tenantId });
      if (!run) throw new RunNotFoundError(runId);
      if (run.status === 'cancelled' && before !== undefined && ENDS_ON_CANCEL.has(before.status))
        telemetry?.runEnded(run);
      return sendJson(response, 202, runViewFor(key, run));
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/runs/:id/retry',
    scopes: WRITE_SCOPES,
    summary: 'Retry a dead run as a new run',
    description:
      'A run that ended with stop reason `error` (`too_many_attempts` included) is retried as a new queued run ' +
      'with its agent, input, session, metadata and user, `trigger` `retry` and `retry_of` its id; the dead run ' +
      'gets `retried_by`. The new run has its own id, so its tool calls get new idempotency keys. A dead run is ' +
      'retried once: a second retry answers 409 `run_already_retried` (retry the retry if it died too); a run ' +
      'that is not dead answers 409 `run_not_dead`. Audited as `run.retry`. A key without runs:read gets the ' +
      'new run’s id and status only.',
    responses: {
      201: { description: 'The new run', schema: runResponse },
      ...errorResponses(401, 403, 404, 409),
    },
    async handle({ response, key, params, dependencies }) {
      const runId = runIdOf(params.id);
      const dead = await dependencies.store.getRun(runId, { tenantId: key.tenantId });
      if (!dead) throw new RunNotFoundError(runId);
      // The retry is a new run of the agent: refused as a submission would be.
      const agent = await admitRunOf(dependencies, key, dead.agent, {
        userId: dead.userId,
        sessionId: dead.sessionId,
      });
      const promptVersion = await resolvePromptVersion({
        prompts: dependencies.prompts,
        agent,
        tenantId: key.tenantId,
      });
      const retry = await dependencies.store.retryRun({
        runId,
        tenantId: key.tenantId,
        actor: `key:${key.id}`,
        createdBy: key.id,
        promptVersion,
      });
      return sendJson(response, 201, runViewFor(key, retry));
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/runs/:id/outcome',
    scopes: WRITE_SCOPES,
    summary: "Commit or reject an ended run's result (final; repeating the same outcome is harmless)",
    description: 'A key without runs:read gets the run’s id, status and outcome only.',
    body: outcomeRequest,
    responses: {
      200: { description: 'The run with its outcome', schema: runResponse },
      ...errorResponses(400, 401, 403, 404, 409, 413),
    },
    async handle({ response, key, params, body, dependencies: { store, outcomes } }) {
      const runId = runIdOf(params.id);
      const decision = await body();
      const run = await store.getRun(runId, { tenantId: key.tenantId });
      if (!run) throw new RunNotFoundError(runId);
      if (!TERMINAL_STATUSES.includes(run.status)) {
        throw new KeelError({
          code: 'run_not_ended',
          message: `Run ${runId} is ${run.status}: only an ended run can get an outcome.`,
          fault: 'caller',
          details: { runId, status: run.status },
        });
      }
      const outcome = await outcomes.record({
        runId,
        tenantId: key.tenantId,
        status: decision.status,
        value: decision.value ?? null,
        decidedByKey: key.id,
      });
      return sendJson(response, 200, { ...runViewFor(key, run), outcome: outcomeView(outcome) });
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/runs/:id/feedback',
    scopes: WRITE_SCOPES,
    summary: 'Attach feedback to a run (thumbs, a 0-1 score, a comment); a run may have any number',
    body: feedbackRequest,
    responses: {
      201: { description: 'The feedback recorded', schema: feedbackResponse },
      ...errorResponses(400, 401, 403, 404, 413),
    },
    async handle({ response, key, params, body, dependencies: { store, feedback } }) {
      const runId = runIdOf(params.id);
      const given = await body();
      if (!(await store.getRun(runId, { tenantId: key.tenantId }))) throw new RunNotFoundError(runId);
      const recorded = await feedback.add({
        runId,
        tenantId: key.tenantId,
        thumbs: given.thumbs ?? null,
        score: given.score ?? null,
        comment: given.comment ?? null,
        userId: given.user_id ?? null,
        createdBy: `key:${key.id}`,
      });
      return sendJson(response, 201, feedbackView(recorded));
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/runs/:id/feedback',
    scopes: READ_SCOPES,
    summary: "A run's feedback, newest first (at most 100)",
    responses: {
      200: { description: 'Feedback', schema: feedbackListResponse },
      ...errorResponses(401, 403, 404),
    },
    async handle({ response, key, params, dependencies: { store, feedback } }) {
      const runId = runIdOf(params.id);
      if (!(await store.getRun(runId, { tenantId: key.tenantId }))) throw new RunNotFoundError(runId);
      const rows = await feedback.list(runId, { tenantId: key.tenantId, limit: 100 });
      return sendJson(response, 200, { data: rows.map(feedbackView) });
    },
  }),
];

/**
 * `POST /v1/runs?wait=N`: answers 200 with the run as soon as it ended (woken by the store's
 * run-end notification, whichever replica ran it), or 202 with its progress after `waitMs`.
 * A caller that hangs up stops the wait.
 */
async function waitForEnd(
  { store, runEnds }: RouteDependencies,
  response: ServerResponse,
  submitted: RunRecord,
  key: ApiKeyRecord,
  waitMs: number,
): Promise<void> {
  const { tenantId } = key;
  const deadline = performance.now() + waitMs;
  const hungUp = new AbortController();
  const onClose = () => hungUp.abort();
  response.once('close', onClose);
  // Registered before the first read: an end between that read and the wait still wakes it.
  const watch = runEnds.watch(submitted.id);
  try {
    for (;;) {
      const current = await store.getRun(submitted.id, { tenantId });
      if (current && TERMINAL_STATUSES.includes(current.status))
        return sendJson(response, 200, runViewFor(key, current));
      const remaining = deadline - performance.now();
      if (remaining <= 0 || hungUp.signal.aborted)
        return sendJson(response, 202, runViewFor(key, current ?? submitted));
      await watch.wait(Math.min(remaining, WAIT_RECHECK_MS), hungUp.signal);
    }
  } finally {
    watch.dispose();
    response.off('close', onClose);
  }
}

/**
 * Whether a run is the one this request body asks for (agent, input, session, metadata, user,
 * trigger).
 */
function sameSubmission(
  run: RunRecord,
  body: {
    agent: string;
    input: unknown;
    session_id?: string | null;
    metadata?: Record<string, unknown>;
    user_id?: string;
    trigger?: string;
  },
): boolean {
  return (
    run.agent === body.agent &&
    (run.sessionId ?? null) === (body.session_id ?? null) &&
    (run.userId ?? null) === (body.user_id ?? null) &&
    (run.trigger ?? DEFAULT_HTTP_TRIGGER) === (body.trigger ?? DEFAULT_HTTP_TRIGGER) &&
    canonicalJson(run.input ?? null) === canonicalJson(body.input ?? null) &&
    canonicalJson(run.metadata ?? {}) === canonicalJson(body.metadata ?? {})
  );
}

/**
 * A run as a writing route answers it: the whole view for a key that may read runs, the id and
 * status only for one that may not (a write-only key must not read a run through cancel, an
 * outcome or an idempotent replay of a submission whose key it knows).
 */
/**
 * The agent a new run (a submission or a retry) is for, once it may start: a 404 for an unknown
 * agent, a 409 for a paused or disabled one, and an unpriced model under a dollar budget refused
 * now rather than at its first call.
 */
async function admitRunOf(
  { agents, controls, budgets }: RouteDependencies,
  key: ApiKeyRecord,
  name: string,
  { userId, sessionId }: { userId?: string | null | undefined; sessionId?: string | null | undefined },
) {
  const agent = agents.get(name);
  if (!agent) throw new UnknownAgentError(name, [...agents.keys()]);
  // A paused or disabled agent takes no new runs (409); a run in flight stops at its next step.
  const hold = controls?.agentHold({ agent: agent.name, tenantId: key.tenantId });
  if (hold !== undefined) throw agentHeldError(agent.name, hold);
  const priced = pricedModelOfAgent(agent);
  if (priced !== undefined)
    await budgets?.checkPricedUnderBudgets(
      {
        tenantId: key.tenantId,
        agent: agent.name,
        apiKeyId: key.id,
        ...(userId == null ? {} : { userId }),
        ...(sessionId == null ? {} : { sessionId }),
      },
      priced,
    );
  return agent;
}

function runViewFor(key: ApiKeyRecord, run: RunRecord) {
  return canReadRuns(key) ? runView(run) : { id: run.id, status: run.status };
}
