/**
 * The HTTP API as one declared table: each route says its method, path, the scopes a key needs
 * (none: a public route), its request schemas (query, body) and its answers. The server mounts
 * the table on Hono (`api-app.ts`), which authenticates and checks the scopes in one place
 * before any handler runs, so no route can forget its check; `/openapi.json` is generated from
 * the same table (`openapi.ts`), so the document cannot drift from the routes.
 */
import type { BudgetStore } from '../budgets/budget-store.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { Analytics } from '../analytics/analytics-store.js';
import type { Controls } from '../controls/controls.js';
import type { ApiKeyRecord, ApiKeys, ApiKeyScope } from '../gateway/api-keys.js';
import type { RateLimiter } from '../gateway/gateway-store.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import type { Agent } from '../runtime/agent.js';
import type { KeelMetrics } from '../metrics/keel-metrics.js';
import type { Logger } from '../util/logger.js';
import type { AuditLog } from '../governance/audit-query.js';
import type { UserErasure } from '../governance/user-erasure.js';
import type { PromptRegistry } from '../prompts/prompt-registry.js';
import type { RunFeedback } from '../feedback/feedback.js';
import type { RunOutcomes } from '../feedback/outcomes.js';
import type { HealthCheck } from './health.js';
import type { ReadinessCheck } from './readiness.js';
import type { RunEndWaiter } from './run-end-waiter.js';
import type { StreamSlots } from './stream-slots.js';
import type { RunTelemetry } from '../telemetry/run-telemetry.js';
import type { TenantRedaction } from '../runtime/redaction.js';
import type { ConsoleLogin } from './console-login.js';
import type { GatewayStats } from '../gateway/gateway-stats.js';
import type { SpendBreakers } from '../controls/spend-breaker.js';
import type { GatewayStatus } from './gateway-routes.js';
import type { SessionList } from './session-list.js';
import type { EvalStore } from '../evals/eval-store.js';

/** What route handlers work with, shared by every request of a server. */
export interface RouteDependencies {
  store: JournalStore;
  /** Answers `/v1/budgets` (absent: those routes answer 503 `budgets_unavailable`). */
  budgets?: BudgetStore;
  client?: SqlClient;
  agents: ReadonlyMap<string, Agent>;
  logger: Logger;
  apiKeys: ApiKeys;
  outcomes: RunOutcomes;
  feedback: RunFeedback;
  /** `/v1/prompts/*`, and the version a submitted run records (absent: runs use the code's). */
  prompts?: PromptRegistry;
  /** Answers `GET /v1/audit`. */
  audit?: AuditLog;
  /** Answers `GET /v1/sessions`. */
  sessions?: SessionList;
  /** Answers `GET /v1/evals` and `/v1/evals/{id}` (the evals `keel eval` stored). */
  evals?: EvalStore;
  /** Answers `DELETE /v1/users/{id}/data`. */
  erasure?: UserErasure;
  /** Answers `/v1/analytics/*`. */
  analytics: Analytics;
  readiness?: ReadinessCheck;
  /** Answers `/healthz`: fails once the process has had no database round trip for too long. */
  health: HealthCheck;
  limiter?: RateLimiter;
  maxBodyBytes: number;
  eventPollIntervalMs?: number;
  eventHeartbeatMs?: number;
  streamKeyCheckMs?: number;
  streamSlots: StreamSlots;
  runEnds: RunEndWaiter;
  /** The OpenAPI document of the table, as JSON (built once). */
  openApi: () => string;
  /**
   * Told of the runs a request ends itself (a cancel of a run no worker holds), as a worker tells
   * it of the runs it ends. Guarded: an observer's failure never fails the request.
   */
  telemetry?: Required<RunTelemetry>;
  /** This process's Prometheus metrics (`GET /metrics`). */
  metrics: KeelMetrics;
  /**
   * Runtime controls (started): `/v1/controls`, `/v1/agents/{name}/pause|resume`, and the 409
   * `agent_paused` / `agent_disabled` of `POST /v1/runs`. Without it those routes answer 500
   * `controls_not_configured` and runs are accepted unchecked.
   */
  controls?: Controls;
  /** `GET /metrics` answers without a key (`KEEL_METRICS_PUBLIC=true`). */
  metricsPublic: boolean;
  /** Redaction rules per tenant (with each agent's own, applied to a run's stored input). */
  redactByTenant?: TenantRedaction;
  /** Exchanges the console's one-time sign-in links (absent: 404 `console_login_disabled`). */
  consoleLogin?: ConsoleLogin;
  /** The gateway this process runs (`GET /v1/gateway/deployments`; absent: `configured: false`). */
  gatewayStatus?: GatewayStatus;
  /** Answers `GET /v1/gateway/usage` from the gateway's call records. */
  gatewayStats?: GatewayStats;
  /** The config's spend breakers (`GET /v1/spend-breakers`; absent: `configured: false`). */
  spendBreakers?: SpendBreakers;
}

