/**
 * `/v1/keys`: API keys over HTTP, so that a running server (which may own the embedded database)
 * can create, list and revoke them. Needs `admin` (its own tenant's keys) or `operator` (every
 * tenant's keys). An admin key cannot mint `operator` keys nor reach another tenant's keys:
 * another tenant's key id answers 404, as one that does not exist. A new key's secret is in the
 * creation answer only; lists and revocations never show it.
 *
 * - `POST /v1/keys` `{tenant_id?, scopes, name?, rpm?, tpm?, expires_at?}` → 201 the key with
 *   its secret (`key`);
 * - `GET /v1/keys[?tenant_id=]` → the keys, newest first (an admin key sees its tenant's only);
 * - `POST /v1/keys/{id}/revoke` → the revoked key (revoking again is harmless).
 */
import { ForbiddenError } from '../errors/auth-errors.js';
import { KeelError } from '../errors/keel-error.js';
import type { ApiKeyRecord, ApiKeys, ApiKeyScope } from '../gateway/api-keys.js';
import { decodeId, sendJson } from './http-io.js';
import { defineRoute, errorResponses } from './route-table.js';
import {
  createdKeyResponse,
  createKeyRequest,
  keyListResponse,
  keyResponse,
  listKeysQuery,
} from './schemas.js';

/** The scopes that manage keys: `admin` in its tenant, `operator` in all. */
export const KEY_SCOPES: readonly ApiKeyScope[] = ['admin', 'operator'];

/** A key as the API shows it (snake_case; never the secret nor its hash). */
export type KeyView = ReturnType<typeof keyView>;

/** A key as the API shows it (snake_case; never the secret nor its hash). */
export function keyView(record: ApiKeyRecord, now: number = Date.now()) {
  const status =
    record.revokedAt !== undefined
      ? 'revoked'
      : record.expiresAt !== undefined && record.expiresAt.getTime() <= now
        ? 'expired'
        : 'active';
  return {
    id: record.id,
    tenant_id: record.tenantId,
    name: record.name,
    prefix: record.prefix,
    scopes: record.scopes,
    rpm: record.rpm ?? null,
    tpm: record.tpm ?? null,
    status,
    created_at: record.createdAt.toISOString(),
    last_used_at: record.lastUsedAt?.toISOString() ?? null,
    revoked_at: record.revokedAt?.toISOString() ?? null,
    expires_at: record.expiresAt?.toISOString() ?? null,
  } as const;
}

/** API key management in the API's shapes: over the database (`keyAdmin`) or over HTTP (the CLI). */
export interface KeyAdmin {
  createKey(body: {
    tenant_id: string;
    scopes: readonly ApiKeyScope[];
    name?: string;
    rpm?: number;
    tpm?: number;
    expires_at?: string;
  }): Promise<KeyView & { key: string }>;
  listKeys(tenantId: string | undefined): Promise<KeyView[]>;
  /** Undefined when there is no such key (in `tenantId`, when given). */
  revokeKey(id: string, scope?: { tenantId?: string }): Promise<KeyView | undefined>;
}

/**
 * The key operations over `apiKeys`, in the API's shapes (authorization is the caller's);
 * every create and revoke is audited with `actor` (`key:<id>` of the caller, `cli:<user>`).
 */
export function keyAdmin(apiKeys: ApiKeys, actor: string, now: () => number = Date.now): KeyAdmin {
  return {
    async createKey(body) {
      const { key, record } = await apiKeys.create({
        actor,
        tenantId: body.tenant_id,
        scopes: body.scopes,
        ...(body.name === undefined ? {} : { name: body.name }),
        ...(body.rpm === undefined ? {} : { rpm: body.rpm }),
        ...(body.tpm === undefined ? {} : { tpm: body.tpm }),
        ...(body.expires_at === undefined ? {} : { expiresAt: new Date(body.expires_at) }),
      });
      return { key, ...keyView(record, now()) };
    },
    listKeys: async (tenantId) =>
      (await apiKeys.list(tenantId === undefined ? {} : { tenantId })).map((record) =>
        keyView(record, now()),
      ),
    async revokeKey(id, scope = {}) {
      const revoked = await apiKeys.revoke(id, { ...scope, actor });
      return revoked === undefined ? undefined : keyView(revoked, now());
    },
  };
}

class KeyNotFoundError extends KeelError {
  constructor(id: string) {
    super({ code: 'key_not_found', message: `API key ${id} not found.`, fault: 'caller', details: { id } });
  }
}

/** The `/v1/keys` routes (scope `admin`: its tenant's keys; `operator`: every tenant's). */
export const keyRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/keys',
    scopes: KEY_SCOPES,
    summary:
      'List API keys, newest first (scope admin: its own tenant; operator: every tenant, or tenant_id)',
    query: listKeysQuery,
    responses: {
      200: { description: 'Keys (never their secrets)', schema: keyListResponse },
      ...errorResponses(400, 401, 403),
    },
    async handle({ response, key: caller, query, dependencies: { apiKeys } }) {
      const operator = caller.scopes.includes('operator');
      const filter = query();
      const tenantId = operator ? filter.tenant_id : caller.tenantId;
      if (!operator && filter.tenant_id !== undefined && filter.tenant_id !== caller.tenantId)
        throw new ForbiddenError(['operator']);
      return sendJson(response, 200, {
        data: await keyAdmin(apiKeys, `key:${caller.id}`).listKeys(tenantId),
      });
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/keys',
    scopes: KEY_SCOPES,
    summary:
      'Create an API key (scope admin: in its own tenant, without operator; operator: any tenant); the secret is in this answer only',
    body: createKeyRequest,
    responses: {
      201: { description: 'The key, with its secret', schema: createdKeyResponse },
      ...errorResponses(400, 401, 403, 413),
    },
    async handle({ response, key: caller, body, dependencies: { apiKeys } }) {
      const operator = caller.scopes.includes('operator');
      const request = await body();
      const tenantId = request.tenant_id ?? caller.tenantId;
      // Another tenant's keys, or a key that could reach them, only from an operator.
      if (!operator && (tenantId !== caller.tenantId || request.scopes.includes('operator')))
        throw new ForbiddenError(['operator']);
      return sendJson(
        response,
        201,
        await keyAdmin(apiKeys, `key:${caller.id}`).createKey({ ...request, tenant_id: tenantId }),
      );
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/keys/:id/revoke',
    scopes: KEY_SCOPES,
    summary: 'Revoke an API key (scope admin: its own tenant; operator: any); repeating it is harmless',
    responses: {
      200: { description: 'The revoked key', schema: keyResponse },
      ...errorResponses(401, 403, 404),
    },
    async handle({ response, key: caller, params, dependencies: { apiKeys } }) {
      const keyId = decodeId(params.id);
      if (keyId === undefined) throw new KeyNotFoundError(params.id ?? '');
      const operator = caller.scopes.includes('operator');
      const revoked = await keyAdmin(apiKeys, `key:${caller.id}`).revokeKey(
        keyId,
        operator ? {} : { tenantId: caller.tenantId },
      );
      if (revoked === undefined) throw new KeyNotFoundError(keyId);
      return sendJson(response, 200, revoked);
    },
  }),
];
