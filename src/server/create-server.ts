import { createServer as createHttpServer, type Server } from 'node:http';
import type { Controls } from '../controls/controls.js';
import type { BudgetStore } from '../budgets/budget-store.js';
import type { ApiKeys } from '../gateway/api-keys.js';
import type { RateLimiter } from '../gateway/gateway-store.js';
import type { GatewayHandler } from '../gateway/http/gateway-handler.js';
import { createGatewayStats, type GatewayStats } from '../gateway/gateway-stats.js';
import type { SpendBreakers } from '../controls/spend-breaker.js';
import type { GatewayStatus } from './gateway-routes.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import { createKeelMetrics, type KeelMetrics } from '../metrics/keel-metrics.js';
import { guardTelemetry, type RunTelemetry } from '../telemetry/run-telemetry.js';
import type { Agent } from '../runtime/agent.js';
import type { TenantRedaction } from '../runtime/redaction.js';
import { createId, type IdGenerator } from '../util/ids.js';
import { echoedRequestId } from '../util/request-notes.js';
import type { Logger } from '../util/logger.js';
import { createApiListener } from './api-app.js';
import { API_ROUTES } from './api-routes.js';
import type { CorsOptions } from './cors.js';
import { answerErrors } from './http-errors.js';
import { invalidRequest } from './http-io.js';
import { createOpenApiDocument } from './openapi.js';
import type { Analytics } from '../analytics/analytics-store.js';
import type { RunFeedback } from '../feedback/feedback.js';
import { createAuditLog, type AuditLog } from '../governance/audit-query.js';
import { createSessionList, type SessionList } from './session-list.js';
import { createEvalStore, type EvalStore } from '../evals/eval-store.js';
import { createUserErasure, type UserErasure } from '../governance/user-erasure.js';
import { createPromptRegistry, type PromptRegistry } from '../prompts/prompt-registry.js';
import type { RunOutcomes } from '../feedback/outcomes.js';
import type { HealthCheck } from './health.js';
import type { ReadinessCheck } from './readiness.js';
import { createRequestEdges, logRequest } from './request-edges.js';
import { createRunEndWaiter } from './run-end-waiter.js';
import { createStreamSlots } from './stream-slots.js';
import type { ConsoleAssets } from './console-assets.js';
import type { ConsoleLogin } from './console-login.js';

/** The options of `createServer`: store, agents, API keys, the stores and checks it serves. */
export interface ServerOptions {
  store: JournalStore;
  /** Answers `/v1/budgets` (`createBudgetStore` over the same client). */
  budgets?: BudgetStore;
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
  /** Where `POST /v1/runs/{id}/feedback` records feedback (see `createRunFeedback`). */
  feedback: RunFeedback;
  /** Answers `GET /v1/analytics/summary` and `/compare` (see `createAnalytics`). */
  analytics: Analytics;
  /**
   * The prompt registry (`/v1/prompts`; a submitted run records the agent's pinned version).
   * Default: `createPromptRegistry` over `client`; without either, runs record the code's version
   * and `/v1/prompts` answers 501 `not_configured`.
   */
  prompts?: PromptRegistry;
  /** Answers `GET /v1/audit` (default: `createAuditLog` over `client`). */
  audit?: AuditLog;
  /** Answers `GET /v1/sessions` (default: `createSessionList` over `client`). */
  sessions?: SessionList;
  /** Answers `GET /v1/evals` and `/v1/evals/{id}` (default: `createEvalStore` over `client`). */
  evals?: EvalStore;
  /** Answers `DELETE /v1/users/{id}/data` (default: `createUserErasure` over `client`). */
  erasure?: UserErasure;
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
  /** Event streams one API key may hold open on this server; more answer 429 `too_many_streams` (default 16). */
  maxStreamsPerKey?: number;
  /** How often an open event stream re-verifies its API key, to end when it is revoked (default 1 s). */
  streamKeyCheckMs?: number;
  /** Longer requests get a 503 `request_timeout` (default 30 s; event streams none, `?wait` adds). */
  requestTimeoutMs?: number;
  /**
   * The process's metrics, served at `GET /metrics` (see `createKeelMetrics`); default: this
   * server's own, which has the run gauges (with `client`) and no worker or gateway to count.
   */
  metrics?: KeelMetrics;
  /** `GET /metrics` answers without a key (`KEEL_METRICS_PUBLIC=true`). Default false. */
  metricsPublic?: boolean;
  /** Redaction rules per tenant (with each agent's own), applied to the inputs runs store. */
  redactByTenant?: TenantRedaction;
  /**
   * Told of the runs a request ends itself (cancelling a queued, waiting or suspended run), as
   * the worker's `telemetry` is of the runs it ends: give both the same observers (`keel serve`
   * does). Each call is guarded (`guardTelemetry`).
   */
  telemetry?: RunTelemetry;
  /**
   * Runtime controls (`createControls`, started; the caller closes it): serves `/v1/controls` and
   * `/v1/agents/{name}/pause|resume`, and refuses runs of a paused or disabled agent with 409.
   */
  controls?: Controls;
  /** Serves the console (the built web app) on every path that is not the API's. */
  consoleAssets?: ConsoleAssets;
  /** Exchanges the one-time sign-in links `keel serve` prints (`POST /v1/console/session`). */
  consoleLogin?: ConsoleLogin;
  /** The gateway this process runs, for `GET /v1/gateway/deployments` (`createGatewayStatus`). */
  gatewayStatus?: GatewayStatus;
  /** Answers `GET /v1/gateway/usage` (default: `createGatewayStats` over `client`). */
  gatewayStats?: GatewayStats;
  /** The config's spend breakers, shown by `GET /v1/spend-breakers`. */
  spendBreakers?: SpendBreakers;
  generateId?: IdGenerator;
}

