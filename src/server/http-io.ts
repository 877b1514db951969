import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { KeelError } from '../errors/keel-error.js';
import { isStorableText } from './schemas.js';

/**
 * The small helpers every route module of the API shares: path ids, schema validation into
 * `invalid_request`, and the caller-fault errors. Body reading and JSON answers are the HTTP
 * layer's (`src/http/http-io.ts`), shared with the gateway.
 */

export { sendJson } from '../http/http-io.js';

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

export function parseWith<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`)
    .join('; ');
  throw invalidRequest(`Invalid request: ${issues}`);
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
