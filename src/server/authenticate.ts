import type { IncomingMessage } from 'node:http';
import { ForbiddenError, UnauthorizedError } from '../errors/auth-errors.js';
import type { ApiKeyRecord, ApiKeys, ApiKeyScope } from '../gateway/api-keys.js';
import { notifyAuthenticated } from './request-context.js';

/** The scopes that allow reading runs, and writing them (submit, cancel, outcome). */
export const READ_SCOPES: readonly ApiKeyScope[] = ['runs:read', 'admin'];
export const WRITE_SCOPES: readonly ApiKeyScope[] = ['runs:write', 'admin'];

/** Scopes that may read step payloads (model responses, tool outputs), besides what `runs:read` shows. */
export const PAYLOAD_SCOPES: readonly ApiKeyScope[] = ['runs:read_payloads', 'admin'];

/** Whether `key` may read step payloads: `GET /v1/runs/{id}/steps?outputs=true`, a step's `payload`. */
export function canReadPayloads(key: Pick<ApiKeyRecord, 'scopes'>): boolean {
  return key.scopes.some((scope) => PAYLOAD_SCOPES.includes(scope));
}

/** Whether `key` may read runs (their input, output, error and steps). */
export function canReadRuns(key: Pick<ApiKeyRecord, 'scopes'>): boolean {
  return key.scopes.some((scope) => READ_SCOPES.includes(scope));
}

const BEARER = /^Bearer +(\S+) *$/i;

/** The key in the request's `Authorization: Bearer` header, if it has one. */
export function presentedKey(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? BEARER.exec(header) : null;
  return match?.[1];
}

/**
 * Verifies the request's `Authorization: Bearer` key and that it holds one of `scopes`.
 * Returns the key's record: its `tenantId` scopes everything the request touches. Throws
 * `UnauthorizedError` (401) for a missing, malformed, unknown, revoked or expired key and
 * `ForbiddenError` (403) for a key without the scope. Then runs the request's `onAuthenticated`
 * hook (the server's per-key rate limit: `RateLimitedError`, 429; and the request log's key).
 */
export async function authenticate({
  request,
  apiKeys,
  scopes,
}: {
  request: IncomingMessage;
  apiKeys: Pick<ApiKeys, 'verify'>;
  scopes: readonly ApiKeyScope[];
}): Promise<ApiKeyRecord> {
  const presented = presentedKey(request);
  if (presented === undefined) throw new UnauthorizedError();
  const record = await apiKeys.verify(presented);
  if (record === undefined) throw new UnauthorizedError('The API key is invalid, revoked or expired.');
  if (!record.scopes.some((scope) => scopes.includes(scope))) throw new ForbiddenError(scopes);
  await notifyAuthenticated(request, record);
  return record;
}
