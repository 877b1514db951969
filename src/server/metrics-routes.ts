/**
 * `GET /metrics`: the process's Prometheus metrics in the text exposition format. A scraper
 * needs a key with the `metrics` scope (401 without a key, 403 with a key lacking it: the
 * metrics are process-wide and cross every tenant, so even a tenant's `admin` key does not
 * reach them), unless the process runs with `KEEL_METRICS_PUBLIC=true` (a scrape port only
 * Prometheus can reach). The same rules serve `keel worker --metrics-port` and `keel gateway`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiKeys, ApiKeyScope } from '../gateway/api-keys.js';
import type { KeelMetrics } from '../metrics/keel-metrics.js';
import { authenticate } from './authenticate.js';
import { sendError } from './http-errors.js';
import { methodNotAllowed, notFound } from './http-io.js';
import { defineRoute, errorResponses } from './route-table.js';

/** The scopes that may scrape `/metrics`. */
export const METRICS_SCOPES: readonly ApiKeyScope[] = ['metrics'];

/** Writes the exposition (never cached). */
export async function sendMetrics(response: ServerResponse, metrics: KeelMetrics): Promise<void> {
  const { contentType, text } = await metrics.scrape();
  response.writeHead(200, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  response.end(text);
}

/** The route of the API's table (`keel serve`). */
export const metricsRoutes = [
  defineRoute({
    method: 'GET',
    path: '/metrics',
    scopes: METRICS_SCOPES,
    openWhen: ({ metricsPublic }) => metricsPublic,
    summary: 'Prometheus metrics of this process (text exposition format 0.0.4)',
    description:
      'Needs a key with the `metrics` scope, unless the server runs with KEEL_METRICS_PUBLIC=true. ' +
      'Counters are per process: scrape every `keel serve`, `keel worker --metrics-port` and ' +
      '`keel gateway` process. See docs/observability.md for the metrics.',
    responses: {
      200: {
        description: 'The metrics',
        content: { 'text/plain; version=0.0.4': { schema: { type: 'string' } } },
      },
      ...errorResponses(401, 403),
    },
    handle: ({ response, dependencies: { metrics } }) => sendMetrics(response, metrics),
  }),
];

/** Options of {@link createMetricsListener}. */
export interface MetricsListenerOptions {
  metrics: KeelMetrics;
  /** Verifies scrapers' keys (unused when `public`). */
  apiKeys: Pick<ApiKeys, 'verify'>;
  /** Serve without a key (`KEEL_METRICS_PUBLIC=true`). */
  public?: boolean;
}

/**
 * `GET /metrics` for a process without the API (`keel worker --metrics-port`, `keel gateway`),
 * with the API's auth rules and error bodies. Returns whether it answered the request (false:
 * not its path, left to the caller). `GET /healthz` answers 200 on a metrics-only server.
 */
export function createMetricsListener({
  metrics,
  apiKeys,
  public: open = false,
}: MetricsListenerOptions): (request: IncomingMessage, response: ServerResponse) => boolean {
  return (request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/metrics') return false;
    request.resume();
    const answer = async () => {
      if (request.method !== 'GET') throw methodNotAllowed(`${request.method ?? '?'} /metrics`);
      if (!open) await authenticate({ request, apiKeys, scopes: METRICS_SCOPES });
      await sendMetrics(response, metrics);
    };
    answer().catch((error: unknown) => sendError(response, error));
    return true;
  };
}

/**
 * A server of its own for a worker's metrics (`keel worker --metrics-port`): `/metrics`,
 * `/healthz`, and 404 `not_found` for anything else.
 */
export function metricsOnlyHandler(
  listener: (request: IncomingMessage, response: ServerResponse) => boolean,
): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    if (listener(request, response)) return;
    request.resume();
    if ((request.url ?? '/').split('?')[0] === '/healthz') {
      response.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      response.end('{"ok":true}');
      return;
    }
    sendError(response, notFound(`No route for ${request.method ?? 'GET'} ${request.url ?? '/'}.`));
  };
}
