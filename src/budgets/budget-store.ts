/**
 * Budgets over the shared `SqlClient`: their definitions (audited), and the reservations every
 * model call makes against them. See `journal/migration-0018-budgets.ts` for the tables and the
 * two functions that make a reservation and a settlement one statement each.
 *
 * Concurrency: a reservation locks the counter row of each applicable budget (in one order) for
 * the length of one statement, checks every budget against spend plus reservations in flight,
 * and holds on all of them or none. Any number of processes share the counters, so no budget is
 * exceeded however many replicas reserve at once (unlike per-replica counters synced later).
 * Fail closed: a database error propagates; no call is let through unreserved.
 */
import { appendAudit } from '../journal/audit-log.js';
import { BudgetConflictError, ModelPriceUnknownError } from '../errors/budget-errors.js';
import { assertSchemaName, DEFAULT_SCHEMA } from '../journal/migrations.js';
import type { SqlClient, SqlExecutor } from '../journal/sql-client.js';
import { toDate } from '../journal/sql-rows.js';
import type { PriceTable } from '../model/prices.js';
import { systemClock, type Clock } from '../util/clock.js';
import { createId as defaultCreateId, type IdGenerator } from '../util/ids.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { callPricing, roundUsd } from './budget-pricing.js';
import { createBudgetlessTenants, notifyBudgetCreated } from './budgetless-tenants.js';
import { createCoalescer } from './coalescer.js';
import {
  numberOrNull,
  numericOrNull,
  reservationOf,
  reserveCall,
  unheld,
  type ReserveCall,
  type ReserveRow,
} from './reserve-call.js';
import { periodKeys, type BudgetPeriod } from './budget-periods.js';
import type {
  Budget,
  BudgetAlert,
  BudgetDefinition,
  BudgetScope,
  BudgetSubject,
  BudgetWithUsage,
  OnExhausted,
} from './budget-types.js';

/** Options of {@link createBudgetStore}. */
export interface BudgetStoreOptions {
  client: SqlClient;
  /** Postgres schema of Keel's tables (default `keel`). */
  schema?: string;
  /** Picks the current hour, day and month (UTC). Default: the system clock. */
  clock?: Clock;
  createId?: IdGenerator;
  /** Soft-threshold alerts are logged here (warn) besides `onAlert`. */
  logger?: Logger;
  /** Told once per budget and period when spend crosses the budget's `softPct`. Must not throw. */
  onAlert?: (alert: BudgetAlert) => void;
  /**
   * Reservations made concurrently by this process go to the database together, in one statement
   * (`budget_reserve_batch`), decided in the order they were made: a hot budget's counter is then
   * locked and committed once per batch instead of once per call. `false`: one statement per call.
   * Default: batches of at most 64, at most 2 out at once.
   */
  coalesce?: false | { maxBatchSize?: number; maxInFlight?: number };
  /**
   * How long this process trusts that a tenant has no budget (ms, default 1,000; 0: ask the
   * database on every call). A call of such a tenant without a run limit then reserves with no
   * round trip. A budget created elsewhere applies here once the change notification arrives
   * (about a millisecond), or after this long when notifications were lost; see
   * `budgetless-tenants.ts`.
   */
  budgetlessCacheMs?: number;
}

/** The model a call runs, for its worst-case price. */
export interface PricedModel {
  provider: string;
  modelId: string;
  /** Default: the built-in `PRICE_TABLE`. */
  priceTable?: PriceTable;
}

/** One model call to reserve. */
export interface ReserveRequest extends BudgetSubject {
  /** The run execution's fence: `releaseForRun(runId, newerFence)` releases what older ones hold. */
  fence?: number;
  /** Who holds the reservation, for operators (`run:<id>#<fence>`, `key:<id>`). */
  holder: string;
  model: PricedModel;
  /** Prompt tokens, counted with the tokenizer (`estimateRequestTokens`). */
  promptTokens: number;
  /** What the call asks for; the grant may be lower (what the tightest budget affords). */
  maxOutputTokens: number;
  /** Fewer output tokens than this is no call worth making: exhausted instead. Default 1. */
  minOutputTokens?: number;
  /**
   * The run's own caps (`limits.maxCostUsd`, `limits.maxTokens`) with what the run has spent so
   * far: an implicit `run` budget checked in the same statement.
   */
  runLimit?: { limitUsd?: number; limitTokens?: number; spentUsd: number; spentTokens: number };
}

