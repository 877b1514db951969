/**
 * Budgets under concurrency with real workers on Postgres: 200 runs submitted at once, sharing one
 * dollar tenant budget, executed by two workers on two connection pools (as two processes would),
 * with a model that reports usage. Settled spend never passes the budget, and neither does spend
 * plus what is held in flight at any moment.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPgClient } from '../journal/pg-client.js';
import { openStore } from '../journal/open-store.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import { createScriptedModel } from '../model/builtin-model.js';
import type { LanguageModel } from '../model/model.js';
import { estimateRequestTokens } from '../model/token-estimate.js';
import { defineAgent } from '../runtime/agent.js';
import { waitForRun } from '../runtime/run-agent.js';
import { createWorker, type Worker } from '../runtime/worker.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { silentLogger } from '../util/logger.js';
import { createBudgetPolicy } from './budget-policy.js';
import { createBudgetStore, type BudgetStore } from './budget-store.js';

const LIMIT_USD = 0.01;
const RUNS = 200;

/** A model priced as gpt-4o-mini that answers 300 output tokens (fewer when narrowed) and reports them. */
function pricedModel(): LanguageModel {
  const scripted = createScriptedModel({
    respond: (request) => ({
      text: 'plan',
      usage: {
        inputTokens: estimateRequestTokens(request),
        outputTokens: Math.min(300, request.maxOutputTokens ?? 300),
      },
    }),
  });
  return {
    provider: 'openai',
    modelId: 'gpt-4o-mini',
    generate: (request, options) => scripted.generate(request, options),
    stream: (request, options) => scripted.stream(request, options),
  };
}

describePostgres('budgets with two workers on Postgres', (connectionString) => {
  const schema = createTestSchemaName();
  let admin: SqlClient;
  const opened: { store: JournalStore; client: SqlClient; budgets: BudgetStore; worker: Worker }[] = [];
  const agent = defineAgent({ name: 'planner', instructions: 'Plan a trip.', model: pricedModel() });
  const capped = defineAgent({
    name: 'capped',
    instructions: 'Plan a trip.',
    model: pricedModel(),
    limits: { maxCostUsd: 0.0001 },
  });
  beforeAll(async () => {
    admin = createPgClient({ connectionString, max: 1 });
    for (let index = 0; index < 2; index++) {
      const { store, client } = await openStore({ databaseUrl: connectionString, schema, maxConnections: 6 });
      const budgets = createBudgetStore({ client, schema });
      const worker = createWorker({
        store,
        agents: [agent, capped],
        concurrency: 16,
        pollMs: 20,
        logger: silentLogger,
        policies: [createBudgetPolicy({ budgets, defaultMaxOutputTokens: 2000 })],
      });
      opened.push({ store, client, budgets, worker });
    }
  });
  afterAll(async () => {
    for (const { worker, store } of opened) {
      await worker.stop();
      await store.close();
    }
    await admin.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.close();
  });

  it('200 runs sharing one $ tenant budget: settled spend and spend in flight never pass it', async () => {
    const [first, second] = opened as [(typeof opened)[0], (typeof opened)[0]];
    const budget = await first.budgets.create(
      'acme',
      { scope: 'tenant', scopeId: 'acme', period: 'day', limitUsd: LIMIT_USD },
      'key:test',
    );
    const runs = await Promise.all(
      Array.from({ length: RUNS }, (_, index) =>
        (index % 2 === 0 ? first : second).store.createRun({
          tenantId: 'acme',
          agent: 'planner',
          input: `trip ${index}`,
        }),
      ),
    );
    let maxInFlight = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const usage = (await first.budgets.get('acme', budget.id))!.usage;
        maxInFlight = Math.max(maxInFlight, usage.spentUsd + usage.reservedUsd);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    first.worker.start();
    second.worker.start();
    const ended = await Promise.all(
      runs.map(({ run }) => waitForRun({ store: first.store, runId: run.id, tenantId: 'acme', pollMs: 50 })),
    );
    sampling = false;
    await sampler;

    const completed = ended.filter((run) => run.stopReason === 'completed');
    const stopped = ended.filter((run) => run.stopReason === 'budget');
    expect(completed.length + stopped.length).toBe(RUNS);
    expect(completed.length).toBeGreaterThan(0);
    expect(stopped.length).toBeGreaterThan(0);
    for (const run of stopped)
      expect(run.error).toMatchObject({ code: 'budget_exhausted', details: { scope: 'tenant' } });
    const runSpend = ended.reduce((sum, run) => sum + run.costUsd, 0);
    const usage = (await first.budgets.get('acme', budget.id))!.usage;
    expect(usage.reservedUsd).toBe(0);
    expect(usage.spentUsd).toBeLessThanOrEqual(LIMIT_USD);
    expect(usage.spentUsd).toBeCloseTo(runSpend, 9);
    expect(maxInFlight).toBeLessThanOrEqual(LIMIT_USD);
  }, 120_000);

  it("a run's maxCostUsd is never exceeded: its one call is narrowed to fit", async () => {
    const { run } = await opened[0]!.store.createRun({ tenantId: 'other', agent: 'capped', input: 'trip' });
    const ended = await waitForRun({ store: opened[0]!.store, runId: run.id, tenantId: 'other', pollMs: 50 });
    expect(ended.stopReason).toBe('completed');
    expect(ended.costUsd).toBeGreaterThan(0);
    expect(ended.costUsd).toBeLessThanOrEqual(0.0001);
  }, 60_000);
});
