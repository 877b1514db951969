/**
 * Authentication for the run API and the gateway alike: the Keel API key a request presents
 * (`Authorization: Bearer`, and `x-api-key` where a wire format sends it so), verified to its
 * record, which must hold one of the scopes the route asks for. Each surface words its refusals
 * (the API's `unauthorized` / `forbidden`, the gateway's `missing_api_key`, `invalid_api_key`,
 * `insufficient_scope`); their statuses are the one classification's (`http-errors.ts`).
 */
import type { IncomingMessage } from 'node:http';
import type { KeelError } from '../errors/keel-error.js';
import type { ApiKeyRecord, ApiKeys, ApiKeyScope } from '../gateway/api-keys.js';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * The key in the request's `Authorization: Bearer` header, else (with `xApiKey`) its `x-api-key`
 * header (trimmed), if it has one.
 */
export function presentedKey(request: IncomingMessage, xApiKey = false): string | undefined {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const match = BEARER.exec(authorization);
    if (match?.[1] !== undefined) return match[1];
  }
  if (xApiKey) {
    const apiKey = request.headers['x-api-key'];
    if (typeof apiKey === 'string' && apiKey.trim() !== '') return apiKey.trim();
  }
  return undefined;
}

/** How a surface words the refusals of {@link verifyKey}. */
export interface KeyRefusals {
  /** No key presented. */
  missing(): KeelError;
  /** A key unknown, revoked or expired. */
  invalid(): KeelError;
  /** A valid key without one of `scopes`. */
  forbidden(key: ApiKeyRecord, scopes: readonly ApiKeyScope[]): KeelError;
}

/**
 * Verifies the request's key (see {@link presentedKey}) and that it holds one of `scopes`;
 * returns its record, whose `tenantId` scopes everything the request touches. Throws the
 * surface's refusal otherwise.
 */
export async function verifyKey(
  request: IncomingMessage,
  apiKeys: Pick<ApiKeys, 'verify'>,
  scopes: readonly ApiKeyScope[],
  refusals: KeyRefusals,
  xApiKey = false,
): Promise<ApiKeyRecord> {
  const presented = presentedKey(request, xApiKey);
  if (presented === undefined) throw refusals.missing();
  const record = await apiKeys.verify(presented);
  if (record == null) throw refusals.invalid();
  if (!record.scopes.some((scope) => scopes.includes(scope))) throw refusals.forbidden(record, scopes);
  return record;
}
