import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../util/logger.js';
import { classifyError, retryHeaders } from '../http/http-errors.js';
import { sendJson } from '../http/http-io.js';

/**
 * The API's error answers: the HTTP layer's one classification (`src/http/http-errors.ts`: the
 * status, and `Retry-After` in whole seconds, rounded up, with `retry-after-ms`, for a rate
 * limit or a database blip) in the API's body, `{ error: { code, message } }`.
 */
export function toHttpError(error: unknown): {
  status: number;
  body: { error: { code: string; message: string; details?: Record<string, unknown> } };
  headers: Record<string, string>;
} {
  const errorClass = classifyError(error);
  return {
    status: errorClass.status,
    body: { error: { code: errorClass.code, message: errorClass.message } },
    headers: retryHeaders(errorClass),
  };
}

/** Answers with `error` mapped by {@link toHttpError} (status, body, headers); returns the status. */
export function sendError(response: ServerResponse, error: unknown): number {
  const { status, body, headers } = toHttpError(error);
  if (!response.headersSent)
    for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
  sendJson(response, status, body);
  return status;
}

/** The one error path of an API listener: {@link sendError}'s answer, and a log line for a 5xx. */
export function answerErrors(
  logger: Logger,
): (request: IncomingMessage, response: ServerResponse, error: unknown) => void {
  return (request, response, error) => {
    const status = sendError(response, error);
    if (status >= 500)
      logger.error('request failed', {
        method: request.method,
        url: request.url,
        status,
        requestId: response.getHeader('x-request-id'),
        error: error instanceof Error ? error.message : String(error),
      });
  };
}
