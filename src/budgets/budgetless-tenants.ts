/**
 * Which tenants have no budget at all, cached per process, so that a model call of such a tenant
 * (with no run limit to check either) reserves without a database round trip.
 *
 * Freshness: a tenant's answer is kept `maxAgeMs` from when it arrived, and looked up again in
 * the background once it is half that old while calls keep asking, so a tenant in steady use never
 * finds it expired (the calls of a budgetless tenant never wait for, nor count tokens for want of,
 * an answer). Creating a budget (the store's `create` and
 * the config upsert) sends a notification in its transaction, and every process drops the
 * tenant's answer when it hears it. A look-up that overlaps a notification is not cached. So a
 * new budget governs the calls a process reserves once it heard of the budget: at once in the
 * process that created it, after the notification's latency (about a millisecond) in the others,
 * and after `maxAgeMs` at worst when the process's notification connection was down. A call
 * reserved before that is not held against the budget nor charged to it, as a call reserved
 * before the budget was created never was.
 */
import type { SqlClient, SqlExecutor } from '../journal/sql-client.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

/** Options of {@link createBudgetlessTenants}. */
export interface BudgetlessTenantsOptions {
  client: SqlClient;
  schema: string;
  clock: Clock;
  logger: Logger;
  /** How long an answer is kept without a notification (default 1,000 ms). */
  maxAgeMs?: number;
}

/** The per-process cache of tenants without budgets. */
export interface BudgetlessTenants {
  /** The cached answer for `tenantId` (true: no budget), undefined when none is fresh. */
  known(tenantId: string): boolean | undefined;
  /** Looks `tenantId` up (one look-up at a time per tenant): true when it has no budget. */
  has(tenantId: string): Promise<boolean>;
  /** Forgets `tenantId`'s answer in this process (after its budget was created here). */
  forget(tenantId: string): void;
}

/** The channel budget creations are announced on. */
function budgetChangeChannel(schema: string): string {
  return `${schema}_budgets`;
}

/**
 * Announces, with `tx`'s commit, that `tenantId` has a new budget. Every store sends it, cache or
 * not, so that the processes that cache hear of it.
 */
export async function notifyBudgetCreated(tx: SqlExecutor, schema: string, tenantId: string): Promise<void> {
  await tx.query('SELECT pg_notify($1, $2)', [budgetChangeChannel(schema), tenantId]);
}

/** Creates the cache; it subscribes to the change channel at its first use. */
export function createBudgetlessTenants({
  client,
  schema,
  clock,
  logger,
  maxAgeMs = 1000,
}: BudgetlessTenantsOptions): BudgetlessTenants {
  const channel = budgetChangeChannel(schema);
  const answers = new Map<string, { budgetless: boolean; at: number }>();
  // Counts the changes heard: a look-up during which one was heard is not cached.
  let changes = 0;
  let listening: Promise<boolean> | undefined;

  // One look-up per tenant at a time: the calls that wait for it go on together.
  const lookups = new Map<string, Promise<boolean>>();

  const lookUp = async (tenantId: string) => {
    if (!(await listen())) return false;
    const before = changes;
    const found = await client.query<{ found: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM ${schema}.budgets WHERE tenant_id = $1) AS found`,
      [tenantId],
    );
    const budgetless = found.rows[0]?.found === false;
    // Kept from its arrival: an answer timestamped when a slow look-up started could arrive expired.
    if (changes === before) answers.set(tenantId, { budgetless, at: clock.now() });
    return budgetless && changes === before;
  };

  const has = (tenantId: string) => {
    let pending = lookups.get(tenantId);
    if (pending === undefined) {
      pending = lookUp(tenantId).finally(() => lookups.delete(tenantId));
      lookups.set(tenantId, pending);
    }
    return pending;
  };

  const forget = (tenantId: string) => {
    changes++;
    answers.delete(tenantId);
  };

  const listen = () =>
    (listening ??= client.listen(channel, forget).then(
      () => true,
      (error: unknown) => {
        // Without notifications nothing may be cached: every call goes to the database.
        logger.warn('budget change notifications unavailable', { error: String(error) });
        return false;
      },
    ));

  return {
    known(tenantId) {
      const answer = answers.get(tenantId);
      if (answer === undefined) return undefined;
      const age = clock.now() - answer.at;
      if (age >= maxAgeMs) return undefined;
      if (age >= maxAgeMs / 2 && !lookups.has(tenantId))
        has(tenantId).catch((error: unknown) => {
          // The answer expires as usual; the next call that finds it expired asks again.
          logger.warn('could not refresh whether a tenant has budgets', { tenantId, error: String(error) });
        });
      return answer.budgetless;
    },
    has,
    forget,
  };
}
