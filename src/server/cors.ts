import type { IncomingMessage, ServerResponse } from 'node:http';

/** Which browser origins may call the API (default: none, no CORS headers at all). */
export interface CorsOptions {
  /** Allowed origins (`https://app.example.com`), or `'*'` for any. */
  origins: readonly string[] | '*';
  /** Preflight cache lifetime in seconds (default 600). */
  maxAgeSeconds?: number;
  /** Send `access-control-allow-credentials: true` (never with `'*'`; default false). */
  credentials?: boolean;
}

export const CORS_ALLOWED_METHODS = 'GET, POST, PATCH, DELETE, OPTIONS';
export const CORS_ALLOWED_HEADERS =
  'authorization, content-type, idempotency-key, last-event-id, x-request-id';
export const CORS_EXPOSED_HEADERS = 'x-request-id, retry-after, retry-after-ms';

/** Parses `KEEL_CORS_ORIGINS` (comma-separated, or `*`); undefined when unset or empty. */
export function corsFromEnv(value: string | undefined): CorsOptions | undefined {
  const trimmed = value?.trim();
  if (!trimmed) return undefined;
  if (trimmed === '*') return { origins: '*' };
  const origins = trimmed
    .split(',')
    .map((origin) => origin.trim().replace(/\/+$/, ''))
    .filter(Boolean);
  return origins.length === 0 ? undefined : { origins };
}

/**
 * Adds CORS headers for an allowed `Origin` and answers preflights (`OPTIONS` with
 * `Access-Control-Request-Method`) with 204. Returns true when the request was answered. A
 * disallowed origin gets no `access-control-allow-origin` (the browser then refuses); its
 * preflight still gets a 204 without it. Without `cors`, nothing is added and nothing answered.
 */
export function applyCors(
  request: IncomingMessage,
  response: ServerResponse,
  cors: CorsOptions | undefined,
): boolean {
  if (cors === undefined) return false;
  response.setHeader('vary', 'origin');
  const origin = request.headers.origin;
  const allowed =
    typeof origin === 'string' && (cors.origins === '*' || cors.origins.includes(origin.replace(/\/+$/, '')));
  if (allowed) {
    const wildcard = cors.origins === '*' && !cors.credentials;
    response.setHeader('access-control-allow-origin', wildcard ? '*' : origin);
    if (cors.credentials && cors.origins !== '*')
      response.setHeader('access-control-allow-credentials', 'true');
    response.setHeader('access-control-expose-headers', CORS_EXPOSED_HEADERS);
  }
  const preflight =
    request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined;
  if (!preflight) return false;
  if (allowed) {
    response.setHeader('access-control-allow-methods', CORS_ALLOWED_METHODS);
    response.setHeader('access-control-allow-headers', CORS_ALLOWED_HEADERS);
    response.setHeader('access-control-max-age', String(cors.maxAgeSeconds ?? 600));
  }
  response.writeHead(204, { 'content-length': 0 });
  response.end();
  return true;
}
