import { isKeelError, serializeError } from '../errors/keel-error.js';

/** The one place where errors become HTTP: a status and a JSON body `{ error: { code, message } }`. */
export function toHttpError(error: unknown): {
  status: number;
  body: { error: { code: string; message: string; details?: Record<string, unknown> } };
} {
  if (!isKeelError(error)) {
    return { status: 500, body: { error: { code: 'internal_error', message: 'Internal error.' } } };
  }
  const serialized = serializeError(error);
  const status = statusFor(error.code, error.fault, error.retryable);
  return { status, body: { error: { code: serialized.code, message: serialized.message } } };
}

const STATUS_BY_CODE: Record<string, number> = {
  unauthorized: 401,
  forbidden: 403,
  run_not_found: 404,
  not_found: 404,
  unknown_agent: 404,
  method_not_allowed: 405,
  run_not_ended: 409,
  outcome_already_recorded: 409,
  payload_too_large: 413,
  database_unavailable: 503,
};

function statusFor(code: string, fault: string, retryable: boolean): number {
  const known = STATUS_BY_CODE[code];
  if (known !== undefined) return known;
  if (fault === 'caller') return 400;
  if (fault === 'provider' || fault === 'model') return 502;
  return retryable ? 503 : 500;
}
