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

function statusFor(code: string, fault: string, retryable: boolean): number {
  if (code === 'run_not_found' || code === 'not_found') return 404;
  if (code === 'unknown_agent') return 404;
  if (code === 'payload_too_large') return 413;
  if (code === 'database_unavailable') return 503;
  if (fault === 'caller') return 400;
  if (fault === 'provider' || fault === 'model') return 502;
  return retryable ? 503 : 500;
}
