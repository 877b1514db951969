/**
 * Budget extensions: a budget with `on_exhausted: 'approval'` does not end a run whose model call
 * it cannot afford; the run suspends (holding no worker) on an approval whose `tool` is
 * `budget:<budget id>` and whose `arguments` say what the budget holds and what the call needs
 * (`kind: 'budget_extension'`). Approving it raises the budget's limits in the decision's
 * transaction (audited `budget.extend` by the approver) and wakes the run, which reserves again;
 * rejecting it (or cancelling the run) ends the run with stop reason `budget`.
 *
 * The extension is `extend_usd` / `extend_tokens` when the decision gives them, else the held
 * call's whole worst case (plus what the budget is already over its limit, if anything): each
 * approval buys room for its own call, so several runs held on one budget all go on when each is
 * approved (unless something else spends the room first; then the run asks again). A `run`-period
 * budget reads the held run's counter, and its limit, raised, is raised for every run of its scope.
 */
import { z } from 'zod';
import { BudgetsUnavailableError, InvalidExtensionError } from '../errors/budget-errors.js';
import { ApprovalNotFoundError } from '../errors/approval-errors.js';
import type { ExhaustedBudget } from '../errors/budget-errors.js';
import type { JournalStore } from '../journal/store.js';
import type { ApprovalDecision, ApprovalRecord } from '../journal/types.js';
import type { BudgetStore } from './budget-store.js';

/** The `tool` of a budget extension approval: `budget:<budget id>`. */
export const BUDGET_APPROVAL_PREFIX = 'budget:';

/** What an approval is about: a tool call, or a budget extension. */
export type ApprovalKind = 'tool' | 'budget_extension';

/** A budget extension approval's `arguments`, as stored (snake_case, as the API shows them). */
export const budgetApprovalArgumentsSchema = z.object({
  kind: z.literal('budget_extension'),
  budget: z.object({
    id: z.string(),
    scope: z.string(),
    scope_id: z.string(),
    period: z.string(),
    limit_usd: z.number().nullable(),
    limit_tokens: z.number().nullable(),
    spent_usd: z.number(),
    reserved_usd: z.number(),
    spent_tokens: z.number(),
    reserved_tokens: z.number(),
  }),
  /** The held call's worst case: its prompt and the output tokens it asked for. */
  needs: z.object({
    usd: z.number(),
    tokens: z.number(),
    prompt_tokens: z.number(),
    output_tokens: z.number(),
    model: z.string(),
  }),
});
export type BudgetApprovalArguments = z.infer<typeof budgetApprovalArgumentsSchema>;

/** The approval a budget asks for, from the exhausted budget and what the call needs. */
export function budgetApprovalRequest(
  budget: ExhaustedBudget,
  needs: BudgetApprovalArguments['needs'],
): { tool: string; arguments: BudgetApprovalArguments } {
  return {
    tool: `${BUDGET_APPROVAL_PREFIX}${budget.budgetId}`,
    arguments: {
      kind: 'budget_extension',
      budget: {
        id: budget.budgetId,
        scope: budget.scope,
        scope_id: budget.scopeId,
        period: budget.period,
        limit_usd: budget.limitUsd,
        limit_tokens: budget.limitTokens,
        spent_usd: budget.spentUsd,
        reserved_usd: budget.reservedUsd,
        spent_tokens: budget.spentTokens,
        reserved_tokens: budget.reservedTokens,
      },
      needs,
    },
  };
}

/** The kind of an approval, from its `tool`. */
export function approvalKindOf(approval: Pick<ApprovalRecord, 'tool'>): ApprovalKind {
  return approval.tool.startsWith(BUDGET_APPROVAL_PREFIX) ? 'budget_extension' : 'tool';
}

/** The budget extension an approval asks for, or undefined for a tool approval. */
export function budgetApprovalOf(approval: ApprovalRecord): BudgetApprovalArguments | undefined {
  if (approvalKindOf(approval) !== 'budget_extension') return undefined;
  const parsed = budgetApprovalArgumentsSchema.safeParse(approval.arguments);
  return parsed.success ? parsed.data : undefined;
}

/** A decision, with the extension it grants when it approves a budget extension. */
export interface BudgetAwareDecision {
  store: JournalStore;
  /** Needed to approve a budget extension (`budgets_unavailable` without it). */
  budgets?: BudgetStore;
  approvalId: string;
  tenantId?: string;
  decision: ApprovalDecision;
  reason?: string | null;
  decidedBy: string;
  /** Dollars to add to the budget's `limit_usd` (only on approving a budget extension). */
  extendUsd?: number;
  /** Tokens to add to the budget's `limit_tokens` (only on approving a budget extension). */
  extendTokens?: number;
}

/**
 * Decides an approval (`JournalStore.decideApproval`); approving a budget extension also raises
 * the budget's limits, in the same transaction. An extension amount on anything else, or for a
 * limit the budget does not have, is refused with `invalid_extension` and nothing is decided.
 */
export async function decideApprovalWithExtension({
  store,
  budgets,
  approvalId,
  tenantId,
  decision,
  reason = null,
  decidedBy,
  extendUsd,
  extendTokens,
}: BudgetAwareDecision): Promise<ApprovalRecord> {
  const extending = extendUsd !== undefined || extendTokens !== undefined;
  const field = extendUsd !== undefined ? 'extend_usd' : 'extend_tokens';
  const current = await store.getApproval(approvalId, tenantId === undefined ? {} : { tenantId });
  if (!current) throw new ApprovalNotFoundError(approvalId);
  const requested = budgetApprovalOf(current);
  if (extending && requested === undefined)
    throw new InvalidExtensionError(field, 'applies only to a budget extension approval');
  if (extending && decision !== 'approve')
    throw new InvalidExtensionError(field, 'applies only to a decision that approves');
  if (requested === undefined || decision !== 'approve')
    return store.decideApproval({
      approvalId,
      ...(tenantId === undefined ? {} : { tenantId }),
      decision,
      reason,
      decidedBy,
    });
  if (extendUsd !== undefined && requested.budget.limit_usd === null)
    throw new InvalidExtensionError('extend_usd', 'names a dollar limit the budget does not have');
  if (extendTokens !== undefined && requested.budget.limit_tokens === null)
    throw new InvalidExtensionError('extend_tokens', 'names a token limit the budget does not have');
  if (budgets === undefined) throw new BudgetsUnavailableError();
  return store.decideApproval({
    approvalId,
    ...(tenantId === undefined ? {} : { tenantId }),
    decision,
    reason,
    decidedBy,
    async onApprove(tx, approval) {
      // A budget deleted since the request has nothing left to extend: the run reserves again.
      await budgets.extend(
        {
          tenantId: approval.tenantId,
          // From the tool name: the arguments are stored through the run's redaction rules.
          budgetId: approval.tool.slice(BUDGET_APPROVAL_PREFIX.length),
          ...(extendUsd === undefined ? {} : { addUsd: extendUsd }),
          ...(extendTokens === undefined ? {} : { addTokens: extendTokens }),
          needs: { usd: requested.needs.usd, tokens: requested.needs.tokens },
          runId: approval.runId,
          actor: decidedBy,
          details: { approval_id: approval.id, run_id: approval.runId },
        },
        tx,
      );
    },
  });
}