/** One request as a route handler sees it. */
export interface RouteContext<Query extends z.ZodType = z.ZodType, Body extends z.ZodType = z.ZodType> {
  request: IncomingMessage;
  /** Handlers answer on the Node response (`sendJson`, or a stream). */
  response: ServerResponse;
  url: URL;
  /** The raw (still percent-encoded) path segments named in the route's path (`:id`). */
  params: Readonly<Record<string, string>>;
  /** The verified key (routes with scopes only: a public route has none). */
  key: ApiKeyRecord;
  dependencies: RouteDependencies;
  /** The query string, validated with the route's `query` schema (400 `invalid_request`). */
  query(): z.infer<Query>;
  /** The JSON body, read within the body limit and validated with the route's `body` schema. */
  body(): Promise<z.infer<Body>>;
}

/** An OpenAPI parameter the route reads besides its path and query schema (a header...). */
export interface RouteParameter {
  name: string;
  in: 'header' | 'query';
  schema: Record<string, unknown>;
  description?: string;
}

/** One answer of a route, for the OpenAPI document. */
/** Error answers of a route, for its OpenAPI entry: each is the API's error body (`ErrorResponse`). */
export function errorResponses(...statuses: number[]): Record<number, RouteResponse> {
  return Object.fromEntries(statuses.map((status) => [status, { description: 'Error' }]));
}

export interface RouteResponse {
  description: string;
  /** The JSON body (the `Error` body when omitted and the status is 400 or more). */
  schema?: z.ZodType;
  /** A body of another media type (the event stream), as OpenAPI `content`. */
  content?: Record<string, unknown>;
}

/** A route of the API. */
export interface ApiRoute<Query extends z.ZodType = z.ZodType, Body extends z.ZodType = z.ZodType> {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Hono's syntax: `/v1/runs/:id/cancel`. */
  path: string;
  /** A key needs one of these (checked before the handler); empty: a public route, no key. */
  scopes: readonly ApiKeyScope[];
  /**
   * When this says so, the route is served without a key despite its scopes (a deployment's
   * choice, such as `/metrics` under `KEEL_METRICS_PUBLIC=true`); the route has no key then.
   */
  openWhen?: (dependencies: RouteDependencies) => boolean;
  summary: string;
  description?: string;
  query?: Query;
  body?: Body;
  parameters?: readonly RouteParameter[];
  /** Answers by status; error statuses carry the `Error` body unless a schema is given. */
  responses: Readonly<Record<number, RouteResponse>>;
  handle(context: RouteContext<Query, Body>): Promise<void> | void;
}

/** Declares a route, inferring its query and body types from its schemas. */
export function defineRoute<Query extends z.ZodType = z.ZodType, Body extends z.ZodType = z.ZodType>(
  route: ApiRoute<Query, Body>,
): ApiRoute {
  return route as unknown as ApiRoute;
}

/** The names of a path's parameters, by segment index (`/v1/runs/:id` → `{2: 'id'}`). */
export function pathParameters(path: string): Map<number, string> {
  const names = new Map<number, string>();
  path
    .split('/')
    .filter(Boolean)
    .forEach((segment, index) => {
      if (segment.startsWith(':')) names.set(index, segment.slice(1));
    });
  return names;
}

/** `/v1/runs/:id` → `/v1/runs/{id}` (OpenAPI's syntax). */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z_]+)/g, '{$1}');
}

/** Whether `segments` (a path split on `/`, empty ones dropped) fit the route's path. */
export function pathMatches(path: string, segments: readonly string[]): boolean {
  const pattern = path.split('/').filter(Boolean);
  return (
    pattern.length === segments.length &&
    pattern.every((part, index) => part.startsWith(':') || part === segments[index])
  );
}

export type { ErrorFormat, WireContext, WireRoute, WireTable } from '../http/wire-routes.js';
