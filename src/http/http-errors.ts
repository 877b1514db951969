/**
 * The one place where an error becomes an HTTP status, for the run API and the gateway alike: a
 * status, a kind (what went wrong, in words every wire format has an error type for), the
 * error's code and message, the field at fault and how long to wait. Each wire format (the API's
 * `{ error: { code, message } }`, OpenAI's, Anthropic's) only shapes a classification into its
 * own body; none decides a status.
 */
import { isKeelError, KeelError } from '../errors/keel-error.js';

/** What went wrong, in words every wire format has an error type for. */
export type HttpErrorKind =
  | 'invalid_request'
  | 'authentication'
  | 'permission'
  | 'not_found'
  | 'request_too_large'
  | 'rate_limit'
  | 'upstream'
  | 'overloaded'
  | 'timeout'
  | 'internal';

/** How an error is answered over HTTP, before a wire format shapes the body. */
export interface HttpErrorClass {
  status: number;
  kind: HttpErrorKind;
  /** Stable machine-readable code, e.g. `rate_limited`, `model_not_found`. */
  code: string;
  message: string;
  /** The request field at fault (`model`, `messages.0.content`), when there is one. */
  param?: string;
  /**
   * For `unsupported_field` from a provider: the model request's field it cannot honour
   * (`UnsupportedField.field`, e.g. `content.image.detail`). Each wire format names it in its own
   * terms as the error's param; an error of the edge names its param directly instead.
   */
  field?: string;
  /** For 429 and 503: how long to wait, sent as `Retry-After` (seconds) and `retry-after-ms`. */
  retryAfterMs?: number;
  /** Which limit a 429 hit, when known. */
  limit?: 'rpm' | 'tpm';
}

/** How long a client should wait after a database blip before retrying. */
export const DATABASE_RETRY_AFTER_SECONDS = 1;

const TIMEOUT_CODES = [
  'gateway_budget_exhausted',
  'model_timeout',
  'upstream_connect_timeout',
  'upstream_first_byte_timeout',
  'upstream_idle_timeout',
  'upstream_timeout',
];

/** Status and kind by code: the codes whose status is not their fault's. */
const BY_CODE = new Map<string, readonly [number, HttpErrorKind]>([
  ...['unauthorized', 'missing_api_key', 'invalid_api_key', 'login_link_invalid'].map(
    (code) => [code, [401, 'authentication']] as const,
  ),
  ...['forbidden', 'insufficient_scope'].map((code) => [code, [403, 'permission']] as const),
  ...[
    'not_found',
    'model_not_found',
    'run_not_found',
    'step_not_found',
    'approval_not_found',
    'key_not_found',
    'budget_not_found',
    'session_not_found',
    'eval_not_found',
    'unknown_agent',
    'prompt_version_not_found',
    'control_not_found',
    'console_login_disabled',
  ].map((code) => [code, [404, 'not_found']] as const),
  ['method_not_allowed', [405, 'invalid_request']],
  ...[
    'run_not_ended',
    'run_not_dead',
    'run_already_retried',
    'outcome_already_recorded',
    'session_busy',
    'approval_not_pending',
    'prompt_not_pinned',
    'user_runs_running',
    'agent_paused',
    'agent_disabled',
    'budget_exists',
  ].map((code) => [code, [409, 'invalid_request']] as const),
  // A paused tenant (by hand or by its spend breaker) makes no calls until it is resumed.
  ['tenant_paused', [409, 'permission']],
  ['payload_too_large', [413, 'request_too_large']],
  ['idempotency_key_reused', [422, 'invalid_request']],
  ...['rate_limited', 'budget_exhausted', 'too_many_streams'].map(
    (code) => [code, [429, 'rate_limit']] as const,
  ),
  ['not_configured', [501, 'internal']],
  ...[
    'database_unavailable',
    'budgets_unavailable',
    'gateway_unavailable',
    'rate_limiter_unavailable',
    'request_timeout',
  ].map((code) => [code, [503, 'overloaded']] as const),
  ...TIMEOUT_CODES.map((code) => [code, [504, 'timeout']] as const),
]);

/**
 * An error of the HTTP edge (a bad body, a bad key, an unknown model): always the caller's
 * fault; its status and kind are its code's in the table above (400 for any other code).
 */
