/**
 * The API's `/v1/keys` routes alone, for a process that serves no other part of the API: `keel
 * gateway` on the embedded database, which it holds, so that `keel keys create | list | revoke`
 * work through it as they do through `keel serve` (the CLI sends the local admin key, which has
 * `operator`). The routes are the API table's own (`key-routes.ts`): same auth, scopes, audit,
 * answers and errors; only the dependencies they never read are stubbed empty.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createAnalytics } from '../analytics/analytics-store.js';
import { createRunFeedback } from '../feedback/feedback.js';
import { createRunOutcomes } from '../feedback/outcomes.js';
import type { ApiKeys } from '../gateway/api-keys.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import type { KeelMetrics } from '../metrics/keel-metrics.js';
import type { Logger } from '../util/logger.js';
import { createId } from '../util/ids.js';
import { echoedRequestId } from '../util/request-notes.js';
import { createApiListener } from './api-app.js';
import { answerErrors } from './http-errors.js';
import { keyRoutes } from './key-routes.js';
import { createOpenApiDocument } from './openapi.js';
import { createRunEndWaiter } from './run-end-waiter.js';
import { createStreamSlots } from './stream-slots.js';

/** Options of {@link createKeyApiListener}. */
export interface KeyApiListenerOptions {
  store: JournalStore;
  client: SqlClient;
  apiKeys: ApiKeys;
  logger: Logger;
  metrics: KeelMetrics;
}

/** Answers a request to `/v1/keys…` (true), or leaves it alone (false). */
export type KeyApiListener = (request: IncomingMessage, response: ServerResponse) => boolean;

const BASE_URL = 'http://localhost';

/** Creates the listener of the `/v1/keys` routes. */
export function createKeyApiListener({
  store,
  client,
  apiKeys,
  logger,
  metrics,
}: KeyApiListenerOptions): KeyApiListener {
  const onError = answerErrors(logger);
  const api = createApiListener({
    routes: keyRoutes,
    dependencies: {
      store,
      client,
      agents: new Map(),
      logger,
      apiKeys,
      outcomes: createRunOutcomes({ client }),
      feedback: createRunFeedback({ client }),
      analytics: createAnalytics({ client }),
      health: () => ({ ok: true }),
      maxBodyBytes: 64 * 1024,
      streamSlots: createStreamSlots(),
      runEnds: createRunEndWaiter({ store, logger }),
      openApi: () => JSON.stringify(createOpenApiDocument(keyRoutes)),
      metrics,
      metricsPublic: false,
    },
    onError,
  });
  return (request, response) => {
    const target = request.url ?? '/';
    if (!URL.canParse(target, BASE_URL)) return false;
    const url = new URL(target, BASE_URL);
    if (url.pathname !== '/v1/keys' && !url.pathname.startsWith('/v1/keys/')) return false;
    response.setHeader('x-request-id', echoedRequestId(request) ?? createId('req'));
    api(request, response, url).catch((error: unknown) => onError(request, response, error));
    return true;
  };
}