/** A reservation made: settle it once the call ended (or release it). */
export interface BudgetReservation {
  id: string;
  /**
   * False when no budget applies (only the run's own limit, or nothing, was checked): nothing is
   * held, and settling is a no-op.
   */
  held: boolean;
  /** The output tokens the call may use: `maxOutputTokens`, or less when a budget affords less. */
  grantedOutputTokens: number;
  reservedUsd: number;
  reservedTokens: number;
}

/** What a call cost, as reported (or estimated) after it. */
export interface CallSpend {
  costUsd?: number;
  tokens?: number;
}

/** An approved budget extension (see budget-approval.ts). */
export interface BudgetExtension {
  tenantId: string;
  budgetId: string;
  /** Dollars to add to `limit_usd`. Default: `needs.usd`, plus what the budget is already over. */
  addUsd?: number;
  /** Tokens to add to `limit_tokens`. Default: `needs.tokens`, plus what the budget is already over. */
  addTokens?: number;
  /**
   * What the held call needs (its worst case). The default extension adds all of it, not what it
   * is short of now: every approval buys room for its own call, so several runs held on one
   * budget and approved together all go on.
   */
  needs: { usd: number; tokens: number };
  /** The held run: a `run`-period budget's spend is read from that run's counter. */
  runId?: string;
  /** Who approved (`key:<id>`): the audit row's actor. */
  actor: string;
  /** Kept in the audit row's details (the approval, the run). */
  details?: Record<string, unknown>;
}

/** Budgets, their counters and reservations. */
export interface BudgetStore {
  /** Creates a budget (audited `budget.create`). Throws `budget_exists` for a duplicate identity. */
  create(
    tenantId: string,
    definition: BudgetDefinition & { scopeId: string },
    actor: string,
  ): Promise<BudgetWithUsage>;
  list(tenantId: string): Promise<BudgetWithUsage[]>;
  get(tenantId: string, id: string): Promise<BudgetWithUsage | undefined>;
  /** Changes limits, soft threshold or behaviour (audited `budget.update`); undefined when absent. */
  update(
    tenantId: string,
    id: string,
    patch: Pick<Partial<BudgetDefinition>, 'limitUsd' | 'limitTokens' | 'softPct' | 'onExhausted'>,
    actor: string,
  ): Promise<BudgetWithUsage | undefined>;
  /**
   * Raises a budget's limits by an approved extension (audited `budget.extend` by the approver,
   * with the limits before and after), in `executor`'s transaction when given, so that it commits
   * with the approval's decision. A limit the budget does not have (null) is left alone; when
   * nothing changes, nothing is written or audited. A `run`-period budget has one limit for every
   * run of its scope: extending it for one held run raises it for all of them. Returns the budget
   * before and after; undefined when the budget is gone.
   */
  extend(
    extension: BudgetExtension,
    executor?: SqlExecutor,
  ): Promise<{ before: BudgetWithUsage; after: BudgetWithUsage } | undefined>;
  /** Deletes a budget and its counters (audited `budget.delete`); undefined when absent. */
  delete(tenantId: string, id: string, actor: string): Promise<BudgetWithUsage | undefined>;
  /**
   * Creates or updates the config file's budgets (source `config`), audited as `system:config`
   * when something changed. Budgets removed from the file are left alone (delete them by hand).
   */
  upsertDeclared(
    budgets: readonly (BudgetDefinition & { tenantId: string; scopeId: string })[],
  ): Promise<void>;
  /**
   * Reserves a call's worst case against every applicable budget, all or nothing, in one
   * statement. Throws `budget_exhausted` (naming the budget, with `retryAfterMs` when its period
   * resets) or `model_price_unknown` (an unpriced model under a dollar budget).
   */
  reserve(request: ReserveRequest): Promise<BudgetReservation>;
  /**
   * True when the tenant has no budget at all, so a reservation without a run limit would hold
   * nothing: a caller may then skip counting and pricing the call. Answered from the cache
   * `budgetlessCacheMs` keeps when it is fresh (synchronously), else looked up (the look-up
   * `reserve` would make, shared with it). False when the tenant has a budget, and always without
   * the cache (`budgetlessCacheMs: 0`) or without change notifications.
   */
  isBudgetless?(tenantId: string): boolean | Promise<boolean>;
  /** Charges a reservation with what the call cost and gives back its hold. At most once. */
  settle(reservationId: string, spend: CallSpend): Promise<void>;
  /** Gives reservations back without charging them (the call was never made). */
  release(reservationIds: readonly string[]): Promise<number>;
  /**
   * Releases a run's reservations (those of executions older than `olderThanFence`, when given):
   * for a lease reclaimed from a crashed worker. Returns how many were released.
   */
  releaseForRun(runId: string, olderThanFence?: number): Promise<number>;
  /**
   * Releases reservations older than `ageMs`: gateway calls of a process that died (a run's are
   * released when it is claimed again, so they are left alone unless `includeRuns`).
   */
  releaseOlderThan(ageMs: number, options?: { includeRuns?: boolean }): Promise<number>;
  /** Throws `model_price_unknown` when `model` has no price and a dollar budget applies to `subject`. */
  checkPricedUnderBudgets(subject: BudgetSubject, model: PricedModel): Promise<void>;
}

