import {
  budgetAdmin,
  createBudgetRequest,
  updateBudgetRequest,
  type BudgetAdmin,
  type BudgetView,
} from '../../server/budget-routes.js';
import { createBudgetStore } from '../../budgets/budget-store.js';
import { BudgetNotFoundError } from '../../errors/budget-errors.js';
import { parseWith } from '../../server/http-io.js';
import { openBackend, type RemoteApi } from '../backend.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { renderTable } from '../render.js';
import { UsageError } from '../usage-error.js';

const USAGE = `Usage:
  keel budgets create --scope tenant|agent|user|session|api_key|run [--scope-id ID] --period run|hour|day|month|total
                      [--limit-usd N] [--limit-tokens N] [--soft-pct N] [--on-exhausted stop|approval] [--tenant T] [--json]
  keel budgets list [--tenant T] [--json]
  keel budgets update <id> [--limit-usd N|none] [--limit-tokens N|none] [--soft-pct N] [--on-exhausted stop|approval] [--tenant T] [--json]
  keel budgets delete <id> [--tenant T]`;

/** Options of `keel budgets`, as parsed from the command line. */
export interface BudgetsCommandOptions {
  action?: string;
  id?: string;
  tenant?: string;
  scope?: string;
  scopeId?: string;
  period?: string;
  limitUsd?: string;
  limitTokens?: string;
  softPct?: string;
  onExhausted?: string;
  json: boolean;
}

/** The tenant of the local admin key, the only one a local server's API lets the CLI manage. */
const LOCAL_TENANT = 'default';

/**
 * `keel budgets create | list | update | delete`: budgets in the shared database, in one tenant
 * (`--tenant`, default `default`), audited as `cli:local`. With the embedded database held by a
 * running `keel serve`, the commands go through its `/v1/budgets` API with the local admin key
 * (tenant `default`). Values are checked as the API checks them (`invalid_request`,
 * `invalid_budget`).
 */
export async function budgetsCommand(options: BudgetsCommandOptions, io: CliIo): Promise<number> {
  const { action } = options;
  if (action !== 'create' && action !== 'list' && action !== 'update' && action !== 'delete')
    throw new UsageError(USAGE);
  if ((action === 'update' || action === 'delete') && !options.id)
    throw new UsageError(`keel budgets ${action} needs a budget id.`, USAGE);
  const create = action === 'create' ? parseWith(createBudgetRequest, createBody(options)) : undefined;
  const update = action === 'update' ? parseWith(updateBudgetRequest, updateBody(options)) : undefined;
  const tenantId = options.tenant ?? LOCAL_TENANT;

  const backend = await openBackend({ env: io.env, cwd: io.cwd });
  try {
    let admin: BudgetAdmin;
    if (backend.mode === 'direct') {
      admin = budgetAdmin(createBudgetStore({ client: backend.client }), tenantId, 'cli:local');
    } else {
      if (tenantId !== LOCAL_TENANT)
        throw new UsageError(
          `A running keel serve holds the embedded database: its local admin key manages tenant "${LOCAL_TENANT}" only.`,
        );
      admin = remoteBudgetAdmin(backend.api);
    }
    const print = (view: BudgetView, verb: string) =>
      io.stdout.write(
        options.json ? JSON.stringify(view) + '\n' : `${verb} ${view.id} (${describe(view)}).\n`,
      );
    if (create !== undefined) print(await admin.create(create), 'Created');
    else if (update !== undefined) print(await admin.update(options.id as string, update), 'Updated');
    else if (action === 'delete') print(await admin.delete(options.id as string), 'Deleted');
    else {
      const views = await admin.list();
      io.stdout.write(options.json ? JSON.stringify(views) + '\n' : renderBudgetTable(views));
    }
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}

function createBody(options: BudgetsCommandOptions): Record<string, unknown> {
  if (!options.scope) throw new UsageError(`keel budgets create needs --scope.`, USAGE);
  if (!options.period) throw new UsageError(`keel budgets create needs --period.`, USAGE);
  return {
    scope: options.scope,
    ...(options.scopeId === undefined ? {} : { scope_id: options.scopeId }),
    period: options.period,
    ...limitsBody(options),
  };
}

function updateBody(options: BudgetsCommandOptions): Record<string, unknown> {
  for (const [flag, value] of [
    ['--scope', options.scope],
    ['--scope-id', options.scopeId],
    ['--period', options.period],
  ] as const)
    if (value !== undefined)
      throw new UsageError(`${flag} cannot change: delete the budget and create another.`, USAGE);
  return limitsBody(options);
}

function limitsBody(options: BudgetsCommandOptions): Record<string, unknown> {
  return {
    ...numberFlag('limit_usd', '--limit-usd', options.limitUsd, true),
    ...numberFlag('limit_tokens', '--limit-tokens', options.limitTokens, true),
    ...numberFlag('soft_pct', '--soft-pct', options.softPct, false),
    ...(options.onExhausted === undefined ? {} : { on_exhausted: options.onExhausted }),
  };
}

/** A numeric flag as a body field (`none` clears a limit); checked against the API's schema after. */
function numberFlag(field: string, flag: string, value: string | undefined, clearable: boolean) {
  if (value === undefined) return {};
  if (clearable && value === 'none') return { [field]: null };
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number))
    throw new UsageError(`${flag} must be a number${clearable ? ' (or none)' : ''}, not "${value}".`);
  return { [field]: number };
}

/** The budget API over the local server (404 answers as `budget_not_found`). */
function remoteBudgetAdmin(api: RemoteApi): BudgetAdmin {
  const found = (id: string, view: BudgetView | undefined) => {
    if (view === undefined) throw new BudgetNotFoundError(id);
    return view;
  };
  const path = (id: string) => `/v1/budgets/${encodeURIComponent(id)}`;
  return {
    create: async (body) =>
      (await api.call<BudgetView>('/v1/budgets', { method: 'POST', body: JSON.stringify(body) }))!,
    list: async () => (await api.call<{ data: BudgetView[] }>('/v1/budgets'))?.data ?? [],
    get: async (id) => found(id, await api.call<BudgetView>(path(id))),
    update: async (id, body) =>
      found(id, await api.call<BudgetView>(path(id), { method: 'PATCH', body: JSON.stringify(body) })),
    delete: async (id) => found(id, await api.call<BudgetView>(path(id), { method: 'DELETE' })),
  };
}

function describe(view: BudgetView): string {
  const limits = [
    view.limit_usd === null ? undefined : `$${view.limit_usd}`,
    view.limit_tokens === null ? undefined : `${view.limit_tokens} tokens`,
  ].filter((part) => part !== undefined);
  return `${view.scope} ${view.scope_id} per ${view.period}: ${limits.join(' and ')}`;
}

function renderBudgetTable(views: BudgetView[]): string {
  if (views.length === 0) return 'No budgets.\n';
  return renderTable(
    [
      'ID',
      'SCOPE',
      'SCOPE ID',
      'PERIOD',
      'LIMIT USD',
      'SPENT USD',
      'RESERVED USD',
      'LIMIT TOKENS',
      'SPENT TOKENS',
      'SOFT %',
      'SOURCE',
    ],
    views.map((view) => [
      view.id,
      view.scope,
      view.scope_id,
      view.period,
      view.limit_usd === null ? '-' : String(view.limit_usd),
      view.spent_usd.toFixed(6),
      view.reserved_usd.toFixed(6),
      view.limit_tokens === null ? '-' : String(view.limit_tokens),
      String(view.spent_tokens),
      String(view.soft_pct),
      view.source,
    ]),
  );
}
