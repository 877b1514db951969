/**
 * `/v1/approvals`: the human side of tool approvals. A key with the `approvals` (or `admin`)
 * scope lists its tenant's approvals, reads one, and decides a pending one; the decision is
 * recorded with the key that took it (`key:<id>`), and deciding a run's last pending approval
 * queues the run so any worker resumes it. Another tenant's approval answers 404, as one that
 * does not exist; a decision on an approval that is no longer pending answers 409
 * (`approval_not_pending`), except that repeating the same decision with the same key is
 * harmless and answers 200 with the approval unchanged.
 *
 * A budget extension approval (`kind: 'budget_extension'`, tool `budget:<id>`) is decided the
 * same way, but only by an `admin` key (changing a budget needs `admin`, and approving one raises
 * it): 403 `forbidden` otherwise, nothing decided. Approving it raises the budget's limits by
 * `extend_usd` / `extend_tokens` (default: all the held call needs) in the decision's
 * transaction, audited `budget.extend` by the key.
 */
import { approvalKindOf, decideApprovalWithExtension } from '../budgets/budget-approval.js';
import { ApprovalNotFoundError } from '../errors/approval-errors.js';
import { ForbiddenError } from '../errors/auth-errors.js';
import type { ApiKeyScope } from '../gateway/api-keys.js';
import type { ApprovalRecord } from '../journal/types.js';
import { defineRoute, errorResponses } from './route-table.js';
import {
  approvalListResponse,
  approvalResponse,
  decideApprovalRequest,
  listApprovalsQuery,
} from './schemas.js';
import { decodeId, sendJson } from './http-io.js';

/** The scopes that allow reading and deciding approvals. */
export const APPROVAL_SCOPES: readonly ApiKeyScope[] = ['approvals', 'admin'];

/** The scopes that allow deciding a budget extension: it changes a budget, as `/v1/budgets` does. */
export const BUDGET_EXTENSION_SCOPES: readonly ApiKeyScope[] = ['admin'];

/** An approval as the API returns it (snake_case, no tenant). */
export function approvalView(approval: ApprovalRecord) {
  return {
    id: approval.id,
    run_id: approval.runId,
    step_seq: approval.stepSeq,
    kind: approvalKindOf(approval),
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

/** An approval as the API returns it. */
export type ApprovalView = ReturnType<typeof approvalView>;

/** The `/v1/approvals` routes (scope `approvals` or `admin`). */
export const approvalRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/approvals',
    scopes: APPROVAL_SCOPES,
    summary: "List the tenant's approvals, newest first (scope approvals or admin)",
    query: listApprovalsQuery,
    responses: {
      200: { description: 'Approvals', schema: approvalListResponse },
      ...errorResponses(400, 401, 403),
    },
    async handle({ response, key, query, dependencies: { store } }) {
      const filter = query();
      const page = await store.listApprovalsPage({
        tenantId: key.tenantId,
        runId: filter.run_id,
        status: filter.status,
        limit: filter.limit,
        cursor: filter.cursor,
      });
      return sendJson(response, 200, {
        data: page.approvals.map(approvalView),
        next_cursor: page.nextCursor ?? null,
      });
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/approvals/:id',
    scopes: APPROVAL_SCOPES,
    summary: 'Read an approval (scope approvals or admin)',
    responses: {
      200: { description: 'The approval', schema: approvalResponse },
      ...errorResponses(401, 403, 404),
    },
    async handle({ response, key, params, dependencies: { store } }) {
      const approvalId = approvalIdOf(params.id);
      const approval = await store.getApproval(approvalId, { tenantId: key.tenantId });
      if (!approval) throw new ApprovalNotFoundError(approvalId);
      return sendJson(response, 200, approvalView(approval));
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/approvals/:id',
    scopes: APPROVAL_SCOPES,
    summary: 'Approve or reject a pending approval (scope approvals or admin; a budget extension: admin)',
    description:
      'Recorded with the deciding key (`key:<id>`). Deciding the last pending approval of a run queues the run. ' +
      'A budget extension (kind budget_extension) is decided only by an admin key: 403 forbidden otherwise. ' +
      'Repeating the same decision with the same key answers 200 unchanged; any other decision on an approval ' +
      'that is no longer pending (decided, expired, cancelled) answers 409 approval_not_pending. ' +
      'Approving a budget extension raises the budget by extend_usd / extend_tokens (default: all the held call ' +
      'needs), audited budget.extend; an amount on any other decision, or for a limit the budget lacks, answers ' +
      '400 invalid_extension and decides nothing.',
    body: decideApprovalRequest,
    responses: {
      200: { description: 'The decided approval', schema: approvalResponse },
      ...errorResponses(400, 401, 403, 404, 409, 413, 503),
    },
    async handle({ response, key, params, body, dependencies: { store, budgets } }) {
      const approvalId = approvalIdOf(params.id);
      const decision = await body();
      const approval = await store.getApproval(approvalId, { tenantId: key.tenantId });
      if (!approval) throw new ApprovalNotFoundError(approvalId);
      if (
        approvalKindOf(approval) === 'budget_extension' &&
        !key.scopes.some((scope) => BUDGET_EXTENSION_SCOPES.includes(scope))
      )
        throw new ForbiddenError(BUDGET_EXTENSION_SCOPES);
      const decided = await decideApprovalWithExtension({
        store,
        ...(budgets === undefined ? {} : { budgets }),
        approvalId,
        tenantId: key.tenantId,
        decision: decision.decision,
        reason: decision.reason ?? null,
        decidedBy: `key:${key.id}`,
        ...(decision.extend_usd === undefined ? {} : { extendUsd: decision.extend_usd }),
        ...(decision.extend_tokens === undefined ? {} : { extendTokens: decision.extend_tokens }),
      });
      return sendJson(response, 200, approvalView(decided));
    },
  }),
];

/** The approval a path names; an id that cannot exist is answered like one that does not. */
function approvalIdOf(segment: string | undefined): string {
  const approvalId = decodeId(segment);
  if (approvalId === undefined) throw new ApprovalNotFoundError(segment ?? '');
  return approvalId;
}
