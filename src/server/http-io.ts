import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { KeelError } from '../errors/keel-error.js';
import { isStorableText } from './schemas.js';

/**
 * The small HTTP helpers every route module of the API shares: path ids, JSON bodies with a size
 * cap, schema validation into `invalid_request`, JSON answers, and the caller-fault errors.
 */

export function decodeId(segment: string | undefined): string | undefined {
  if (segment === undefined) return undefined;
  try {
    const decoded = decodeURIComponent(segment);
    return decoded.length > 0 && decoded.length <= 200 && isStorableText(decoded) ? decoded : undefined;
  } catch {
    return undefined;
  }
}

export function notFound(message: string): KeelError {
  return new KeelError({ code: 'not_found', message, fault: 'caller' });
}

export function methodNotAllowed(route: string): KeelError {
  return new KeelError({
    code: 'method_not_allowed',
    message: `Method not allowed: ${route}.`,
    fault: 'caller',
  });
}

export function invalidRequest(message: string): KeelError {
  return new KeelError({ code: 'invalid_request', message, fault: 'caller' });
}

export function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export async function readJson(request: IncomingMessage, maxBodyBytes: number): Promise<unknown> {
  const declared = Number(request.headers['content-length']);
  if (declared > maxBodyBytes) throw tooLarge(maxBodyBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > maxBodyBytes) throw tooLarge(maxBodyBytes);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new KeelError({ code: 'invalid_json', message: 'Body is not valid JSON.', fault: 'caller' });
  }
}

export function tooLarge(maxBodyBytes: number): KeelError {
  return new KeelError({
    code: 'payload_too_large',
    message: `Body larger than ${maxBodyBytes} bytes.`,
    fault: 'caller',
  });
}

export function parseWith<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`)
    .join('; ');
  throw invalidRequest(`Invalid request: ${issues}`);
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  sendText(response, status, JSON.stringify(body));
}

export function sendText(response: ServerResponse, status: number, text: string): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

/**
 * A store a route needs, which a server built without a database client lacks: such a server
 * answers its routes with `not_configured` (a deployment's mistake, not the caller's).
 */
export function configured<T>(store: T | undefined, what: string): T {
  if (store !== undefined) return store;
  throw new KeelError({
    code: 'not_configured',
    message: `This server has no ${what} (it was created without a database client).`,
    fault: 'system',
  });
}
