import type { IncomingMessage, ServerResponse } from 'node:http';
import { KeelError } from '../errors/keel-error.js';
import { RateLimitedError } from '../gateway/gateway-errors.js';
import type { RateLimiter } from '../gateway/gateway-store.js';
import type { Logger } from '../util/logger.js';
import { applyCors, type CorsOptions } from './cors.js';
import { sendError } from './http-errors.js';
import { noteRequest, requestNotesOf } from '../util/request-notes.js';
import { onAuthenticated } from './request-context.js';

/** Default time a request may take before it is answered 503 `request_timeout`. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** The longest `?wait=` a submit accepts (seconds); its timeout is extended by that much. */
const MAX_WAIT_SECONDS = 60;

export interface RequestEdgesOptions {
  logger: Logger;
  /** Per-key `rpm` (`api:<keyId>` scopes) is enforced with this when given. */
  limiter?: RateLimiter;
  cors?: CorsOptions;
  /** 0 or Infinity: no timeout. */
  requestTimeoutMs?: number;
}

export interface RequestEdges {
  /** CORS headers, and the answer to a preflight (true: answered, do nothing more). */
  preflight(request: IncomingMessage, response: ServerResponse): boolean;
  /**
   * Starts the request's edges: the request log line (written when the response closes), the
   * per-key rate limit and key/tenant notes (run by `authenticate`), and the timeout. Call the
   * returned function once the handler has settled.
   */
  begin(request: IncomingMessage, response: ServerResponse, requestId: string, url: URL): () => void;
}

/**
 * What every API request goes through besides its route: CORS, per-key rate limits (429 with
 * `Retry-After`), a timeout (503 `request_timeout`, never a hung socket) and one structured log
 * line. The log line holds method, route pattern (ids replaced), status, duration, request id,
 * tenant and key id: never headers, bodies, query strings or outputs.
 */
export function createRequestEdges({
  logger,
  limiter,
  cors,
  requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
}: RequestEdgesOptions): RequestEdges {
  return {
    preflight: (request, response) => applyCors(request, response, cors),
    begin(request, response, requestId, url) {
      const startedAt = performance.now();
      const method = request.method ?? 'GET';
      onAuthenticated(request, async (key) => {
        noteRequest(request, { tenantId: key.tenantId, keyId: key.id });
        if (limiter === undefined || key.rpm === undefined) return;
        const scope = `api:${key.id}`;
        const result = await limiter.reserve([{ scope, rpm: key.rpm }], 0);
        if (!result.ok) {
          throw new RateLimitedError({ scope, limit: result.limit, retryAfterMs: result.retryAfterMs });
        }
      });

      const timeoutMs = timeoutFor(method, url, request, requestTimeoutMs);
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              if (response.headersSent || response.writableEnded) return;
              const error = new KeelError({
                code: 'request_timeout',
                message: `The request took longer than ${timeoutMs} ms.`,
                fault: 'system',
                retryable: true,
              });
              response.setHeader('connection', 'close');
              sendError(response, error);
            }, timeoutMs);

      response.once('close', () => {
        if (timer !== undefined) clearTimeout(timer);
      });
      logRequest({ logger, request, response, requestId, pathname: url.pathname, startedAt });
      return () => {
        if (timer !== undefined) clearTimeout(timer);
      };
    },
  };
}

/** Options of {@link logRequest}. */
export interface LogRequestOptions {
  logger: Logger;
  request: IncomingMessage;
  response: ServerResponse;
  /** Default: the one noted on the request (`noteRequest`; the gateway notes its own). */
  requestId?: string;
  /** Default: the request's path. */
  pathname?: string;
  /** `performance.now()` when the request arrived. Default: now. */
  startedAt?: number;
}

/**
 * Writes the request's one log line when its response closes: method, route pattern (ids
 * replaced), status, duration, request id, tenant and key id (once verified); never headers,
 * bodies, query strings or outputs. Used for every API request and for the gateway's endpoints.
 */
export function logRequest({
  logger,
  request,
  response,
  requestId,
  pathname,
  startedAt = performance.now(),
}: LogRequestOptions): void {
  response.once('close', () => {
    // Timed now, written once the loop is free: the next request on the socket comes first.
    const durationMs = Math.round(performance.now() - startedAt);
    setImmediate(() => writeLine(durationMs));
  });
  const writeLine = (durationMs: number) => {
    const noted = requestNotesOf(request);
    const path = pathname ?? (request.url ?? '/').split('?', 1)[0] ?? '/';
    logger.info('request', {
      method: request.method ?? 'GET',
      route: routePattern(path),
      status: response.statusCode,
      durationMs,
      requestId: requestId ?? noted.requestId ?? null,
      tenantId: noted.tenantId ?? null,
      keyId: noted.keyId ?? null,
      ...(response.writableFinished ? {} : { aborted: true }),
    });
  };
}

/**
 * The request's timeout, or undefined for none: event streams (long-lived by design) have none
 * and a submit's `?wait=` extends it by the wait.
 */
function timeoutFor(
  method: string,
  url: URL,
  request: IncomingMessage,
  requestTimeoutMs: number,
): number | undefined {
  if (!(requestTimeoutMs > 0) || !Number.isFinite(requestTimeoutMs)) return undefined;
  const accept = request.headers.accept;
  if (
    url.pathname.endsWith('/events') ||
    (typeof accept === 'string' && accept.includes('text/event-stream'))
  )
    return undefined;
  return requestTimeoutMs + (method === 'POST' ? waitSecondsOf(url) : 0) * 1000;
}

/** A submit's `?wait=N`: seconds, 0 (no wait) to 60; anything not a number is 0. */
export function waitSecondsOf(url: URL): number {
  return Math.max(0, Math.min(Number(url.searchParams.get('wait') ?? 0) || 0, MAX_WAIT_SECONDS));
}

/** `/v1/runs/run_123/steps` → `/v1/runs/{id}/steps`: the route, without ids, for logs. */
export function routePattern(pathname: string): string {
  const parts = pathname.split('/').filter(Boolean).slice(0, 6);
  if (parts[0] === 'v1' && parts.length >= 3) parts[2] = '{id}';
  const pattern = '/' + parts.map((part) => (part.length > 64 ? `${part.slice(0, 64)}…` : part)).join('/');
  return pattern;
}
