import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { auditTable, toAuditRecord, type AuditRow } from '../journal/audit-log.js';
import { migrate } from '../journal/migrations.js';
import { createPgClient } from '../journal/pg-client.js';
import { createPgliteClient } from '../journal/pglite-client.js';
import type { SqlClient } from '../journal/sql-client.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import type { BudgetAlert } from './budget-types.js';
import { createBudgetStore, type BudgetStore } from './budget-store.js';

// gpt-4o-mini: $0.15 per million prompt tokens, $0.60 per million output tokens.
const MINI = { provider: 'openai', modelId: 'gpt-4o-mini' };

function budgetContract(open: () => Promise<{ client: SqlClient; schema: string; close(): Promise<void> }>) {
  let client: SqlClient;
  let schema: string;
  let close: () => Promise<void>;
  let now: number;
  let alerts: BudgetAlert[];
  let store: BudgetStore;
  beforeEach(async () => {
    ({ client, schema, close } = await open());
    await migrate(client, { schema });
    now = Date.UTC(2026, 11, 5, 23, 30);
    alerts = [];
    store = createBudgetStore({
      client,
      schema,
      clock: { now: () => now },
      onAlert: (alert) => alerts.push(alert),
    });
  });
  afterEach(() => close());

  const call = (extra: Partial<Parameters<BudgetStore['reserve']>[0]> = {}) =>
    store.reserve({
      tenantId: 'acme',
      holder: 'test',
      model: MINI,
      promptTokens: 1000,
      maxOutputTokens: 1000,
      ...extra,
    });

  it('concurrent reservations against a small budget never hold more than it (all or nothing)', async () => {
    // Each call's worst case: 1000 * 0.15e-6 + 1000 * 0.6e-6 = $0.00075; 10 fit in $0.0075.
    await store.create(
      'acme',
      { scope: 'tenant', scopeId: 'acme', period: 'day', limitUsd: 0.0075 },
      'key:k',
    );
    await store.create('acme', { scope: 'agent', scopeId: 'planner', period: 'hour', limitUsd: 1 }, 'key:k');
    const outcomes = await Promise.allSettled(
      Array.from({ length: 40 }, () => call({ agent: 'planner', minOutputTokens: 1000 })),
    );
    const granted = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const refused = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(granted).toHaveLength(10);
    for (const outcome of refused) expect((outcome.reason as { code: string }).code).toBe('budget_exhausted');
    const [tenant, agent] = await store.list('acme');
    expect(tenant!.usage.reservedUsd).toBeCloseTo(0.0075, 12);
    expect(tenant!.usage.reservedUsd).toBeLessThanOrEqual(0.0075);
    // All or nothing: the agent budget holds exactly what the tenant budget holds.
    expect(agent!.usage.reservedUsd).toBe(tenant!.usage.reservedUsd);
  });

  it('lowers the granted output tokens to what the tightest budget affords, to the cent', async () => {
    // Exactly $0.00015 of prompt and 400 output tokens at $0.0000006.
    const limit = 0.00039;
    await store.create('acme', { scope: 'user', scopeId: 'u1', period: 'total', limitUsd: limit }, 'key:k');
    const grant = await call({ userId: 'u1' });
    expect(grant.grantedOutputTokens).toBe(400);
    // A caller with no matching budget is not limited.
    expect((await call({ userId: 'u2' })).grantedOutputTokens).toBe(1000);
    const error = await call({ userId: 'u1' }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      code: 'budget_exhausted',
      retryable: false,
      details: { scope: 'user', scopeId: 'u1' },
    });
    expect((error as Error).message).toMatch(/user "u1" per total/);
  });

  it('settles the actual cost, releases the rest, and a second settle changes nothing', async () => {
    const created = await store.create(
      'acme',
      { scope: 'api_key', scopeId: 'key_1', period: 'month', limitUsd: 1, limitTokens: 10_000 },
      'key:k',
    );
    const grant = await call({ apiKeyId: 'key_1' });
    await store.settle(grant.id, { costUsd: 0.0002, tokens: 1200 });
    await store.settle(grant.id, { costUsd: 0.0002, tokens: 1200 });
    const after = await store.get('acme', created.id);
    expect(after!.usage).toMatchObject({
      spentUsd: 0.0002,
      reservedUsd: 0,
      spentTokens: 1200,
      reservedTokens: 0,
    });
  });

  it('token limits: a call whose prompt alone passes the limit is refused; the grant is cut to what is left', async () => {
    await store.create(
      'acme',
      { scope: 'session', scopeId: 's1', period: 'total', limitTokens: 1500 },
      'key:k',
    );
    expect((await call({ sessionId: 's1' })).grantedOutputTokens).toBe(500);
    await expect(call({ sessionId: 's1' })).rejects.toMatchObject({ code: 'budget_exhausted' });
  });

  it('releases the reservations of a run execution older than a fence (a reclaimed lease)', async () => {
    const created = await store.create(
      'acme',
      { scope: 'tenant', scopeId: 'acme', period: 'total', limitUsd: 1 },
      'key:k',
    );
    await call({ runId: 'run_1', fence: 1 });
    await call({ runId: 'run_1', fence: 1 });
    const current = await call({ runId: 'run_1', fence: 2 });
    expect(await store.releaseForRun('run_1', 2)).toBe(2);
    const held = await store.get('acme', created.id);
    expect(held!.usage.reservedUsd).toBeCloseTo(current.reservedUsd, 12);
    expect(await store.releaseForRun('run_1')).toBe(1);
    expect((await store.get('acme', created.id))!.usage).toMatchObject({ reservedUsd: 0, spentUsd: 0 });
  });

  it("sweeps stale gateway holds (a dead process's), leaving runs' holds to their recovery", async () => {
    const created = await store.create(
      'acme',
      { scope: 'tenant', scopeId: 'acme', period: 'total', limitUsd: 1 },
      'key:k',
    );
    await call({ apiKeyId: 'key_1' });
    const runHold = await call({ runId: 'run_7', fence: 1 });
    now = Date.now() + 2 * 3_600_000;
    expect(await store.releaseOlderThan(3_600_000)).toBe(1);
    expect((await store.get('acme', created.id))!.usage.reservedUsd).toBeCloseTo(runHold.reservedUsd, 12);
    expect(await store.releaseOlderThan(3_600_000, { includeRuns: true })).toBe(1);
    expect((await store.get('acme', created.id))!.usage.reservedUsd).toBe(0);
  });

  it('periods roll: a spent hourly budget is whole again the next hour, and says when it resets', async () => {
    await store.create(
      'acme',
      { scope: 'tenant', scopeId: 'acme', period: 'hour', limitUsd: 0.001 },
      'key:k',
    );
    const grant = await call();
    await store.settle(grant.id, { costUsd: 0.001 });
    const error = await call().catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      code: 'budget_exhausted',
      retryable: true,
      details: { retryAfterMs: 30 * 60_000 },
    });
    now += 30 * 60_000;
    await expect(call()).resolves.toMatchObject({ grantedOutputTokens: 1000 });
  });

  it('alerts once per period when spend crosses the soft threshold', async () => {
    await store.create(
      'acme',
      { scope: 'tenant', scopeId: 'acme', period: 'day', limitUsd: 0.01, softPct: 50 },
      'key:k',
    );
    for (const cost of [0.004, 0.002, 0.001]) {
      const grant = await call();
      await store.settle(grant.id, { costUsd: cost });
    }
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ spentUsd: 0.006, budget: { scope: 'tenant', softPct: 50 } });
  });

  it('an unpriced model cannot run under a dollar budget, but can under a token budget', async () => {
    const unpriced = { provider: 'openai', modelId: 'gpt-9-unknown' };
    await store.create(
      'acme',
      { scope: 'agent', scopeId: 'a', period: 'day', limitTokens: 100_000 },
      'key:k',
    );
    await expect(
      store.checkPricedUnderBudgets({ tenantId: 'acme', agent: 'a' }, unpriced),
    ).resolves.toBeUndefined();
    await expect(call({ agent: 'a', model: unpriced })).resolves.toMatchObject({ grantedOutputTokens: 1000 });
    await store.create('acme', { scope: 'tenant', scopeId: 'acme', period: 'day', limitUsd: 5 }, 'key:k');
    await expect(
      store.checkPricedUnderBudgets({ tenantId: 'acme', agent: 'a' }, unpriced),
    ).rejects.toMatchObject({
      code: 'model_price_unknown',
    });
    await expect(call({ agent: 'a', model: unpriced })).rejects.toMatchObject({
      code: 'model_price_unknown',
    });
    await expect(
      call({ model: unpriced, runLimit: { limitUsd: 1, spentUsd: 0, spentTokens: 0 } }),
    ).rejects.toMatchObject({
      code: 'model_price_unknown',
    });
  });

  it('an implicit run budget (maxCostUsd, maxTokens) narrows and stops in the same statement', async () => {
    // Exactly $0.00015 of prompt and 250 output tokens.
    const limitUsd = 0.0003;
    const grant = await call({ runId: 'run_9', runLimit: { limitUsd, spentUsd: 0, spentTokens: 0 } });
    expect(grant.grantedOutputTokens).toBe(250);
    await expect(
      call({ runId: 'run_9', runLimit: { limitTokens: 1200, spentUsd: 0, spentTokens: 300 } }),
    ).rejects.toMatchObject({
      code: 'budget_exhausted',
      details: { scope: 'run', scopeId: 'run_9', budgetId: 'run:run_9' },
    });
  });

  it('create, update and delete are audited in the same transaction; duplicates are refused', async () => {
    const created = await store.create(
      'acme',
      { scope: 'tenant', scopeId: 'acme', period: 'day', limitUsd: 10 },
      'key:k1',
    );
    await expect(
      store.create('acme', { scope: 'tenant', scopeId: 'acme', period: 'day', limitUsd: 20 }, 'key:k1'),
    ).rejects.toMatchObject({ code: 'budget_exists', details: { existingId: created.id } });
    const updated = await store.update('acme', created.id, { limitUsd: 20 }, 'key:k1');
    expect(updated).toMatchObject({ limitUsd: 20, softPct: 80 });
    expect(await store.update('other', created.id, { limitUsd: 30 }, 'key:k1')).toBeUndefined();
    expect(await store.delete('acme', created.id, 'key:k1')).toMatchObject({ id: created.id });
    expect(await store.get('acme', created.id)).toBeUndefined();
    const audit = (await client.query<AuditRow>(`SELECT * FROM ${auditTable(schema)} ORDER BY id`)).rows.map(
      toAuditRecord,
    );
    expect(audit.map((row) => row.action)).toEqual(['budget.create', 'budget.update', 'budget.delete']);
    expect(audit[1]).toMatchObject({ before: { limit_usd: 10 }, after: { limit_usd: 20 }, actor: 'key:k1' });
  });

  it('config budgets are upserted: created once, updated when they change, audited as system:config', async () => {
    const declared = [
      { tenantId: 'acme', scope: 'tenant' as const, scopeId: 'acme', period: 'day' as const, limitUsd: 3 },
    ];
    await store.upsertDeclared(declared);
    await store.upsertDeclared(declared);
    await store.upsertDeclared([{ ...declared[0]!, limitUsd: 4 }]);
    const [budget] = await store.list('acme');
    expect(budget).toMatchObject({ limitUsd: 4, source: 'config' });
    const audit = (await client.query<AuditRow>(`SELECT * FROM ${auditTable(schema)} ORDER BY id`)).rows.map(
      toAuditRecord,
    );
    expect(audit.map((row) => `${row.actor} ${row.action}`)).toEqual([
      'system:config budget.create',
      'system:config budget.update',
    ]);
  });

  it('processes starting together upsert the same config budget: one budget, created once', async () => {
    const declared = [
      { tenantId: 'acme', scope: 'tenant' as const, scopeId: 'acme', period: 'total' as const, limitUsd: 5 },
    ];
    // Each its own store, as each process has; they race between look-up and insert.
    const processes = Array.from({ length: 8 }, () => createBudgetStore({ client, schema }));
    await Promise.all(processes.map((each) => each.upsertDeclared(declared)));
    expect((await store.list('acme')).map((budget) => budget.limitUsd)).toEqual([5]);
    const audit = (await client.query<AuditRow>(`SELECT * FROM ${auditTable(schema)} ORDER BY id`)).rows.map(
      toAuditRecord,
    );
    expect(audit.map((row) => row.action)).toEqual(['budget.create']);
  });

  it('fails closed when the database is unreachable', async () => {
    await store.create('acme', { scope: 'tenant', scopeId: 'acme', period: 'day', limitUsd: 1 }, 'key:k');
    await client.close();
    await expect(call()).rejects.toBeInstanceOf(Error);
  });
}

describe('budget store on PGlite', () => {
  budgetContract(async () => {
    const client = await createPgliteClient();
    return { client, schema: 'keel', close: () => client.close().catch(() => {}) };
  });
});

describePostgres('budget store on Postgres', (connectionString) => {
  let admin: SqlClient;
  beforeAll(() => {
    admin = createPgClient({ connectionString, max: 1 });
  });
  afterAll(() => admin.close());
  budgetContract(async () => {
    const schema = createTestSchemaName();
    const client = createPgClient({ connectionString, max: 8 });
    return {
      client,
      schema,
      close: async () => {
        await client.close().catch(() => {});
        await admin.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      },
    };
  });
});
