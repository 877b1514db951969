/**
 * Reading a JSON body within a size limit and answering JSON, for the run API and the gateway
 * alike.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { parseJsonUtf8 } from '../util/json-utf8.js';
import { HttpRequestError } from './http-errors.js';

/**
 * Reads and parses a JSON body: 413 `payload_too_large` beyond `limit` bytes (declared or
 * arrived), read and dropped so the client can finish sending and read the answer; 400
 * `invalid_json` for a body that is not JSON (or empty). One buffer for a body that came in one
 * chunk, no copy; parsed from its bytes (json-utf8.ts: a large body with a few non-ASCII
 * characters costs several times less than decoded whole).
 */
export function readJsonBody(request: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length']);
    if (declared > limit) {
      request.resume();
      reject(tooLarge(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.off('data', onData);
        request.off('end', onEnd);
        chunks.length = 0;
        // Keep reading (and dropping) so the client can finish sending and read the 413.
        request.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      try {
        resolve(parseJsonUtf8(bytes));
      } catch {
        reject(
          new HttpRequestError({
            code: 'invalid_json',
            message:
              bytes.toString('utf8').trim() === ''
                ? 'The request body is empty; send a JSON object.'
                : 'The request body is not valid JSON.',
          }),
        );
      }
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', reject);
  });
}

function tooLarge(limit: number): HttpRequestError {
  return new HttpRequestError({
    code: 'payload_too_large',
    message: `Request body larger than ${limit} bytes.`,
  });
}

/** The API's JSON media type (a wire format may send its own). */
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/**
 * Answers `body` as JSON with `status`, its `contentType` and length, and `headers`. On a response
 * whose headers already left it only ends it; on a destroyed one it does nothing.
 */
export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers?: OutgoingHttpHeaders,
  contentType = JSON_CONTENT_TYPE,
): void {
  sendJsonText(response, status, JSON.stringify(body), headers, contentType);
}

/** {@link sendJson} for a body already serialised. */
export function sendJsonText(
  response: ServerResponse,
  status: number,
  text: string,
  headers?: OutgoingHttpHeaders,
  contentType = JSON_CONTENT_TYPE,
): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  if (response.destroyed) return;
  const head: OutgoingHttpHeaders = {
    'content-type': contentType,
    'content-length': Buffer.byteLength(text),
  };
  if (headers !== undefined) Object.assign(head, headers);
  response.writeHead(status, head);
  response.end(text);
}
