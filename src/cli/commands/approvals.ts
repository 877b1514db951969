import { decideApprovalWithExtension } from '../../budgets/budget-approval.js';
import { createBudgetStore } from '../../budgets/budget-store.js';
import { RunNotFoundError } from '../../errors/storage-errors.js';
import { TERMINAL_STATUSES } from '../../journal/types.js';
import { approvalView, type ApprovalView } from '../../server/approval-routes.js';
import { runView, type RunView } from '../../server/run-views.js';
import { fetchRun, openBackend } from '../backend.js';
import { cliActor } from '../cli-actor.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { renderTable } from '../render.js';
import { UsageError } from '../usage-error.js';

const USAGE = `Usage:
  keel approvals list [--run R] [--json]
  keel approvals approve|reject <approval-id> [--reason R] [--json]`;

/** Options of `keel approvals`, as parsed from the command line. */
export interface ApprovalsCommandOptions {
  action?: string;
  id?: string;
  /** `--run`: only this run's approvals (list). */
  run?: string;
  /** `--reason`: recorded with the decision; a rejection's reason is shown to the model. */
  reason?: string;
  json: boolean;
}

/**
 * `keel approvals list | approve | reject`: the human side of tool approvals (and budget
 * extensions) from a terminal. On the database (Postgres, or the embedded one when no server
 * holds it) the CLI is the operator: it sees every tenant's approvals and decides as
 * `cli:<user>`, through the same decision the API takes (`decideApprovalWithExtension`: approving
 * a budget extension raises the budget, audited `budget.extend`). With the embedded database held
 * by a running `keel serve`, it goes through that server's `/v1/approvals` with the local admin
 * key (tenant `default`). An unknown approval is `approval_not_found`, one already decided (or
 * expired, or cancelled with its run) `approval_not_pending`: both exit 2.
 */
export async function approvalsCommand(options: ApprovalsCommandOptions, io: CliIo): Promise<number> {
  const { action, id, json } = options;
  if (action !== 'list' && action !== 'approve' && action !== 'reject') throw new UsageError(USAGE);
  if (action === 'list' && (id !== undefined || options.reason !== undefined))
    throw new UsageError(`keel approvals list takes only --run and --json.`, USAGE);
  if (action !== 'list' && !id) throw new UsageError(`keel approvals ${action} needs an approval id.`, USAGE);
  if (action !== 'list' && options.run !== undefined)
    throw new UsageError(`--run is a flag of keel approvals list.`, USAGE);

  const backend = await openBackend({ env: io.env, cwd: io.cwd });
  try {
    if (action === 'list') {
      const approvals =
        backend.mode === 'remote'
          ? await backend.api.listApprovals(options.run === undefined ? {} : { run_id: options.run })
          : (await backend.store.listApprovals(options.run === undefined ? {} : { runId: options.run })).map(
              approvalView,
            );
      io.stdout.write(json ? JSON.stringify(approvals) + '\n' : renderApprovalTable(approvals));
      return EXIT.ok;
    }
    const decision = action;
    const decided =
      backend.mode === 'remote'
        ? await backend.api.decideApproval(id!, {
            decision,
            ...(options.reason === undefined ? {} : { reason: options.reason }),
          })
        : approvalView(
            await decideApprovalWithExtension({
              store: backend.store,
              budgets: createBudgetStore({ client: backend.client }),
              approvalId: id!,
              decision,
              reason: options.reason ?? null,
              decidedBy: cliActor(io.env),
            }),
          );
    if (json) {
      io.stdout.write(JSON.stringify(decided) + '\n');
      return EXIT.ok;
    }
    const run = await fetchRun(backend, decided.run_id);
    io.stdout.write(
      `${decided.status === 'approved' ? 'Approved' : 'Rejected'} ${decided.id} (${decided.tool}, run ${decided.run_id}).\n` +
        nextForRun(run),
    );
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}

/** What happens to the run after a decision, in words. */
function nextForRun(run: RunView | undefined): string {
  if (run?.status === 'queued')
    return `Run ${run.id} is queued again: the keel run waiting on it, or a keel worker or keel serve, resumes it.\n`;
  if (run?.status === 'awaiting_approval')
    return `Run ${run.id} still waits on other approvals: keel approvals list --run ${run.id}\n`;
  // The keel run waiting on it (or a worker) may have taken it already.
  if (run?.status === 'running') return `Run ${run.id} is running again.\n`;
  return '';
}

/** Approvals as a table: id, run, tool, status, when requested, arguments (cut at 60 characters). */
export function renderApprovalTable(approvals: readonly ApprovalView[]): string {
  if (approvals.length === 0) return 'No approvals.\n';
  return renderTable(
    ['ID', 'RUN', 'TOOL', 'STATUS', 'REQUESTED', 'ARGUMENTS'],
    approvals.map((approval) => [
      approval.id,
      approval.run_id,
      approval.tool,
      approval.status,
      approval.requested_at.replace('T', ' ').slice(0, 19),
      cut(JSON.stringify(approval.arguments) ?? '', 60),
    ]),
  );
}

function cut(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length - 1)}…`;
}

/**
 * `keel cancel <run-id>`: asks a run to stop, as `POST /v1/runs/{id}/cancel` does. A queued or
 * waiting run, or one awaiting approval (its pending approvals become `cancelled`), is cancelled
 * at once; a running one at its worker's next heartbeat. An unknown run is `run_not_found` (exit 2).
 */
export async function cancelCommand(
  { runId, json }: { runId?: string; json: boolean },
  io: CliIo,
): Promise<number> {
  if (!runId) throw new UsageError('Usage: keel cancel <run-id> [--json]');
  const backend = await openBackend({ env: io.env, cwd: io.cwd });
  try {
    let run: RunView;
    if (backend.mode === 'remote') run = await backend.api.cancelRun(runId);
    else {
      const record = await backend.store.requestCancel(runId);
      if (!record) throw new RunNotFoundError(runId);
      run = runView(record);
    }
    if (json) io.stdout.write(JSON.stringify(run) + '\n');
    else if (run.status === 'cancelled') io.stdout.write(`Run ${run.id} is cancelled.\n`);
    else if (TERMINAL_STATUSES.includes(run.status))
      io.stdout.write(`Run ${run.id} had already ended (${run.status}): nothing to cancel.\n`);
    else io.stdout.write(`Asked run ${run.id} to stop: its worker ends it at its next heartbeat.\n`);
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}