interface BudgetRow {
  id: string;
  tenant_id: string;
  scope: string;
  scope_id: string;
  period: string;
  limit_usd: string | number | null;
  limit_tokens: string | number | null;
  soft_pct: number;
  on_exhausted: string;
  source: string;
  created_at: Date | string;
  updated_at: Date | string;
  period_key?: string | null;
  spent_usd?: string | number | null;
  reserved_usd?: string | number | null;
  spent_tokens?: string | number | null;
  reserved_tokens?: string | number | null;
}

/** Creates the budget store over `client`. */
export function createBudgetStore({
  client,
  schema = DEFAULT_SCHEMA,
  clock = systemClock,
  createId = defaultCreateId,
  logger = silentLogger,
  onAlert,
  coalesce = {},
  budgetlessCacheMs = 1000,
}: BudgetStoreOptions): BudgetStore {
  assertSchemaName(schema);
  const budgets = `${schema}.budgets`;
  const counters = `${schema}.budget_counters`;
  const budgetless =
    budgetlessCacheMs > 0
      ? createBudgetlessTenants({ client, schema, clock, logger, maxAgeMs: budgetlessCacheMs })
      : undefined;

  /** Budgets with their current period's counters, filtered by `where` (params from $4). */
  const selectWithUsage = async (executor: SqlExecutor, where: string, params: unknown[]) => {
    const keys = periodKeys(clock.now());
    const result = await executor.query<BudgetRow>(
      `SELECT b.*, c.period_key, c.spent_usd, c.reserved_usd, c.spent_tokens, c.reserved_tokens
       FROM ${budgets} b
       LEFT JOIN ${counters} c ON c.budget_id = b.id AND c.period_key =
         CASE b.period WHEN 'hour' THEN $1 WHEN 'day' THEN $2 WHEN 'month' THEN $3 WHEN 'total' THEN 'total' END
       WHERE ${where} ORDER BY b.created_at, b.id`,
      [keys.hour, keys.day, keys.month, ...params],
    );
    return result.rows.map((row) => toBudgetWithUsage(row, clock.now()));
  };

  /** A `run`-period budget's counter for one run (nothing spent without a run). */
  const runUsage = async (executor: SqlExecutor, budgetId: string, runId: string | undefined) => {
    type CounterRow = Pick<BudgetRow, 'spent_usd' | 'reserved_usd' | 'spent_tokens' | 'reserved_tokens'>;
    const result = await executor.query<CounterRow>(
      `SELECT spent_usd, reserved_usd, spent_tokens, reserved_tokens FROM ${counters}
       WHERE budget_id = $1 AND period_key = $2`,
      [budgetId, runId ?? null],
    );
    const row = result.rows[0];
    return {
      spentUsd: Number(row?.spent_usd ?? 0),
      reservedUsd: Number(row?.reserved_usd ?? 0),
      spentTokens: Number(row?.spent_tokens ?? 0),
      reservedTokens: Number(row?.reserved_tokens ?? 0),
    };
  };

  const audited = async <T>(
    change: (tx: SqlExecutor) => Promise<{ result: T; audit?: Parameters<typeof appendAudit>[1] }>,
  ): Promise<T> =>
    client.transaction(async (tx) => {
      const { result, audit } = await change(tx);
      if (audit !== undefined) await appendAudit(tx, audit, { schema });
      return result;
    });

  const insert = async (
    tx: SqlExecutor,
    tenantId: string,
    definition: BudgetDefinition & { scopeId: string },
    source: 'api' | 'config',
  ) => {
    const id = createId('bud');
    // ON CONFLICT rather than catching 23505: a failed statement would abort the transaction.
    const inserted = await tx.query(
      `INSERT INTO ${budgets} (id, tenant_id, scope, scope_id, period, limit_usd, limit_tokens, soft_pct, on_exhausted, source)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
      [
        id,
        tenantId,
        definition.scope,
        definition.scopeId,
        definition.period,
        numericOrNull(definition.limitUsd),
        definition.limitTokens ?? null,
        definition.softPct ?? 80,
        definition.onExhausted ?? 'stop',
        source,
      ],
    );
    // Processes that cached this tenant as budgetless forget it when this commits.
    await notifyBudgetCreated(tx, schema, tenantId);
    if (inserted.rowCount === 0)
      throw new BudgetConflictError(definition, await existingId(tx, tenantId, definition));
    return (await selectWithUsage(tx, 'b.id = $4', [id]))[0] as BudgetWithUsage;
  };

  /** Creates or updates one declared budget (audited as `system:config`). */
  const upsertOneDeclared = (definition: BudgetDefinition & { tenantId: string; scopeId: string }) =>
    audited(async (tx) => {
      const found = await tx.query<BudgetRow>(
        `SELECT * FROM ${budgets} WHERE tenant_id = $1 AND scope = $2 AND scope_id = $3 AND period = $4 FOR UPDATE`,
        [definition.tenantId, definition.scope, definition.scopeId, definition.period],
      );
      const row = found.rows[0];
      if (row === undefined) {
        const created = await insert(tx, definition.tenantId, definition, 'config');
        return {
          result: undefined,
          audit: {
            tenantId: definition.tenantId,
            actor: 'system:config',
            action: 'budget.create',
            target: `budget:${created.id}`,
            after: auditView(created),
          },
        };
      }
      const before = toBudget(row);
      const next = {
        limitUsd: definition.limitUsd ?? null,
        limitTokens: definition.limitTokens ?? null,
        softPct: definition.softPct ?? 80,
        onExhausted: definition.onExhausted ?? 'stop',
      };
      if (
        before.limitUsd === next.limitUsd &&
        before.limitTokens === next.limitTokens &&
        before.softPct === next.softPct &&
        before.onExhausted === next.onExhausted
      )
        return { result: undefined };
      await tx.query(
        `UPDATE ${budgets} SET limit_usd = $2, limit_tokens = $3, soft_pct = $4, on_exhausted = $5,
             source = 'config', updated_at = now() WHERE id = $1`,
        [before.id, numericOrNull(next.limitUsd), next.limitTokens, next.softPct, next.onExhausted],
      );
      return {
        result: undefined,
        audit: {
          tenantId: definition.tenantId,
          actor: 'system:config',
          action: 'budget.update',
          target: `budget:${before.id}`,
          before: auditView(before),
          after: auditView({ ...before, ...next }),
        },
      };
    });

  const existingId = async (
    tx: SqlExecutor,
    tenantId: string,
    definition: BudgetDefinition & { scopeId: string },
  ) => {
    const found = await tx.query<{ id: string }>(
      `SELECT id FROM ${budgets} WHERE tenant_id = $1 AND scope = $2 AND scope_id = $3 AND period = $4`,
      [tenantId, definition.scope, definition.scopeId, definition.period],
    );
    return found.rows[0]?.id ?? '';
  };

  const settleRows = async (
    ids: readonly string[],
    { usd, tokens }: { usd: string | null; tokens: number | null } = { usd: null, tokens: null },
  ) => {
    const result = await client.query<SettleRow>(
      `SELECT * FROM ${schema}.budget_settle($1::text[], $2::numeric, $3::bigint)`,
      [ids, usd, tokens],
    );
    const crossed = result.rows.filter((row) => row.crossed && row.budget_id !== null);
    if (crossed.length > 0) await raiseAlerts(crossed);
    return Number(result.rows[0]?.settled ?? 0);
  };

  const settleBatch = async (calls: readonly SettleCall[]): Promise<undefined[]> => {
    const result = await client.query<SettleRow>(`SELECT * FROM ${schema}.budget_settle_batch($1::jsonb)`, [
      JSON.stringify(calls),
    ]);
    const crossed = result.rows.filter((row) => row.crossed && row.budget_id !== null);
    // The settlements are committed: an alert that fails to be raised must not fail them.
    if (crossed.length > 0)
      await raiseAlerts(crossed).catch((error: unknown) =>
        logger.error('budget alerts of a settlement batch failed', { error: String(error) }),
      );
    return calls.map(() => undefined);
  };

  const raiseAlerts = async (
    rows: {
      budget_id: string | null;
      period_key: string | null;
      spent_usd: string | null;
      spent_tokens: string | number | null;
    }[],
  ) => {
    const found = await selectWithUsage(client, 'b.id = ANY($4::text[])', [rows.map((row) => row.budget_id)]);
    for (const row of rows) {
      const budget = found.find((candidate) => candidate.id === row.budget_id);
      if (budget === undefined) continue;
      const alert: BudgetAlert = {
        budget,
        periodKey: row.period_key ?? '',
        spentUsd: Number(row.spent_usd ?? 0),
        spentTokens: Number(row.spent_tokens ?? 0),
      };
      logger.warn('budget soft threshold crossed', {
        budgetId: budget.id,
        tenantId: budget.tenantId,
        scope: budget.scope,
        scopeId: budget.scopeId,
        period: budget.period,
        periodKey: alert.periodKey,
        softPct: budget.softPct,
        spentUsd: alert.spentUsd,
        limitUsd: budget.limitUsd,
        spentTokens: alert.spentTokens,
        limitTokens: budget.limitTokens,
      });
      try {
        onAlert?.(alert);
      } catch (error) {
        logger.error('budget alert hook failed', { budgetId: budget.id, error: String(error) });
      }
    }
  };

  const reserveOne = async (call: ReserveCall): Promise<ReserveRow> => {
    const result = await client.query<ReserveRow>(
      `SELECT * FROM ${schema}.budget_reserve($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
         $13::numeric, $14::numeric, $15, $16::bigint, $17::bigint, $18::bigint, $19::numeric, $20::bigint,
         $21::numeric, $22::bigint)`,
      [
        call.id,
        call.tenant,
        call.agent,
        call.user,
        call.session,
        call.api_key,
        call.run,
        call.fence,
        call.holder,
        call.hour,
        call.day,
        call.month,
        call.input_per_m,
        call.output_per_m,
        call.price_known,
        call.prompt,
        call.max_output,
        call.min_output,
        call.run_remaining_usd,
        call.run_remaining_tokens,
        call.run_limit_usd,
        call.run_limit_tokens,
      ],
    );
    return result.rows[0] as ReserveRow;
  };

  const reserveBatch = async (calls: readonly ReserveCall[]): Promise<ReserveRow[]> => {
    const result = await client.query<ReserveRow & { n: number }>(
      `SELECT * FROM ${schema}.budget_reserve_batch($1::jsonb)`,
      [JSON.stringify(calls.map((call, n) => ({ ...call, n })))],
    );
    const rows: ReserveRow[] = [];
    for (const row of result.rows) rows[Number(row.n)] = row;
    return rows;
  };

  const coalescer =
    coalesce === false
      ? undefined
      : createCoalescer({ runBatch: reserveBatch, runOne: reserveOne, ...coalesce });
  const settleCoalescer =
    coalesce === false
      ? undefined
      : createCoalescer({
          runBatch: settleBatch,
          runOne: async (call: SettleCall) => {
            await settleRows([call.id], call);
            return undefined;
          },
          ...coalesce,
        });

  return {
    create: async (tenantId, definition, actor) => {
      const created = await audited(async (tx) => {
        const created = await insert(tx, tenantId, definition, 'api');
        return {
          result: created,
          audit: {
            tenantId,
            actor,
            action: 'budget.create',
            target: `budget:${created.id}`,
            after: auditView(created),
          },
        };
      });
      budgetless?.forget(tenantId);
      return created;
    },

    list: (tenantId) => selectWithUsage(client, 'b.tenant_id = $4', [tenantId]),

    get: async (tenantId, id) =>
      (await selectWithUsage(client, 'b.tenant_id = $4 AND b.id = $5', [tenantId, id]))[0],

    update: (tenantId, id, patch, actor) =>
      audited(async (tx) => {
        await tx.query(`SELECT 1 FROM ${budgets} WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, [
          tenantId,
          id,
        ]);
        const before = (await selectWithUsage(tx, 'b.tenant_id = $4 AND b.id = $5', [tenantId, id]))[0];
        if (before === undefined) return { result: undefined };
        const limitUsd = patch.limitUsd === undefined ? before.limitUsd : patch.limitUsd;
        const limitTokens = patch.limitTokens === undefined ? before.limitTokens : patch.limitTokens;
        await tx.query(
          `UPDATE ${budgets} SET limit_usd = $2, limit_tokens = $3, soft_pct = $4, on_exhausted = $5, updated_at = now()
           WHERE id = $1`,
          [
            id,
            numericOrNull(limitUsd),
            limitTokens,
            patch.softPct ?? before.softPct,
            patch.onExhausted ?? before.onExhausted,
          ],
        );
        const after = (await selectWithUsage(tx, 'b.id = $4', [id]))[0] as BudgetWithUsage;
        return {
          result: after,
          audit: {
            tenantId,
            actor,
            action: 'budget.update',
            target: `budget:${id}`,
            before: auditView(before),
            after: auditView(after),
          },
        };
      }),

    extend(extension, executor) {
      const change = async (tx: SqlExecutor) => {
        const { tenantId, budgetId } = extension;
        await tx.query(`SELECT 1 FROM ${budgets} WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, [
          tenantId,
          budgetId,
        ]);
        const before = (await selectWithUsage(tx, 'b.tenant_id = $4 AND b.id = $5', [tenantId, budgetId]))[0];
        if (before === undefined) return undefined;
        // A run-period budget counts each run apart: the held run's counter is the one that matters.
        const usage = before.period === 'run' ? await runUsage(tx, budgetId, extension.runId) : before.usage;
        // By default the held call's whole worst case (plus any overdraft, e.g. a limit lowered
        // since): each approval buys room for its own call, however many runs wait on the budget.
        const overUsd = (limit: number) => Math.max(0, usage.spentUsd + usage.reservedUsd - limit);
        const overTokens = (limit: number) => Math.max(0, usage.spentTokens + usage.reservedTokens - limit);
        const limitUsd =
          before.limitUsd === null
            ? null
            : roundUsd(
                before.limitUsd + (extension.addUsd ?? extension.needs.usd + overUsd(before.limitUsd)),
              );
        const limitTokens =
          before.limitTokens === null
            ? null
            : before.limitTokens +
              Math.ceil(extension.addTokens ?? extension.needs.tokens + overTokens(before.limitTokens));
        // Nothing to add (a call that needs nothing): nothing to change, nothing to audit.
        if (limitUsd === before.limitUsd && limitTokens === before.limitTokens)
          return { before, after: before };
        await tx.query(
          `UPDATE ${budgets} SET limit_usd = $2, limit_tokens = $3, updated_at = now() WHERE id = $1`,
          [budgetId, numericOrNull(limitUsd), limitTokens],
        );
        const after = (await selectWithUsage(tx, 'b.id = $4', [budgetId]))[0] as BudgetWithUsage;
        await appendAudit(
          tx,
          {
            tenantId,
            actor: extension.actor,
            action: 'budget.extend',
            target: `budget:${budgetId}`,
            before: auditView(before),
            after: auditView(after),
            details: { ...extension.details, needs: extension.needs },
          },
          { schema },
        );
        return { before, after };
      };
      return executor === undefined ? client.transaction(change) : change(executor);
    },

    delete: (tenantId, id, actor) =>
      audited(async (tx) => {
        await tx.query(`SELECT 1 FROM ${budgets} WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, [
          tenantId,
          id,
        ]);
        const before = (await selectWithUsage(tx, 'b.tenant_id = $4 AND b.id = $5', [tenantId, id]))[0];
        if (before === undefined) return { result: undefined };
        await tx.query(`DELETE FROM ${budgets} WHERE id = $1`, [id]);
        await tx.query(`DELETE FROM ${counters} WHERE budget_id = $1`, [id]);
        return {
          result: before,
          audit: {
            tenantId,
            actor,
            action: 'budget.delete',
            target: `budget:${id}`,
            before: auditView(before),
          },
        };
      }),

    async upsertDeclared(declared) {
      for (const definition of declared) {
        // Processes starting together upsert the same declared budget: when another one inserted
        // it between this one's look-up and insert, the second pass finds and compares its row.
        try {
          await upsertOneDeclared(definition);
        } catch (error) {
          if (!(error instanceof BudgetConflictError)) throw error;
          await upsertOneDeclared(definition);
        }
        budgetless?.forget(definition.tenantId);
      }
    },

    async reserve(request) {
      const now = clock.now();
      const call = reserveCall(request, createId('bres'), periodKeys(now));
      // No budget and no run limit: nothing to hold, no round trip.
      if (budgetless !== undefined && request.runLimit === undefined) {
        const known = budgetless.known(request.tenantId);
        if (known === true || (known === undefined && (await budgetless.has(request.tenantId))))
          return unheld(call);
      }
      const row = coalescer === undefined ? await reserveOne(call) : await coalescer.submit(call);
      return reservationOf(request, call, row, now);
    },

    isBudgetless: (tenantId) =>
      budgetless === undefined ? false : (budgetless.known(tenantId) ?? budgetless.has(tenantId)),

    async settle(reservationId, spend) {
      if (settleCoalescer === undefined) await settleRows([reservationId], settleAmounts(spend));
      else await settleCoalescer.submit({ id: reservationId, ...settleAmounts(spend) });
    },

    release: (reservationIds) =>
      reservationIds.length === 0 ? Promise.resolve(0) : settleRows(reservationIds),

    async releaseForRun(runId, olderThanFence) {
      const held = await client.query<{ id: string }>(
        `SELECT id FROM ${schema}.budget_reservations WHERE run_id = $1 AND ($2::bigint IS NULL OR fence < $2::bigint)`,
        [runId, olderThanFence ?? null],
      );
      if (held.rows.length === 0) return 0;
      return settleRows(held.rows.map((row) => row.id));
    },

    async releaseOlderThan(ageMs, { includeRuns = false } = {}) {
      const held = await client.query<{ id: string }>(
        `SELECT id FROM ${schema}.budget_reservations
         WHERE created_at < $1::timestamptz AND ($2 OR run_id IS NULL) ORDER BY id LIMIT 1000`,
        [new Date(clock.now() - ageMs), includeRuns],
      );
      if (held.rows.length === 0) return 0;
      return settleRows(held.rows.map((row) => row.id));
    },

    async checkPricedUnderBudgets(subject, model) {
      if (
        callPricing({ ...model, promptTokens: 0, ...(model.priceTable ? { table: model.priceTable } : {}) })
          .known
      )
        return;
      const found = await client.query<{ id: string; scope: string; scope_id: string }>(
        `SELECT id, scope, scope_id FROM ${budgets}
         WHERE tenant_id = $1 AND limit_usd IS NOT NULL AND (
           (scope = 'tenant' AND scope_id = $1) OR (scope = 'agent' AND scope_id = $2)
           OR (scope = 'user' AND scope_id = $3) OR (scope = 'session' AND scope_id = $4)
           OR (scope = 'api_key' AND scope_id = $5) OR (scope = 'run' AND scope_id = $6))
         ORDER BY id LIMIT 1`,
        [
          subject.tenantId,
          subject.agent ?? null,
          subject.userId ?? null,
          subject.sessionId ?? null,
          subject.apiKeyId ?? null,
          subject.runId ?? null,
        ],
      );
      const budget = found.rows[0];
      if (budget !== undefined)
        throw new ModelPriceUnknownError(model, {
          budgetId: budget.id,
          scope: budget.scope,
          scopeId: budget.scope_id,
        });
    },
  };
}