/** Request targets are paths: they are resolved against this (its host is never used). */
const BASE_URL = 'http://localhost';

/**
 * The HTTP API over the journal: submit, list, read and cancel runs, record their outcomes and
 * stream their events. Stateless: every answer comes from the store, so any replica can serve
 * any request. The API's routes are one table (`api-routes.ts`) mounted on Hono (`api-app.ts`),
 * which authenticates every request of a route with scopes and scopes it to the key's tenant:
 * another tenant's run answers 404, as a run that does not exist. The gateway's endpoints, when
 * given, are routes of the same table on their own wire, matched first on the raw path (see
 * docs/decisions/2026-12-05-api-route-table-on-hono.md).
 * Errors are mapped in one place (`toHttpError`); every answer carries an `x-request-id`.
 */
export function createServer({
  store,
  budgets,
  client,
  agents,
  logger,
  apiKeys,
  outcomes,
  feedback,
  analytics,
  prompts = client === undefined ? undefined : createPromptRegistry({ client }),
  audit = client === undefined ? undefined : createAuditLog({ client }),
  sessions = client === undefined ? undefined : createSessionList({ client }),
  evals = client === undefined ? undefined : createEvalStore({ client }),
  erasure = client === undefined ? undefined : createUserErasure({ client }),
  readiness,
  health = () => ({ ok: true }),
  gatewayHandler,
  maxBodyBytes = 1_000_000,
  eventPollIntervalMs,
  eventHeartbeatMs,
  limiter,
  cors,
  requestTimeoutMs,
  maxStreamsPerKey,
  streamKeyCheckMs,
  metrics,
  metricsPublic = false,
  redactByTenant,
  telemetry,
  controls,
  consoleAssets,
  consoleLogin,
  gatewayStatus,
  gatewayStats = client === undefined ? undefined : createGatewayStats({ client }),
  spendBreakers,
  generateId = createId,
}: ServerOptions): Server {
  const edges = createRequestEdges({ logger, limiter, cors, requestTimeoutMs });
  let openApi: string | undefined;
  // The one error path of the API: the mapped answer, and a log line for a 5xx.
  const onError = answerErrors(logger);
  const api = createApiListener({
    routes: API_ROUTES,
    dependencies: {
      store,
      ...(budgets === undefined ? {} : { budgets }),
      ...(client === undefined ? {} : { client }),
      agents,
      logger,
      apiKeys,
      outcomes,
      feedback,
      analytics,
      ...(prompts === undefined ? {} : { prompts }),
      ...(audit === undefined ? {} : { audit }),
      ...(sessions === undefined ? {} : { sessions }),
      ...(evals === undefined ? {} : { evals }),
      ...(erasure === undefined ? {} : { erasure }),
      ...(readiness === undefined ? {} : { readiness }),
      health,
      maxBodyBytes,
      ...(eventPollIntervalMs === undefined ? {} : { eventPollIntervalMs }),
      ...(eventHeartbeatMs === undefined ? {} : { eventHeartbeatMs }),
      ...(streamKeyCheckMs === undefined ? {} : { streamKeyCheckMs }),
      streamSlots: createStreamSlots(maxStreamsPerKey === undefined ? {} : { maxPerKey: maxStreamsPerKey }),
      runEnds: createRunEndWaiter({ store, logger }),
      openApi: () => (openApi ??= JSON.stringify(createOpenApiDocument(API_ROUTES, gatewayHandler?.wire))),
      metrics:
        metrics ??
        createKeelMetrics({ processMetrics: false, logger, ...(client === undefined ? {} : { client }) }),
      metricsPublic,
      ...(redactByTenant === undefined ? {} : { redactByTenant }),
      ...(telemetry === undefined ? {} : { telemetry: guardTelemetry(telemetry, logger) }),
      ...(controls === undefined ? {} : { controls }),
      ...(consoleLogin === undefined ? {} : { consoleLogin }),
      ...(gatewayStatus === undefined ? {} : { gatewayStatus }),
      ...(gatewayStats === undefined ? {} : { gatewayStats }),
      ...(spendBreakers === undefined ? {} : { spendBreakers }),
    },
    onError,
    wire: gatewayHandler?.wire,
  });
  return createHttpServer((request, response) => {
    if (edges.preflight(request, response)) return;
    // The gateway's routes (matched on the raw path) bring their own auth/limits hook (per-key
    // rpm/tpm, body limit, no API timeout) and error format; they share the request log.
    const arrivedAt = performance.now();
    if (api.wire(request, response)) {
      logRequest({ logger, request, response, startedAt: arrivedAt });
      return;
    }
    const requestId = echoedRequestId(request) ?? generateId('req');
    response.setHeader('x-request-id', requestId);
    // A request target Node accepts may still be no URL (`GET http://[`): a 400, never a throw.
    const url = URL.canParse(request.url ?? '/', BASE_URL)
      ? new URL(request.url ?? '/', BASE_URL)
      : undefined;
    // The console's pages and assets: any GET outside the API's paths (logged like the API's).
    if (url !== undefined && consoleAssets?.serve(request, response, url) === true) {
      logRequest({ logger, request, response, startedAt: arrivedAt });
      return;
    }
    const settled = edges.begin(request, response, requestId, url ?? new URL('/', BASE_URL));
    (url === undefined
      ? Promise.reject(invalidRequest('Malformed request URL.'))
      : api(request, response, url)
    )
      .catch((error: unknown) => onError(request, response, error))
      .finally(settled);
  });
}
