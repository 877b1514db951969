/**
 * The API's route table: every route the server answers (besides the gateway's endpoints, which
 * are matched before it), in one list that the server mounts and `/openapi.json` describes.
 */
import { budgetRoutes } from './budget-routes.js';
import { agentRoutes } from './agent-routes.js';
import { analyticsRoutes } from './analytics-routes.js';
import { approvalRoutes } from './approval-routes.js';
import { auditRoutes } from './audit-routes.js';
import { consoleRoutes } from './console-routes.js';
import { breakerRoutes } from './breaker-routes.js';
import { controlRoutes } from './control-routes.js';
import { gatewayRoutes } from './gateway-routes.js';
import { sendHealth } from './health.js';
import { sendJsonText } from '../http/http-io.js';
import { sendJson } from './http-io.js';
import { keyRoutes } from './key-routes.js';
import { metricsRoutes } from './metrics-routes.js';
import { promptRoutes } from './prompt-routes.js';
import { defineRoute, type ApiRoute } from './route-table.js';
import { runRoutes } from './run-routes.js';
import { healthResponse, readinessResponse } from './schemas.js';
import { sessionListRoutes } from './session-list-routes.js';
import { sessionRoutes } from './session-routes.js';
import { traceRoutes } from './trace-routes.js';
import { cassetteRoutes } from './cassette-routes.js';
import { evalRoutes } from './eval-routes.js';

/** The public routes: liveness, readiness and the API's description. */
const systemRoutes = [
  defineRoute({
    method: 'GET',
    path: '/healthz',
    scopes: [],
    summary: 'The process is up and not wedged',
    responses: {
      200: { description: 'Up', schema: healthResponse },
      503: { description: 'No database round trip for too long', schema: healthResponse },
    },
    handle: ({ response, dependencies: { health } }) => sendHealth(response, health()),
  }),
  defineRoute({
    method: 'GET',
    path: '/readyz',
    scopes: [],
    summary: "The database answers, its migrations are current and the agents' models passed their check",
    responses: {
      200: { description: 'Ready', schema: readinessResponse },
      503: { description: 'Not ready (with Retry-After)', schema: readinessResponse },
    },
    async handle({ response, dependencies: { readiness } }) {
      const report = readiness ? await readiness() : { ok: true, database: 'reachable', migrations: null };
      if (!report.ok) response.setHeader('retry-after', '5');
      sendJson(response, report.ok ? 200 : 503, report);
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/openapi.json',
    scopes: [],
    summary: 'This API as an OpenAPI 3.1 document, generated from the route table',
    responses: { 200: { description: 'The document' } },
    handle: ({ response, dependencies }) => sendJsonText(response, 200, dependencies.openApi()),
  }),
];

/** Every route of the API. */
export const API_ROUTES: readonly ApiRoute[] = [
  ...systemRoutes,
  ...metricsRoutes,
  ...runRoutes,
  ...traceRoutes,
  ...cassetteRoutes,
  ...keyRoutes,
  ...budgetRoutes,
  ...approvalRoutes,
  ...sessionListRoutes,
  ...sessionRoutes,
  ...evalRoutes,
  ...analyticsRoutes,
  ...promptRoutes,
  ...auditRoutes,
  ...controlRoutes,
  ...consoleRoutes,
  ...agentRoutes,
  ...gatewayRoutes,
  ...breakerRoutes,
];