export class HttpRequestError extends KeelError {
  readonly status: number;
  readonly kind: HttpErrorKind;
  /** The request field at fault (`model`, `messages.0.content`), when there is one. */
  readonly param: string | undefined;

  constructor({
    code,
    message,
    status,
    kind,
    param,
  }: {
    code: string;
    message: string;
    status?: number;
    kind?: HttpErrorKind;
    param?: string;
  }) {
    super({ code, message, fault: 'caller', details: param === undefined ? {} : { param } });
    const known = BY_CODE.get(code);
    this.status = status ?? known?.[0] ?? 400;
    this.kind = kind ?? known?.[1] ?? 'invalid_request';
    this.param = param;
  }
}

/**
 * Classifies any error. By code first (the table above): 401 for a missing or bad key, 403 for a
 * missing scope, 404, 405, 409, 413, 422; `rate_limited` (with its wait, 1 s when unknown) and
 * `budget_exhausted` (a wait only when the budget's period resets) → 429; the database, budgets
 * or every deployment unavailable → 503 (a database blip: wait 1 s); an exhausted time budget or
 * a model timeout → 504. Then by fault: the provider or the model → 502 (400 when the provider
 * refused the request as invalid, 503 when it was overloaded, 504 when it timed out); the
 * caller → 400; a retryable system error → 503; anything else, unknown errors included, → 500
 * with a body (`internalMessage`), never an empty one.
 */
export function classifyError(error: unknown, internalMessage = 'Internal error.'): HttpErrorClass {
  if (!isKeelError(error))
    return { status: 500, kind: 'internal', code: 'internal_error', message: internalMessage };
  const { code, message, fault, retryable, details } = error;
  if (error instanceof HttpRequestError) {
    return {
      status: error.status,
      kind: error.kind,
      code,
      message,
      ...(error.param === undefined ? {} : { param: error.param }),
    };
  }
  const retryAfterMs =
    code === 'database_unavailable' ? DATABASE_RETRY_AFTER_SECONDS * 1000 : numberOr(details.retryAfterMs);
  const withRetry = retryAfterMs === undefined ? {} : { retryAfterMs };
  const known = BY_CODE.get(code);
  if (known !== undefined) {
    const [status, kind] = known;
    if (code === 'rate_limited') {
      const limit = details.limit === 'rpm' || details.limit === 'tpm' ? details.limit : undefined;
      return {
        status,
        kind,
        code,
        message,
        retryAfterMs: retryAfterMs ?? 1_000,
        ...(limit === undefined ? {} : { limit }),
      };
    }
    if (status === 429 || status === 503) return { status, kind, code, message, ...withRetry };
    return { status, kind, code, message };
  }
  // The gateway's unknown route (UnknownRouteError); the edge's own `model_not_found` names it too.
  if (code === 'unknown_model') return { status: 404, kind: 'not_found', code, message, param: 'model' };
  // A field no deployment of the route can honour; each wire format names it in its own terms.
  if (code === 'unsupported_field' && typeof details.field === 'string')
    return { status: 400, kind: 'invalid_request', code, message, field: details.field };
  if (fault === 'provider' || fault === 'model') {
    const upstreamStatus = numberOr(details.status);
    if (upstreamStatus === 400 || upstreamStatus === 422)
      return { status: 400, kind: 'invalid_request', code, message };
    if (upstreamStatus === 429 || upstreamStatus === 503 || upstreamStatus === 529)
      return { status: 503, kind: 'overloaded', code, message, ...withRetry };
    if (upstreamStatus === 408 || upstreamStatus === 504)
      return { status: 504, kind: 'timeout', code, message };
    return { status: 502, kind: 'upstream', code, message };
  }
  if (fault === 'caller') return { status: 400, kind: 'invalid_request', code, message };
  if (retryable) return { status: 503, kind: 'overloaded', code, message, ...withRetry };
  return { status: 500, kind: 'internal', code, message };
}

/** `Retry-After` (whole seconds, rounded up) and `retry-after-ms` for a classified error. */
export function retryHeaders(errorClass: HttpErrorClass): Record<string, string> {
  if (errorClass.retryAfterMs === undefined) return {};
  const milliseconds = Math.max(0, Math.ceil(errorClass.retryAfterMs));
  return { 'retry-after': String(Math.ceil(milliseconds / 1000)), 'retry-after-ms': String(milliseconds) };
}

function numberOr(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
