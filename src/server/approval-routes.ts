/**
 * `/v1/approvals`: the human side of tool approvals. A key with the `approvals` (or `admin`)
 * scope lists its tenant's approvals, reads one, and decides a pending one; the decision is
 * recorded with the key that took it (`key:<id>`), and deciding a run's last pending approval
 * queues the run so any worker resumes it. Another tenant's approval answers 404, as one that
 * does not exist; a decision on an approval that is no longer pending answers 409
 * (`approval_not_pending`), except that repeating the same decision with the same key is
 * harmless and answers 200 with the approval unchanged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApprovalNotFoundError } from '../errors/approval-errors.js';
import type { ApiKeys, ApiKeyScope } from '../gateway/api-keys.js';
import type { JournalStore } from '../journal/store.js';
import type { ApprovalRecord } from '../journal/types.js';
import { authenticate } from './authenticate.js';
import { decideApprovalRequest, listApprovalsQuery } from './schemas.js';
import { decodeId, methodNotAllowed, notFound, parseWith, readJson, sendJson } from './http-io.js';

/** The scopes that allow reading and deciding approvals. */
export const APPROVAL_SCOPES: readonly ApiKeyScope[] = ['approvals', 'admin'];

/** Options of {@link handleApprovalRoute}. */
export interface ApprovalRouteOptions {
  request: IncomingMessage;
  response: ServerResponse;
  url: URL;
  store: JournalStore;
  apiKeys: Pick<ApiKeys, 'verify'>;
  maxBodyBytes: number;
}

/** An approval as the API returns it (snake_case, no tenant). */
export function approvalView(approval: ApprovalRecord) {
  return {
    id: approval.id,
    run_id: approval.runId,
    step_seq: approval.stepSeq,
    tool: approval.tool,
    arguments: approval.arguments,
    status: approval.status,
    reason: approval.reason,
    decided_by: approval.decidedBy,
    requested_at: approval.requestedAt.toISOString(),
    decided_at: approval.decidedAt?.toISOString() ?? null,
    expires_at: approval.expiresAt?.toISOString() ?? null,
  };
}

/**
 * Answers a request whose path starts with `/v1/approvals`. Errors are thrown (the server maps
 * them with `toHttpError`); the method is checked before the key, as for `/v1/runs`.
 */
export async function handleApprovalRoute({
  request,
  response,
  url,
  store,
  apiKeys,
  maxBodyBytes,
}: ApprovalRouteOptions): Promise<void> {
  const parts = url.pathname.split('/').filter(Boolean);
  const method = request.method ?? 'GET';
  const route = `${method} ${url.pathname}`;

  if (parts.length === 2) {
    if (method !== 'GET') throw methodNotAllowed(route);
    const key = await authenticate({ request, apiKeys, scopes: APPROVAL_SCOPES });
    const query = parseWith(listApprovalsQuery, Object.fromEntries(url.searchParams));
    const page = await store.listApprovalsPage({
      tenantId: key.tenantId,
      runId: query.run_id,
      status: query.status,
      limit: query.limit,
      cursor: query.cursor,
    });
    return sendJson(response, 200, {
      data: page.approvals.map(approvalView),
      next_cursor: page.nextCursor ?? null,
    });
  }
  if (parts.length !== 3) throw notFound(`No route for ${route}.`);
  if (method !== 'GET' && method !== 'POST') throw methodNotAllowed(route);
  const key = await authenticate({ request, apiKeys, scopes: APPROVAL_SCOPES });
  const approvalId = decodeId(parts[2]);
  // An id that cannot exist is answered like one that does not.
  if (approvalId === undefined) throw new ApprovalNotFoundError(parts[2] ?? '');

  if (method === 'GET') {
    const approval = await store.getApproval(approvalId, { tenantId: key.tenantId });
    if (!approval) throw new ApprovalNotFoundError(approvalId);
    return sendJson(response, 200, approvalView(approval));
  }
  const body = parseWith(decideApprovalRequest, await readJson(request, maxBodyBytes));
  const decided = await store.decideApproval({
    approvalId,
    tenantId: key.tenantId,
    decision: body.decision,
    reason: body.reason ?? null,
    decidedBy: `key:${key.id}`,
  });
  return sendJson(response, 200, approvalView(decided));
}
