import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { UnknownAgentError } from '../errors/config-errors.js';
import { KeelError } from '../errors/keel-error.js';
import { IdempotencyKeyReusedError, RunNotFoundError } from '../errors/storage-errors.js';
import type { ApiKeys } from '../gateway/api-keys.js';
import type { RateLimiter } from '../gateway/gateway-store.js';
import type { GatewayHandler } from '../gateway/http/gateway-handler.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import { TERMINAL_STATUSES, type RunRecord } from '../journal/types.js';
import type { Agent } from '../runtime/agent.js';
import { canonicalJson } from '../util/canonical-hash.js';
import { createId, type IdGenerator } from '../util/ids.js';
import { echoedRequestId } from '../util/request-notes.js';
import type { Logger } from '../util/logger.js';
import { submitSessionRun } from '../runtime/session-policy.js';
import { handleApprovalRoute } from './approval-routes.js';
import { handleKeyRoute } from './key-routes.js';
import { authenticate, READ_SCOPES, WRITE_SCOPES } from './authenticate.js';
import type { CorsOptions } from './cors.js';
import { sendError } from './http-errors.js';
import { createOpenApiDocument } from './openapi.js';
import type { RunOutcomes } from './outcomes.js';
import { sendHealth, type HealthCheck } from './health.js';
import type { ReadinessCheck } from './readiness.js';
import { createRequestEdges, logRequest, waitSecondsOf } from './request-edges.js';
import { createRunEndWaiter } from './run-end-waiter.js';
import { streamRunEvents } from './run-events.js';
import { handleSessionRoute } from './session-routes.js';
import { outcomeView, runView, stepView } from './run-views.js';
import { createRunRequest, isStorableText, listRunsQuery, outcomeRequest } from './schemas.js';
import {
  decodeId,
  headerValue,
  invalidRequest,
  methodNotAllowed,
  notFound,
  parseWith,
  readJson,
  sendJson,
  sendText,
} from './http-io.js';

export interface ServerOptions {
  store: JournalStore;
  /**
   * The store's database client. With Postgres, session policies `reject` and `interrupt` take
   * an advisory lock on it, so replicas serialise submissions to one session.
   */
  client?: SqlClient;
  agents: ReadonlyMap<string, Agent>;
  logger: Logger;
  /** Every API request needs one of these keys (the key's tenant scopes what it sees); `/v1/keys` manages them. */
  apiKeys: ApiKeys;
  /** Where `POST /v1/runs/{id}/outcome` records outcomes (see `createRunOutcomes`). */
  outcomes: RunOutcomes;
  /** Answers `/readyz` (see `createReadinessCheck`); without it `/readyz` says what `/healthz` says. */
  readiness?: ReadinessCheck;
  /** Answers `/healthz` (see `createHealthCheck`, in `health.ts`); without it `/healthz` is always 200. */
  health?: HealthCheck;
  /** Serves the LLM gateway's paths (`/v1/chat/completions`, `/v1/messages`...) when given. */
  gatewayHandler?: GatewayHandler;
  /** Larger request bodies get a 413 (default 1 MB). */
  maxBodyBytes?: number;
  /** How often the events stream reads the journal of a live run (default 150 ms). */
  eventPollIntervalMs?: number;
  /** Interval of the events stream's heartbeat comments (default 15 s). */
  eventHeartbeatMs?: number;
  /** Enforces an API key's `rpm` (scope `api:<keyId>`; 429 with `Retry-After`) when given. */
  limiter?: RateLimiter;
  /** Browser origins allowed to call the API (default: none, no CORS headers). */
  cors?: CorsOptions;
  /** Longer requests get a 503 `request_timeout` (default 30 s; event streams none, `?wait` adds). */
  requestTimeoutMs?: number;
  generateId?: IdGenerator;
}

/** Request targets are paths: they are resolved against this (its host is never used). */
const BASE_URL = 'http://localhost';
const EVENT_ID = /^\d{1,15}$/;

/**
 * The HTTP API over the journal: submit, list, read and cancel runs, record their outcomes and
 * stream their events. Stateless: every answer comes from the store, so any replica can serve
 * any request. Every `/v1/runs` request is authenticated by an API key and scoped to its
 * tenant: another tenant's run answers 404, as a run that does not exist. Errors are mapped in
 * one place (`toHttpError`); every answer carries an `x-request-id`.
 */
