/**
 * Errors of the gateway's HTTP edge, and the one classification of any error into an HTTP status
 * and a kind. Each wire format (OpenAI, Anthropic) turns a classification into its own error body
 * in one function of its own; nothing else decides a status.
 */
import { isKeelError, KeelError } from '../../errors/keel-error.js';
import type { ModelStreamEvent } from '../../model/model.js';

/** What went wrong, in words both wire formats have an error type for. */
export type GatewayErrorKind =
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

/** An error of the HTTP edge: bad body, bad key, unknown model. Always the caller's fault. */
export class GatewayRequestError extends KeelError {
  readonly status: number;
  readonly kind: GatewayErrorKind;
  /** The request field at fault (`model`, `messages.0.content`), when there is one. */
  readonly param: string | undefined;

  constructor({
    code,
    message,
    status = 400,
    kind = 'invalid_request',
    param,
  }: {
    code: string;
    message: string;
    status?: number;
    kind?: GatewayErrorKind;
    param?: string;
  }) {
    super({ code, message, fault: 'caller', details: param === undefined ? {} : { param } });
    this.status = status;
    this.kind = kind;
    this.param = param;
  }
}

/** A body the request schema rejects; `param` names the first field at fault. */
export function invalidRequest(
  message: string,
  param?: string,
  code = 'invalid_request',
): GatewayRequestError {
  return new GatewayRequestError({ code, message, param });
}

/** A model name that is none of the gateway's routes (OpenAI: 404 `model_not_found`). */
export function modelNotFound(model: string): GatewayRequestError {
  return new GatewayRequestError({
    code: 'model_not_found',
    message: `The model "${model}" does not exist on this gateway.`,
    status: 404,
    kind: 'not_found',
    param: 'model',
  });
}

/** How an error is answered over HTTP, before a wire format shapes the body. */
export interface GatewayErrorClass {
  status: number;
  kind: GatewayErrorKind;
  /** Stable machine-readable code, e.g. `rate_limited`, `model_not_found`. */
  code: string;
  message: string;
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

/** Turns gateway stream events into one wire format's server-sent events (OpenAI or Anthropic). */
export interface StreamEncoder {
  /** The opening event: OpenAI's assistant-role chunk, Anthropic's `message_start`. */
  start(): string;
  /** The events for one gateway event ('' when nothing is due); `finish` also ends the stream. */
  encode(event: ModelStreamEvent): string;
  /** An error after the first byte: an error event, and no end-of-stream marker after it. */
  error(errorClass: GatewayErrorClass): string;
}

const TIMEOUT_CODES = new Set([
  'gateway_budget_exhausted',
  'model_timeout',
  'upstream_connect_timeout',
  'upstream_first_byte_timeout',
  'upstream_idle_timeout',
  'upstream_timeout',
]);
const OVERLOADED_CODES = new Set(['gateway_unavailable']);

/**
 * The one place where an error becomes an HTTP status. Errors of the edge carry their status;
 * the gateway's own: `rate_limited` and `budget_exhausted` → 429; an exhausted time budget or a model timeout → 504;
 * open breakers → 503; the provider or the model at fault → 502 (or 503 when the provider was
 * overloaded); a provider rejecting the request as invalid (400/422) → 400; the database
 * unreachable → 503; the caller at fault (a request larger than a whole tpm,
 * `request_exceeds_limit`, among others) → 400, without Retry-After. Anything unknown is a 500
 * with a body, never an empty one.
 */
export function classifyGatewayError(error: unknown): GatewayErrorClass {
  if (error instanceof GatewayRequestError) {
    return {
      status: error.status,
      kind: error.kind,
      code: error.code,
      message: error.message,
      ...(error.param === undefined ? {} : { param: error.param }),
    };
  }
  if (!isKeelError(error)) {
    return {
      status: 500,
      kind: 'internal',
      code: 'internal_error',
      message: 'Internal error in the gateway.',
    };
  }
  const { code, message, fault, retryable, details } = error;
  const retryAfterMs = numberOr(details.retryAfterMs);
  const withRetry = retryAfterMs === undefined ? {} : { retryAfterMs };
  if (code === 'rate_limited') {
    const limit = details.limit === 'rpm' || details.limit === 'tpm' ? details.limit : undefined;
    return {
      status: 429,
      kind: 'rate_limit',
      code,
      message,
      retryAfterMs: retryAfterMs ?? 1_000,
      ...(limit === undefined ? {} : { limit }),
    };
  }
  // A budget the call does not fit: 429, with Retry-After only when the budget's period resets.
  if (code === 'budget_exhausted') return { status: 429, kind: 'rate_limit', code, message, ...withRetry };
  // A paused tenant (by hand or by its spend breaker) makes no calls until it is resumed.
  if (code === 'tenant_paused') return { status: 409, kind: 'permission', code, message };
  // The gateway's unknown route (UnknownRouteError); the edge's own `model_not_found` is a GatewayRequestError.
  if (code === 'unknown_model') return { status: 404, kind: 'not_found', code, message, param: 'model' };
  // A field no deployment of the route can honour; each wire format names it in its own terms.
  if (code === 'unsupported_field' && typeof details.field === 'string')
    return { status: 400, kind: 'invalid_request', code, message, field: details.field };
  if (code === 'payload_too_large') return { status: 413, kind: 'request_too_large', code, message };
  if (TIMEOUT_CODES.has(code)) return { status: 504, kind: 'timeout', code, message };
  if (OVERLOADED_CODES.has(code) || code === 'database_unavailable')
    return { status: 503, kind: 'overloaded', code, message, ...withRetry };
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
export function retryHeaders(errorClass: GatewayErrorClass): Record<string, string> {
  if (errorClass.retryAfterMs === undefined) return {};
  const milliseconds = Math.max(0, Math.ceil(errorClass.retryAfterMs));
  return { 'retry-after': String(Math.ceil(milliseconds / 1000)), 'retry-after-ms': String(milliseconds) };
}

function numberOr(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
