import type { ServerResponse } from 'node:http';
import { isKeelError, serializeError } from '../errors/keel-error.js';
import { sendJson } from './http-io.js';

/**
 * The one place where errors become HTTP: a status, a JSON body `{ error: { code, message } }`
 * and headers to send with it: `Retry-After` (whole seconds, rounded up) and `retry-after-ms`
 * for a rate limit (429), `Retry-After: 1` for a database blip (503).
 */
export function toHttpError(error: unknown): {
  status: number;
  body: { error: { code: string; message: string; details?: Record<string, unknown> } };
  headers: Record<string, string>;
} {
  if (!isKeelError(error)) {
    return {
      status: 500,
      body: { error: { code: 'internal_error', message: 'Internal error.' } },
      headers: {},
    };
  }
  const serialized = serializeError(error);
  const status = statusFor(error.code, error.fault, error.retryable);
  return {
    status,
    body: { error: { code: serialized.code, message: serialized.message } },
    headers: headersFor(error.code, error.details),
  };
}

/** How long a client should wait after a database blip before retrying. */
export const DATABASE_RETRY_AFTER_SECONDS = 1;

function headersFor(code: string, details: Record<string, unknown>): Record<string, string> {
  if (code === 'database_unavailable') return { 'retry-after': String(DATABASE_RETRY_AFTER_SECONDS) };
  const retryAfterMs = details.retryAfterMs;
  if (
    (code === 'rate_limited' || code === 'budget_exhausted') &&
    typeof retryAfterMs === 'number' &&
    Number.isFinite(retryAfterMs)
  ) {
    const milliseconds = Math.max(0, Math.ceil(retryAfterMs));
    return {
      'retry-after': String(Math.ceil(milliseconds / 1000)),
      'retry-after-ms': String(milliseconds),
    };
  }
  return {};
}

const STATUS_BY_CODE: Record<string, number> = {
  unauthorized: 401,
  login_link_invalid: 401,
  forbidden: 403,
  run_not_found: 404,
  step_not_found: 404,
  approval_not_found: 404,
  key_not_found: 404,
  budget_not_found: 404,
  not_found: 404,
  session_not_found: 404,
  eval_not_found: 404,
  unknown_agent: 404,
  prompt_version_not_found: 404,
  method_not_allowed: 405,
  run_not_ended: 409,
  outcome_already_recorded: 409,
  session_busy: 409,
  approval_not_pending: 409,
  prompt_not_pinned: 409,
  user_runs_running: 409,
  agent_paused: 409,
  tenant_paused: 409,
  agent_disabled: 409,
  control_not_found: 404,
  budget_exists: 409,
  payload_too_large: 413,
  idempotency_key_reused: 422,
  rate_limited: 429,
  budget_exhausted: 429,
  too_many_streams: 429,
  database_unavailable: 503,
  budgets_unavailable: 503,
  not_configured: 501,
  console_login_disabled: 404,
  request_timeout: 503,
};

function statusFor(code: string, fault: string, retryable: boolean): number {
  const known = STATUS_BY_CODE[code];
  if (known !== undefined) return known;
  if (fault === 'caller') return 400;
  if (fault === 'provider' || fault === 'model') return 502;
  return retryable ? 503 : 500;
}

/** Answers with `error` mapped by {@link toHttpError} (status, body, headers); returns the status. */
export function sendError(response: ServerResponse, error: unknown): number {
  const { status, body, headers } = toHttpError(error);
  if (!response.headersSent)
    for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
  sendJson(response, status, body);
  return status;
}