export function createServer({
  store,
  client,
  agents,
  logger,
  apiKeys,
  outcomes,
  readiness,
  health = () => ({ ok: true }),
  gatewayHandler,
  maxBodyBytes = 1_000_000,
  eventPollIntervalMs,
  eventHeartbeatMs,
  limiter,
  cors,
  requestTimeoutMs,
  generateId = createId,
}: ServerOptions): Server {
  const edges = createRequestEdges({ logger, limiter, cors, requestTimeoutMs });
  const runEnds = createRunEndWaiter({ store, logger });
  let openApi: string | undefined;
  return createHttpServer((request, response) => {
    if (edges.preflight(request, response)) return;
    // The gateway's endpoints keep their own limits (per-key rpm/tpm), body limit and time budget;
    // they share the request log.
    const arrivedAt = performance.now();
    if (gatewayHandler?.(request, response)) {
      logRequest({ logger, request, response, startedAt: arrivedAt });
      return;
    }
    const requestId = echoedRequestId(request) ?? generateId('req');
    response.setHeader('x-request-id', requestId);
    // A request target Node accepts may still be no URL (`GET http://[`): a 400, never a throw.
    const url = URL.canParse(request.url ?? '/', BASE_URL)
      ? new URL(request.url ?? '/', BASE_URL)
      : undefined;
    const settled = edges.begin(request, response, requestId, url ?? new URL('/', BASE_URL));
    (url === undefined
      ? Promise.reject(invalidRequest('Malformed request URL.'))
      : handle(request, response, url)
    )
      .catch((error: unknown) => {
        const status = sendError(response, error);
        if (status >= 500)
          logger.error('request failed', {
            method: request.method,
            url: request.url,
            status,
            requestId,
            error: error instanceof Error ? error.message : String(error),
          });
      })
      .finally(settled);
  });

  async function handle(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    const parts = url.pathname.split('/').filter(Boolean);
    const method = request.method ?? 'GET';
    const route = `${method} ${url.pathname}`;

    if (url.pathname === '/healthz') return onlyGet(method, () => sendHealth(response, health()));
    if (url.pathname === '/readyz') {
      return onlyGet(method, async () => {
        const report = readiness ? await readiness() : { ok: true, database: 'reachable', migrations: null };
        if (!report.ok) response.setHeader('retry-after', '5');
        sendJson(response, report.ok ? 200 : 503, report);
      });
    }
    if (url.pathname === '/openapi.json') {
      return onlyGet(method, () => {
        openApi ??= JSON.stringify(createOpenApiDocument());
        sendText(response, 200, openApi);
      });
    }
    if (parts[0] === 'v1' && parts[1] === 'keys')
      return handleKeyRoute({ request, response, url, apiKeys, maxBodyBytes });
    if (parts[0] === 'v1' && parts[1] === 'approvals')
      return handleApprovalRoute({ request, response, url, store, apiKeys, maxBodyBytes });
    if (parts[0] === 'v1' && parts[1] === 'sessions')
      return handleSessionRoute({ request, response, url, store, apiKeys });
    if (parts[0] !== 'v1' || parts[1] !== 'runs') throw notFound(`No route for ${route}.`);

    if (parts.length === 2) {
      if (method === 'POST') {
        const key = await authenticate({ request, apiKeys, scopes: WRITE_SCOPES });
        const tenantId = key.tenantId;
        const body = parseWith(createRunRequest, await readJson(request, maxBodyBytes));
        if (!agents.has(body.agent)) throw new UnknownAgentError(body.agent, [...agents.keys()]);
        const idempotencyKey = headerValue(request, 'idempotency-key');
        if (idempotencyKey !== undefined && (idempotencyKey.length > 200 || !isStorableText(idempotencyKey)))
          throw invalidRequest('Idempotency-Key must be 1-200 characters.');
        const { run, created } = await submitSessionRun({
          store,
          ...(client === undefined ? {} : { client }),
          policy: body.session_policy,
          run: {
            tenantId,
            agent: body.agent,
            input: body.input,
            sessionId: body.session_id ?? null,
            metadata: body.metadata ?? {},
            idempotencyKey: idempotencyKey || null,
          },
        });
        // A key names one request: the same key with another request is a client bug, not a retry.
        if (!created && !sameSubmission(run, body)) throw new IdempotencyKeyReusedError(run.id);
        const waitSeconds = waitSecondsOf(url);
        if (waitSeconds > 0) return waitForEnd(response, run, tenantId, waitSeconds * 1000);
        return sendJson(response, 202, { id: run.id, status: run.status });
      }
      if (method === 'GET') {
        const key = await authenticate({ request, apiKeys, scopes: READ_SCOPES });
        const query = parseWith(listRunsQuery, Object.fromEntries(url.searchParams));
        const page = await store.listRuns({
          tenantId: key.tenantId,
          agent: query.agent,
          status: query.status,
          sessionId: query.session_id,
          createdAfter: query.created_after === undefined ? undefined : new Date(query.created_after),
          createdBefore: query.created_before === undefined ? undefined : new Date(query.created_before),
          limit: query.limit,
          cursor: query.cursor,
        });
        return sendJson(response, 200, {
          data: page.runs.map(runView),
          next_cursor: page.nextCursor ?? null,
        });
      }
      throw methodNotAllowed(route);
    }

    const runId = decodeId(parts[2]);
    const action = parts.length === 3 ? '' : parts.length === 4 ? parts[3] : undefined;
    const isRead = action === '' || action === 'steps' || action === 'events';
    const isWrite = action === 'cancel' || action === 'outcome';
    if (!isRead && !isWrite) throw notFound(`No route for ${route}.`);
    if ((isRead && method !== 'GET') || (isWrite && method !== 'POST')) throw methodNotAllowed(route);
    const key = await authenticate({ request, apiKeys, scopes: isRead ? READ_SCOPES : WRITE_SCOPES });
    const tenantId = key.tenantId;
    // An id that cannot exist is answered like one that does not.
    if (runId === undefined) throw new RunNotFoundError(parts[2] ?? '');

    if (action === '') {
      const run = await store.getRun(runId, { tenantId });
      if (!run) throw new RunNotFoundError(runId);
      const outcome = await outcomes.get(runId, { tenantId });
      return sendJson(response, 200, { ...runView(run), outcome: outcomeView(outcome) });
    }
    if (action === 'steps') {
      if (!(await store.getRun(runId, { tenantId }))) throw new RunNotFoundError(runId);
      const steps = await store.loadSteps(runId, { withOutputs: url.searchParams.get('outputs') === 'true' });
      return sendJson(response, 200, { data: steps.map(stepView) });
    }
    if (action === 'events') {
      const lastEventId = headerValue(request, 'last-event-id') ?? url.searchParams.get('last_event_id');
      if (lastEventId && !EVENT_ID.test(lastEventId))
        throw invalidRequest('Last-Event-ID must be an event id this stream sent.');
      return streamRunEvents({
        store,
        runId,
        tenantId,
        response,
        lastEventId: lastEventId ? Number(lastEventId) : -1,
        ...(eventPollIntervalMs === undefined ? {} : { pollIntervalMs: eventPollIntervalMs }),
        ...(eventHeartbeatMs === undefined ? {} : { heartbeatMs: eventHeartbeatMs }),
      });
    }
    if (action === 'cancel') {
      const run = await store.requestCancel(runId, { tenantId });
      if (!run) throw new RunNotFoundError(runId);
      return sendJson(response, 202, runView(run));
    }
    const body = parseWith(outcomeRequest, await readJson(request, maxBodyBytes));
    const run = await store.getRun(runId, { tenantId });
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
      tenantId,
      status: body.status,
      value: body.value ?? null,
      decidedByKey: key.id,
    });
    return sendJson(response, 200, { ...runView(run), outcome: outcomeView(outcome) });
  }

  /**
   * `POST /v1/runs?wait=N`: answers 200 with the run as soon as it ended (woken by the store's
   * run-end notification, whichever replica ran it), or 202 with its progress after `waitMs`.
   * A caller that hangs up stops the wait.
   */
  async function waitForEnd(
    response: ServerResponse,
    submitted: RunRecord,
    tenantId: string,
    waitMs: number,
  ): Promise<void> {
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
          return sendJson(response, 200, runView(current));
        const remaining = deadline - performance.now();
        if (remaining <= 0 || hungUp.signal.aborted)
          return sendJson(response, 202, runView(current ?? submitted));
        await watch.wait(Math.min(remaining, WAIT_RECHECK_MS), hungUp.signal);
      }
    } finally {
      watch.dispose();
      response.off('close', onClose);
    }
  }
}

/** Whether a run is the one this request body asks for (agent, input, session, metadata). */
function sameSubmission(
  run: RunRecord,
  body: { agent: string; input: unknown; session_id?: string | null; metadata?: Record<string, unknown> },
): boolean {
  return (
    run.agent === body.agent &&
    (run.sessionId ?? null) === (body.session_id ?? null) &&
    canonicalJson(run.input ?? null) === canonicalJson(body.input ?? null) &&
    canonicalJson(run.metadata ?? {}) === canonicalJson(body.metadata ?? {})
  );
}

/** How long a `?wait` goes without re-reading its run, in case a run-end notification was missed. */
const WAIT_RECHECK_MS = 1_000;

async function onlyGet(method: string, answer: () => void | Promise<void>): Promise<void> {
  if (method !== 'GET') throw methodNotAllowed(`${method} on this path`);
  await answer();
}
