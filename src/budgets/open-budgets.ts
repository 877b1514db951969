import type { SqlClient } from '../journal/sql-client.js';
import type { Logger } from '../util/logger.js';
import { createBudgetStore, type BudgetStore } from './budget-store.js';
import type { DeclaredBudget } from './declared-budgets.js';

/**
 * The budget store of a process (`keel serve`, `keel gateway`, `keel worker`), with the config
 * file's budgets upserted first, so a process never serves calls under stale declared limits.
 * A database error propagates: the process does not start without its budgets.
 */
export async function openBudgets({
  client,
  schema,
  logger,
  declared = [],
}: {
  client: SqlClient;
  schema?: string;
  logger: Logger;
  declared?: readonly DeclaredBudget[];
}): Promise<BudgetStore> {
  const budgets = createBudgetStore({ client, logger, ...(schema === undefined ? {} : { schema }) });
  if (declared.length > 0) {
    await budgets.upsertDeclared(declared);
    logger.info('budgets declared in the config are in place', { count: declared.length });
  }
  return budgets;
}
