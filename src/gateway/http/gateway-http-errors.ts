/**
 * The gateway's names for the HTTP layer's errors (`src/http/http-errors.ts`: the one
 * classification of any error into a status and a kind, for the run API and the gateway alike),
 * its edge's own errors, and the stream encoder each wire format implements. Each wire format
 * (OpenAI, Anthropic, Responses) turns a classification into its own error body in one function
 * of its own; nothing here or there decides a status.
 */
import type { ModelResponse, ModelStreamEvent } from '../../model/model.js';
import {
  classifyError,
  HttpRequestError,
  type HttpErrorClass,
  type HttpErrorKind,
} from '../../http/http-errors.js';

export { retryHeaders } from '../../http/http-errors.js';

/** What went wrong, in words both wire formats have an error type for. */
export type GatewayErrorKind = HttpErrorKind;

/** How an error is answered over HTTP, before a wire format shapes the body. */
export type GatewayErrorClass = HttpErrorClass;

/** An error of the HTTP edge: bad body, bad key, unknown model. Always the caller's fault. */
export { HttpRequestError as GatewayRequestError };

/** A body the request schema rejects; `param` names the first field at fault. */
export function invalidRequest(message: string, param?: string, code = 'invalid_request'): HttpRequestError {
  return new HttpRequestError({ code, message, ...(param === undefined ? {} : { param }) });
}

/** A model name that is none of the gateway's routes (OpenAI: 404 `model_not_found`). */
export function modelNotFound(model: string): HttpRequestError {
  return new HttpRequestError({
    code: 'model_not_found',
    message: `The model "${model}" does not exist on this gateway.`,
    param: 'model',
  });
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

/** The HTTP layer's classification, with the gateway's words for an unknown error. */
export function classifyGatewayError(error: unknown): GatewayErrorClass {
  return classifyError(error, 'Internal error in the gateway.');
}

/**
 * Writes a relayed stream (the upstream's events in the caller's own wire format) as the caller's
 * server-sent events, adjusting only what the gateway's answers always carry.
 */
export interface WireWriter {
  /** The caller's bytes for one upstream event's data and its JSON value ('' when none are due). */
  event(data: string, value: unknown): string;
  /** The end of a complete answer (its usage as the call recorded it, the end marker). */
  end(answer: ModelResponse): string;
  /** An error after the first byte: an error event, and no end-of-stream marker after it. */
  error(errorClass: GatewayErrorClass): string;
}
