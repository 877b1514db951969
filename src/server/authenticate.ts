import type { IncomingMessage } from 'node:http';
import { ForbiddenError, UnauthorizedError } from '../errors/auth-errors.js';
import type { ApiKeyRecord, ApiKeys, ApiKeyScope } from '../gateway/api-keys.js';
import { verifyKey, type KeyRefusals } from '../http/authenticate.js';
import { notifyAuthenticated } from './request-context.js';

export { presentedKey } from '../http/authenticate.js';

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

/** The API's refusals: 401 `unauthorized`, 403 `forbidden`. */
const API_REFUSALS: KeyRefusals = {
  missing: () => new UnauthorizedError(),
  invalid: () => new UnauthorizedError('The API key is invalid, revoked or expired.'),
  forbidden: (_key, scopes) => new ForbiddenError(scopes),
};

/**
 * Verifies the request's `Authorization: Bearer` key and that it holds one of `scopes` (the HTTP
 * layer's `verifyKey`). Returns the key's record: its `tenantId` scopes everything the request
 * touches. Throws `UnauthorizedError` (401) for a missing, malformed, unknown, revoked or expired
 * key and `ForbiddenError` (403) for a key without the scope. Then runs the request's
 * `onAuthenticated` hook (the server's per-key rate limit: `RateLimitedError`, 429; and the
 * request log's key).
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
  const record = await verifyKey(request, apiKeys, scopes, API_REFUSALS);
  await notifyAuthenticated(request, record);
  return record;
}
