/**
 * Coalesced reservations and settlements (`budget_reserve_batch`, `budget_settle_batch`): the
 * calls a process makes in one tick go to the database as one statement, decided in order.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { migrate } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';
import { describeOnBothBackends } from '../testing/sql-contract.js';
import type { BudgetAlert } from './budget-types.js';
import { createBudgetStore, type BudgetStore, type ReserveRequest } from './budget-store.js';

// gpt-4o-mini: $0.15 per million prompt tokens, $0.60 per million output tokens.
const MINI = { provider: 'openai', modelId: 'gpt-4o-mini' };

/** The client, recording the statements it runs (a real client underneath). */
function recording(client: SqlClient, statements: string[]): SqlClient {
  return {
    dialect: client.dialect,
    query: (sql, params) => {
      statements.push(sql);
      return client.query(sql, params);
    },
    exec: (sql) => client.exec(sql),
    transaction: (fn) => client.transaction(fn),
    listen: (channel, onNotify) => client.listen(channel, onNotify),
    notify: (channel, payload) => client.notify(channel, payload),
    close: () => client.close(),
  };
}

describeOnBothBackends('budget batches', (open) => {
  let client: SqlClient;
  let schema: string;
  let close: () => Promise<void>;
  let statements: string[];
  let alerts: BudgetAlert[];
  let store: BudgetStore;
  let ids: string[];
  const now = Date.UTC(2026, 11, 6, 2, 30);

  beforeEach(async () => {
    ({ client, schema, close } = await open());
    await migrate(client, { schema });
    statements = [];
    alerts = [];
    ids = [];
    let next = 0;
    store = createBudgetStore({
      client: recording(client, statements),
      schema,
      clock: { now: () => now },
      // Ids from a list when one is queued (to make two calls collide), else numbered.
      createId: (prefix) => ids.shift() ?? `${prefix}_${String(++next).padStart(4, '0')}`,
      onAlert: (alert) => alerts.push(alert),
      coalesce: { maxInFlight: 1 },
      // Every call asks the database (the cache is tested below with a store of its own).
      budgetlessCacheMs: 0,
    });
  });
  afterEach(() => close());

  const request = (extra: Partial<ReserveRequest> = {}): ReserveRequest => ({
    tenantId: 'acme',
    holder: 'test',
    model: MINI,
    promptTokens: 100,
    maxOutputTokens: 300,
    minOutputTokens: 300,
    ...extra,
  });
  const batches = () => statements.filter((sql) => sql.includes('budget_reserve_batch')).length;
  const singles = () => statements.filter((sql) => sql.includes('budget_reserve(')).length;
  const codeOf = (outcome: PromiseSettledResult<unknown>) =>
    outcome.status === 'rejected' ? (outcome.reason as { code: string }).code : 'ok';

  it('admits in order, refuses what no longer fits and still admits a later call that does', async () => {
    await store.create('acme', { scope: 'tenant', scopeId: 'acme', period: 'day', limitTokens: 1000 }, 'k');
    // Made in one tick: one statement. 400 + 400 fit, the third 400 does not, 200 does, then nothing.
    const outcomes = await Promise.allSettled([
      store.reserve(request()),
      store.reserve(request()),
      store.reserve(request()),
      store.reserve(request({ maxOutputTokens: 100, minOutputTokens: 100 })),
      store.reserve(request({ minOutputTokens: 1 })),
    ]);
    expect(batches()).toBe(1);
    expect(singles()).toBe(0);
    expect(outcomes.map(codeOf)).toEqual(['ok', 'ok', 'budget_exhausted', 'ok', 'budget_exhausted']);
    // A refusal reports the counter as the entries before it left it.
    expect((outcomes[2] as PromiseRejectedResult).reason).toMatchObject({
      details: { scope: 'tenant', limitTokens: 1000, reservedTokens: 800 },
    });
    const grants = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    expect(grants.map((grant) => [grant.held, grant.grantedOutputTokens, grant.reservedTokens])).toEqual([
      [true, 300, 400],
      [true, 300, 400],
      [true, 100, 200],
    ]);
    const [budget] = await store.list('acme');
    expect(budget!.usage.reservedTokens).toBe(1000);
    const rows = await client.query<{ tokens: number }>(
      `SELECT tokens FROM ${schema}.budget_reservations ORDER BY id`,
    );
    expect(rows.rows.map((row) => Number(row.tokens))).toEqual([400, 400, 200]);
  });

  it('narrows a grant to what is left after the entries before it, to the cent', async () => {
    // $0.00015 of prompt (1000 tokens) + output at $0.0000006 a token; $0.00075 for a full call.
    await store.create('acme', { scope: 'user', scopeId: 'u1', period: 'total', limitUsd: 0.00129 }, 'k');
    const big = { userId: 'u1', promptTokens: 1000, maxOutputTokens: 1000, minOutputTokens: 1 };
    const [first, second, third] = await Promise.allSettled([
      store.reserve(request(big)),
      store.reserve(request(big)),
      store.reserve(request(big)),
    ]);
    expect(batches()).toBe(1);
    expect(first).toMatchObject({ status: 'fulfilled', value: { grantedOutputTokens: 1000 } });
    // $0.00054 left: $0.00015 of prompt and 650 output tokens.
    expect(second).toMatchObject({ status: 'fulfilled', value: { grantedOutputTokens: 650 } });
    expect(codeOf(third!)).toBe('budget_exhausted');
    const [budget] = await store.list('acme');
    expect(budget!.usage.reservedUsd).toBeCloseTo(0.00129, 12);
  });

  it('decides every kind of entry in one batch as a lone call would', async () => {
    await store.create('acme', { scope: 'agent', scopeId: 'planner', period: 'hour', limitUsd: 1 }, 'k');
    await store.create('beta', { scope: 'tenant', scopeId: 'beta', period: 'month', limitTokens: 500 }, 'k');
    const unpriced = { provider: 'local', modelId: 'mystery-7b' };
    const outcomes = await Promise.allSettled([
      // No budget applies: nothing held.
      store.reserve(request({ agent: 'writer' })),
      // An unpriced model under a dollar budget.
      store.reserve(request({ agent: 'planner', model: unpriced })),
      // The run's own limit stops it before any budget.
      store.reserve(
        request({
          agent: 'planner',
          runId: 'run_1',
          runLimit: { limitTokens: 300, spentUsd: 0, spentTokens: 0 },
        }),
      ),
      store.reserve(request({ agent: 'planner' })),
      // Another tenant's budget in the same statement.
      store.reserve(request({ tenantId: 'beta' })),
      store.reserve(request({ tenantId: 'beta' })),
    ]);
    expect(batches()).toBe(1);
    expect(outcomes.map(codeOf)).toEqual([
      'ok',
      'model_price_unknown',
      'budget_exhausted',
      'ok',
      'ok',
      'budget_exhausted',
    ]);
    expect(outcomes[0]).toMatchObject({ value: { held: false, grantedOutputTokens: 300 } });
    expect((outcomes[2] as PromiseRejectedResult).reason).toMatchObject({
      details: { scope: 'run', scopeId: 'run_1' },
    });
    expect(outcomes[3]).toMatchObject({ value: { held: true } });
    const budgets = [...(await store.list('acme')), ...(await store.list('beta'))];
    expect(budgets.map((budget) => budget.usage.reservedTokens)).toEqual([400, 400]);
  });

  it('an entry that fails in the database fails alone: the others are decided one by one', async () => {
    await store.create('acme', { scope: 'tenant', scopeId: 'acme', period: 'day', limitTokens: 10_000 }, 'k');
    // The second call gets the first one's id: the batch's insert fails, and nothing of it is kept.
    ids.push('bres_same', 'bres_same', 'bres_other');
    const outcomes = await Promise.allSettled([
      store.reserve(request()),
      store.reserve(request()),
      store.reserve(request()),
    ]);
    expect(batches()).toBe(1);
    expect(singles()).toBe(3);
    expect(outcomes.map(codeOf)).toEqual(['ok', '23505', 'ok']);
    const [budget] = await store.list('acme');
    expect(budget!.usage.reservedTokens).toBe(800);
  });

  it('settles many calls in one statement, each with its own spend, alerting once', async () => {
    await store.create(
      'acme',
      { scope: 'tenant', scopeId: 'acme', period: 'day', limitTokens: 10_000, softPct: 10 },
      'k',
    );
    const grants = await Promise.all([store.reserve(request()), store.reserve(request())]);
    await Promise.all([
      store.settle(grants[0]!.id, { tokens: 700 }),
      store.settle(grants[1]!.id, { tokens: 500 }),
      // The same reservation twice in one batch: given back and charged once.
      store.settle(grants[1]!.id, { tokens: 500 }),
    ]);
    expect(statements.filter((sql) => sql.includes('budget_settle_batch'))).toHaveLength(1);
    const [budget] = await store.list('acme');
    expect(budget!.usage).toMatchObject({ reservedTokens: 0, spentTokens: 1200 });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ spentTokens: 1200 });
    // A settle of a reservation already settled changes nothing.
    await Promise.all([
      store.settle(grants[0]!.id, { tokens: 700 }),
      store.settle('bres_none', { tokens: 1 }),
    ]);
    expect((await store.list('acme'))[0]!.usage).toMatchObject({ reservedTokens: 0, spentTokens: 1200 });
  });

  it('batches of two stores at once, counters created on the way, never hold more than a limit', async () => {
    // 400 tokens a call; the user budget fits 10 calls, the tenant and agent budgets more.
    await store.create(
      'acme',
      { scope: 'tenant', scopeId: 'acme', period: 'day', limitTokens: 100_000 },
      'k',
    );
    await store.create(
      'acme',
      { scope: 'agent', scopeId: 'planner', period: 'hour', limitTokens: 50_000 },
      'k',
    );
    await store.create('acme', { scope: 'user', scopeId: 'u1', period: 'month', limitTokens: 4000 }, 'k');
    const stores = [0, 1].map(() =>
      createBudgetStore({
        client,
        schema,
        clock: { now: () => now },
        coalesce: { maxInFlight: 4, maxBatchSize: 8 },
      }),
    );
    const outcomes = await Promise.allSettled(
      Array.from({ length: 80 }, (_, index) =>
        stores[index % 2]!.reserve(request({ agent: 'planner', userId: 'u1' })),
      ),
    );
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(10);
    expect(new Set(outcomes.map(codeOf))).toEqual(new Set(['ok', 'budget_exhausted']));
    const usage = (await store.list('acme')).map((budget) => budget.usage.reservedTokens);
    expect(usage).toEqual([4000, 4000, 4000]);
  });

  it('a lone call goes alone, through budget_reserve', async () => {
    await store.create('acme', { scope: 'tenant', scopeId: 'acme', period: 'day', limitTokens: 1000 }, 'k');
    await store.reserve(request());
    await store.reserve(request());
    expect(batches()).toBe(0);
    expect(singles()).toBe(2);
  });

  it('a tenant without budgets reserves without a round trip, until a budget is created here or elsewhere', async () => {
    const cached = createBudgetStore({
      client: recording(client, statements),
      schema,
      clock: { now: () => now },
    });
    const first = await cached.reserve(request({ tenantId: 'free' }));
    expect(first).toMatchObject({ held: false, grantedOutputTokens: 300, reservedTokens: 400 });
    expect(first.reservedUsd).toBeCloseTo((100 * 0.15 + 300 * 0.6) / 1e6, 15);
    const looked = statements.length;
    await cached.reserve(request({ tenantId: 'free' }));
    await cached.reserve(request({ tenantId: 'free', agent: 'planner' }));
    expect(statements.length).toBe(looked);
    // Created through this store: the very next call is held.
    await cached.create(
      'free',
      { scope: 'agent', scopeId: 'planner', period: 'day', limitTokens: 1000 },
      'k',
    );
    expect(await cached.reserve(request({ tenantId: 'free', agent: 'planner' }))).toMatchObject({
      held: true,
    });

    // Created through another store (another process): held once the notification arrived.
    await cached.reserve(request({ tenantId: 'solo' }));
    const other = createBudgetStore({ client, schema, clock: { now: () => now } });
    await other.create('solo', { scope: 'tenant', scopeId: 'solo', period: 'day', limitTokens: 1000 }, 'k');
    await expect
      .poll(async () => (await cached.reserve(request({ tenantId: 'solo' }))).held, { timeout: 5000 })
      .toBe(true);

    // A run limit is checked in the database even for a tenant without budgets.
    const before = statements.length;
    await expect(
      cached.reserve(
        request({
          tenantId: 'free2',
          runId: 'r',
          runLimit: { limitTokens: 10, spentUsd: 0, spentTokens: 0 },
        }),
      ),
    ).rejects.toMatchObject({ code: 'budget_exhausted' });
    expect(statements.length).toBeGreaterThan(before);
  });

  it('without notifications, a tenant without budgets is asked again after budgetlessCacheMs', async () => {
    let clock = now;
    const deaf = createBudgetStore({
      client: { ...recording(client, statements), listen: async () => async () => {} },
      schema,
      clock: { now: () => clock },
      budgetlessCacheMs: 1000,
    });
    expect((await deaf.reserve(request({ tenantId: 'late' }))).held).toBe(false);
    await store.create('late', { scope: 'tenant', scopeId: 'late', period: 'day', limitTokens: 1000 }, 'k');
    // Not heard: the cached answer stands for up to a second.
    clock += 999;
    expect((await deaf.reserve(request({ tenantId: 'late' }))).held).toBe(false);
    clock += 1;
    expect((await deaf.reserve(request({ tenantId: 'late' }))).held).toBe(true);
  });

  it('a budgetless answer is kept from its arrival, and refreshed ahead while in use, so it does not expire under steady calls', async () => {
    let clock = now;
    const lookups = () => statements.filter((sql) => sql.includes('SELECT EXISTS')).length;
    const slowLookups: SqlClient = {
      ...recording(client, statements),
      // Notifications never arrive; each look-up takes 800 ms of the test's clock.
      listen: async () => async () => {},
      query: async (sql, params) => {
        statements.push(sql);
        const result = await client.query(sql, params);
        if (sql.includes('SELECT EXISTS')) clock += 800;
        return result as never;
      },
    };
    const cached = createBudgetStore({
      client: slowLookups,
      schema,
      clock: { now: () => clock },
      budgetlessCacheMs: 1000,
    });
    expect(await cached.isBudgetless?.('steady')).toBe(true);
    // Answered 800 ms after the look-up started: still fresh for 1 s from then.
    clock += 400;
    expect(cached.isBudgetless?.('steady')).toBe(true);
    expect(lookups()).toBe(1);
    // Half its age gone: still answered at once, and looked up again in the background.
    clock += 200;
    expect(cached.isBudgetless?.('steady')).toBe(true);
    await vi.waitFor(() => expect(lookups()).toBe(2));
    await vi.waitFor(() => expect(clock).toBe(now + 800 + 600 + 800));
    // Past 1 s after the first answer: the refreshed one answers, no call waits for a look-up.
    clock += 400;
    expect(cached.isBudgetless?.('steady')).toBe(true);
    expect(lookups()).toBe(2);
    // A budget created where it is not heard of applies at most 1 s after the last answer.
    await store.create(
      'steady',
      { scope: 'tenant', scopeId: 'steady', period: 'day', limitTokens: 1000 },
      'k',
    );
    clock += 500;
    await vi.waitFor(() => expect(cached.isBudgetless?.('steady')).toBe(false));
    expect((await cached.reserve(request({ tenantId: 'steady' }))).held).toBe(true);
  });

  it('isBudgetless answers from the cache, else looks up: a tenant is budgetless until it has a budget', async () => {
    let clock = now;
    const cached = createBudgetStore({
      client: { ...recording(client, statements), listen: async () => async () => {} },
      schema,
      clock: { now: () => clock },
      budgetlessCacheMs: 1000,
    });
    // Not known yet: looked up (asynchronously), then known (synchronously).
    const asked = cached.isBudgetless?.('fresh');
    expect(asked).toBeInstanceOf(Promise);
    expect(await asked).toBe(true);
    expect(cached.isBudgetless?.('fresh')).toBe(true);
    clock += 1000;
    // Expired: looked up again.
    const again = cached.isBudgetless?.('fresh');
    expect(again).toBeInstanceOf(Promise);
    expect(await again).toBe(true);
    await cached.create(
      'fresh',
      { scope: 'tenant', scopeId: 'fresh', period: 'day', limitTokens: 1000 },
      'k',
    );
    expect(await cached.isBudgetless?.('fresh')).toBe(false);
    // A store that asks the database every time never claims to know.
    await store.reserve(request({ tenantId: 'other' }));
    expect(store.isBudgetless?.('other')).toBe(false);
  });
});
