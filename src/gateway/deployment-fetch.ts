/**
 * The HTTP client of one deployment: a dedicated undici keep-alive Agent, so connections to the
 * upstream are pooled and reused across calls (a TLS handshake per call would cost more than the
 * whole gateway), and the connect timeout is the deployment's own. undici's header and body
 * timeouts are off: the gateway's attempt clocks (`attempt-timeouts.ts`) own every other timeout,
 * with the call's budget in view.
 *
 * Requests go through `agent.request`, not WHATWG `fetch`: the fetch layer (Request objects,
 * web streams, header guards) cost more per call here than the rest of the gateway together. The
 * adapters see a small Response-shaped object with just what they read.
 */
import type { Readable } from 'node:stream';
import { Agent } from 'undici';

/** A fetch bound to one deployment's connection pool. */
export interface DeploymentFetch {
  fetch: typeof globalThis.fetch;
  /** Closes the pool's connections (waits for requests in flight). */
  close(): Promise<void>;
}

/** Options of {@link createDeploymentFetch}. */
export interface DeploymentFetchOptions {
  connectTimeoutMs: number;
  /** How long an idle pooled connection is kept. Default 30 s (below most upstreams' own). */
  keepAliveMs?: number;
}

/** Creates a pooled fetch for one deployment. */
export function createDeploymentFetch({
  connectTimeoutMs,
  keepAliveMs = 30_000,
}: DeploymentFetchOptions): DeploymentFetch {
  const agent = new Agent({
    connect: { timeout: connectTimeoutMs },
    keepAliveTimeout: keepAliveMs,
    keepAliveMaxTimeout: Math.max(keepAliveMs, 600_000),
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  const fetch = async (input: string | URL, init: RequestInit = {}): Promise<Response> => {
    const { statusCode, headers, body } = await agent.request({
      origin: new URL(input).origin,
      path: pathOf(input),
      method: (init.method ?? 'GET') as 'GET' | 'POST',
      headers: init.headers as Record<string, string> | undefined,
      body: init.body as string | Uint8Array | undefined,
      signal: init.signal ?? undefined,
    });
    return leanResponse({ status: statusCode, headers, body });
  };
  return { fetch: fetch as unknown as typeof globalThis.fetch, close: () => agent.close() };
}

function pathOf(input: string | URL): string {
  const url = typeof input === 'string' ? new URL(input) : input;
  return url.pathname + url.search;
}

/** The parts of a WHATWG Response the provider adapters read, over an undici response. */
function leanResponse({
  status,
  headers,
  body,
}: {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable & { text(): Promise<string> };
}): Response {
  const header = (name: string): string | null => {
    const value = headers[name.toLowerCase()];
    return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
  };
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: '',
    headers: { get: header, has: (name: string) => header(name) !== null } as Headers,
    // Node streams are async iterables of chunks, which the SSE reader accepts.
    body: body as unknown as ReadableStream<Uint8Array>,
    text: () => body.text(),
    json: async () => JSON.parse(await body.text()) as unknown,
  } as unknown as Response;
}
