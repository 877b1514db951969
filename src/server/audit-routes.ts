/**
 * `GET /v1/audit` and `DELETE /v1/users/{id}/data`: the audit log's read side and a user's
 * erasure. Reading the audit log needs `admin` (its own tenant's rows) or `operator` (every
 * tenant's, or `tenant_id`); erasing needs `admin` and acts in the key's tenant.
 */
import { ForbiddenError } from '../errors/auth-errors.js';
import type { AuditRecord } from '../journal/audit-log.js';
import type { AuditFilter } from '../governance/audit-query.js';
import type { ApiKeyRecord, ApiKeyScope } from '../gateway/api-keys.js';
import { auditListResponse, eraseResponse, listAuditQuery } from './governance-schemas.js';
import { configured, decodeId, invalidRequest, sendJson } from './http-io.js';
import { defineRoute, errorResponses } from './route-table.js';
import type { z } from 'zod';

/** Reading the audit log: `admin` in its tenant, `operator` in all. */
export const AUDIT_SCOPES: readonly ApiKeyScope[] = ['admin', 'operator'];

/** An audit row as the API shows it (snake_case). */
export function auditView(entry: AuditRecord) {
  return {
    id: entry.id,
    at: entry.at.toISOString(),
    tenant_id: entry.tenantId,
    actor: entry.actor,
    action: entry.action,
    target: entry.target,
    before: entry.before,
    after: entry.after,
    details: entry.details,
  };
}
export type AuditView = ReturnType<typeof auditView>;

/**
 * The filter a key may ask for: an operator sees every tenant (or the one it names), anyone else
 * its own tenant only (naming another is 403).
 */
export function auditFilterFor(
  caller: Pick<ApiKeyRecord, 'tenantId' | 'scopes'>,
  query: z.infer<typeof listAuditQuery>,
): AuditFilter {
  const operator = caller.scopes.includes('operator');
  if (!operator && query.tenant_id !== undefined && query.tenant_id !== caller.tenantId)
    throw new ForbiddenError(['operator']);
  const since = query.since === undefined ? undefined : new Date(query.since);
  const until = query.until === undefined ? undefined : new Date(query.until);
  if (since !== undefined && until !== undefined && since >= until)
    throw invalidRequest('`since` must be before `until`.');
  return {
    tenantId: operator ? query.tenant_id : caller.tenantId,
    action: query.action,
    actor: query.actor,
    target: query.target,
    since,
    until,
    limit: query.limit,
    cursor: query.cursor,
  };
}

export const auditRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/audit',
    scopes: AUDIT_SCOPES,
    summary: 'The audit log, newest first (scope admin: its tenant; operator: every tenant, or tenant_id)',
    query: listAuditQuery,
    responses: {
      200: { description: 'A page', schema: auditListResponse },
      ...errorResponses(400, 401, 403),
    },
    async handle({ response, key, query, dependencies }) {
      const audit = configured(dependencies.audit, 'audit log');
      const page = await audit.list(auditFilterFor(key, query()));
      return sendJson(response, 200, {
        data: page.entries.map(auditView),
        next_cursor: page.nextCursor ?? null,
      });
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/users/:id/data',
    scopes: ['admin'],
    summary: "Erase an end user's data in the key's tenant (scope admin); audited as user.erase with counts",
    description:
      "Deletes the user's runs (runs.user_id) and the other runs of their sessions that name no user, with their " +
      'steps, payloads, text deltas, approvals, outcomes, feedback and gateway call records, and the feedback the ' +
      'user gave on any run. A run a worker is executing answers 409 user_runs_running and nothing is deleted: ' +
      'cancel it (or wait for it to end) and erase again.',
    responses: {
      200: { description: 'What was erased (counts)', schema: eraseResponse },
      ...errorResponses(401, 403, 404, 409),
    },
    async handle({ response, key, params, dependencies }) {
      const erasure = configured(dependencies.erasure, 'user erasure');
      const userId = decodeId(params.id);
      if (userId === undefined || userId.length > 200)
        throw invalidRequest('The user id must be 1-200 characters.');
      const erased = await erasure.erase({ tenantId: key.tenantId, userId, actor: `key:${key.id}` });
      return sendJson(response, 200, { user_id: userId, tenant_id: key.tenantId, erased });
    },
  }),
];
