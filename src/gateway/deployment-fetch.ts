/**
 * The HTTP client of one deployment: undici's own `fetch` over a dedicated keep-alive Agent, so
 * connections to the upstream are pooled and reused across calls (a TLS handshake per call would
 * cost more than the whole gateway), and the connect timeout is the deployment's own. undici's
 * header and body timeouts are off: the gateway's attempt clocks (`attempt-timeouts.ts`) own
 * every other timeout, with the call's budget in view.
 */
import { Agent, fetch as undiciFetch } from 'undici';

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
  const fetch = ((input: Parameters<typeof undiciFetch>[0], init?: Parameters<typeof undiciFetch>[1]) =>
    undiciFetch(input, { ...init, dispatcher: agent })) as unknown as typeof globalThis.fetch;
  return { fetch, close: () => agent.close() };
}