function toBudget(row: BudgetRow): Budget {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    scope: row.scope as BudgetScope,
    scopeId: row.scope_id,
    period: row.period as BudgetPeriod,
    limitUsd: numberOrNull(row.limit_usd),
    limitTokens: numberOrNull(row.limit_tokens),
    softPct: Number(row.soft_pct),
    onExhausted: row.on_exhausted as OnExhausted,
    source: row.source === 'config' ? 'config' : 'api',
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

function toBudgetWithUsage(row: BudgetRow, now: number): BudgetWithUsage {
  const budget = toBudget(row);
  const periodKey =
    budget.period === 'run' ? null : budget.period === 'total' ? 'total' : periodKeys(now)[budget.period];
  return {
    ...budget,
    usage: {
      periodKey,
      spentUsd: Number(row.spent_usd ?? 0),
      reservedUsd: Number(row.reserved_usd ?? 0),
      spentTokens: Number(row.spent_tokens ?? 0),
      reservedTokens: Number(row.reserved_tokens ?? 0),
    },
  };
}

/** What the audit log keeps of a budget: its definition, not its counters. */
function auditView(budget: Budget) {
  return {
    scope: budget.scope,
    scope_id: budget.scopeId,
    period: budget.period,
    limit_usd: budget.limitUsd,
    limit_tokens: budget.limitTokens,
    soft_pct: budget.softPct,
    on_exhausted: budget.onExhausted,
  };
}

interface SettleRow {
  budget_id: string | null;
  period_key: string | null;
  spent_usd: string | null;
  spent_tokens: string | number | null;
  crossed: boolean;
  settled: number;
}

/** One settlement, named as `budget_settle_batch` reads it. */
interface SettleCall {
  id: string;
  usd: string | null;
  tokens: number | null;
}

/** What a settlement charges: null charges nothing. */
function settleAmounts(spend: CallSpend | undefined): { usd: string | null; tokens: number | null } {
  return {
    usd: spend?.costUsd === undefined ? null : numericOrNull(Math.max(0, spend.costUsd)),
    tokens: spend?.tokens === undefined ? null : Math.max(0, Math.round(spend.tokens)),
  };
}
