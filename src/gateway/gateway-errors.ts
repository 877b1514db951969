/**
 * The gateway's own errors. Upstream failures keep their own types (ProviderError,
 * ModelOutputError); these are what the gateway adds on top: an unknown route, a caller over its
 * limit, an attempt that ran out of time, a call whose whole budget ran out, a route with no usable
 * deployment. The HTTP layer maps them to statuses by `fault` and `code` in one place.
 */
import { KeelError, serializeError } from '../errors/keel-error.js';
import type { CallMeta } from './gateway-types.js';

/** The caller named a route (model) the gateway does not know. */
export class UnknownRouteError extends KeelError {
  constructor({ route, known }: { route: string; known: readonly string[] }) {
    super({
      code: 'unknown_model',
      message: `Unknown model "${route}". Known models: ${known.length > 0 ? known.join(', ') : '(none)'}.`,
      fault: 'caller',
      details: { model: route, known },
    });
  }
}

/** The caller's key is over its requests or tokens per minute; retry after `retryAfterMs`. */
export class RateLimitedError extends KeelError {
  readonly retryAfterMs: number;

  constructor({ scope, limit, retryAfterMs }: { scope: string; limit: 'rpm' | 'tpm'; retryAfterMs: number }) {
    super({
      code: 'rate_limited',
      message: `Rate limit reached (${limit} of ${scope}); retry in ${Math.ceil(retryAfterMs)} ms.`,
      fault: 'caller',
      retryable: true,
      details: { scope, limit, retryAfterMs },
    });
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * A request that can never be admitted: the tokens it reserves (prompt estimate plus its maximum
 * output) exceed the whole tokens-per-minute limit of the caller's key, or of every deployment
 * able to serve it. Not retryable (a 429 with Retry-After would be retried forever): the caller
 * must shorten the prompt or lower `max_tokens`, or the operator raise the limit.
 */
export class RequestExceedsLimitError extends KeelError {
  constructor({
    scope,
    tpm,
    requestedTokens,
    route,
  }: {
    /** `key:<id>` or `deployment:<name>` (for deployments, the one with the largest tpm). */
    scope: string;
    tpm: number;
    requestedTokens: number;
    route: string;
  }) {
    const what = scope.startsWith('key:')
      ? `the API key's limit of ${tpm} tokens per minute (tpm)`
      : `${tpm} tokens per minute (tpm), the largest limit of the deployments of model "${route}" (${scope})`;
    super({
      code: 'request_exceeds_limit',
      message:
        `This request reserves ${requestedTokens} tokens (prompt estimate plus expected output tokens), ` +
        `more than ${what}: it can never be admitted. Lower max_tokens or shorten the prompt.`,
      fault: 'caller',
      details: { scope, limit: 'tpm', tpm, requestedTokens, route },
    });
  }
}

/** Which per-attempt limit an upstream exceeded. */
export type UpstreamTimeoutCode =
  'upstream_connect_timeout' | 'upstream_first_byte_timeout' | 'upstream_idle_timeout' | 'upstream_timeout';

const TIMEOUT_WHAT: Record<UpstreamTimeoutCode, string> = {
  upstream_connect_timeout: 'did not accept a connection',
  upstream_first_byte_timeout: 'sent nothing',
  upstream_idle_timeout: 'went silent mid-stream',
  upstream_timeout: 'did not finish',
};

/** One attempt on one deployment exceeded a timeout. Retryable: another attempt may be faster. */
export class UpstreamTimeoutError extends KeelError {
  constructor({
    code,
    deployment,
    timeoutMs,
    cause,
  }: {
    code: UpstreamTimeoutCode;
    deployment: string;
    timeoutMs: number;
    cause?: unknown;
  }) {
    super({
      code,
      message: `Deployment ${deployment} ${TIMEOUT_WHAT[code]} within ${timeoutMs} ms.`,
      fault: 'provider',
      retryable: true,
      details: { deployment, timeoutMs },
      cause,
    });
  }
}

/**
 * The call's time budget ran out across retries and fallbacks. Carries the last upstream error
 * (as `cause` and serialized in details) so the caller sees why the time went.
 */
export class GatewayBudgetExhaustedError extends KeelError {
  constructor({
    route,
    budgetMs,
    attempts,
    lastError,
  }: {
    route: string;
    budgetMs: number;
    attempts: number;
    lastError: unknown;
  }) {
    const last = lastError === undefined ? undefined : serializeError(lastError);
    super({
      code: 'gateway_budget_exhausted',
      message:
        `Model "${route}" did not answer within its ${budgetMs} ms budget (${attempts} attempt(s))` +
        (last === undefined ? '.' : `; last error: ${last.message}`),
      fault: 'provider',
      retryable: true,
      details: { route, budgetMs, attempts, ...(last === undefined ? {} : { lastError: last }) },
      cause: lastError,
    });
  }
}

/**
 * No deployment of the route (or its fallbacks) could be tried: every breaker is open, or every
 * deployment is at its own rate limit. `retryAfterMs` is the earliest moment one may accept.
 */
export class GatewayUnavailableError extends KeelError {
  readonly retryAfterMs: number | undefined;

  constructor({
    route,
    retryAfterMs,
    skipped,
  }: {
    route: string;
    retryAfterMs: number | undefined;
    skipped: Record<string, 'breaker-open' | 'rate-limited' | 'exceeds-tpm' | 'no-embeddings' | 'disabled'>;
  }) {
    super({
      code: 'gateway_unavailable',
      message: `No deployment of model "${route}" is available right now (${Object.entries(skipped)
        .map(([deployment, reason]) => `${deployment}: ${reason}`)
        .join(', ')}).`,
      fault: 'provider',
      retryable: true,
      details: { route, retryAfterMs, skipped },
    });
    this.retryAfterMs = retryAfterMs;
  }
}

/** An embeddings call to a route none of whose deployments can embed. */
export class EmbeddingsUnsupportedError extends KeelError {
  constructor({ route }: { route: string }) {
    super({
      code: 'embeddings_unsupported',
      message: `Model "${route}" has no deployment that supports embeddings.`,
      fault: 'caller',
      details: { model: route },
    });
  }
}

// The meta of a failed call rides beside the error (not inside it) so any error type can carry it
// without changing the shared error classes; the HTTP layer reads it for its `x-keel-*` headers.
const metaOfErrors = new WeakMap<object, CallMeta>();

/** Attaches the meta of the failed call to the error it threw. */
export function attachCallMeta(error: unknown, meta: CallMeta): void {
  if (typeof error === 'object' && error !== null) metaOfErrors.set(error, meta);
}

/** What the gateway did for a call that threw `error` (attempts, deployment, latency), if known. */
export function callMetaOfError(error: unknown): CallMeta | undefined {
  return typeof error === 'object' && error !== null ? metaOfErrors.get(error) : undefined;
}

/**
 * The rate limiter's store (Redis) did not answer in time or refused, and its failure policy is
 * `closed`: the call is refused rather than made without a limit. Retryable (503, Retry-After).
 */
export class RateLimiterUnavailableError extends KeelError {
  readonly retryAfterMs: number;

  constructor({ cause, retryAfterMs = 1_000 }: { cause?: unknown; retryAfterMs?: number } = {}) {
    super({
      code: 'rate_limiter_unavailable',
      message: 'The rate limiter is unavailable (its Redis did not answer); retry shortly.',
      fault: 'system',
      retryable: true,
      details: { retryAfterMs },
      cause,
    });
    this.retryAfterMs = retryAfterMs;
  }
}
