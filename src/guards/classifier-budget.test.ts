/**
 * A guard's classifier inside a run goes through the run's budget reservation like the run's own
 * model calls: reserved before it is called, settled with its usage, and not called at all when
 * the budget cannot afford it (then the guard's `onClassifierError` applies). On PGlite and, when
 * configured, on Postgres.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBudgetPolicy } from '../budgets/budget-policy.js';
import { createBudgetStore, type BudgetStore } from '../budgets/budget-store.js';
import { createPgClient } from '../journal/pg-client.js';
import { openStore } from '../journal/open-store.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import { createScriptedModel } from '../model/builtin-model.js';
import type { LanguageModel, ModelRequest } from '../model/model.js';
import { costOf } from '../model/prices.js';
import { estimateRequestTokens } from '../model/token-estimate.js';
import { defineAgent } from '../runtime/agent.js';
import { runAgent } from '../runtime/run-agent.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { silentLogger } from '../util/logger.js';
import { promptInjection } from './prompt-injection.js';

/** A scripted model priced as gpt-4o-mini that reports honest usage. */
function pricedModel(text: string): LanguageModel & { calls: ModelRequest[] } {
  const scripted = createScriptedModel({
    respond: (request) => ({
      text,
      usage: {
        inputTokens: estimateRequestTokens(request),
        outputTokens: Math.min(20, request.maxOutputTokens ?? 20),
      },
    }),
  });
  return {
    provider: 'openai',
    modelId: 'gpt-4o-mini',
    calls: scripted.calls,
    generate: (request, options) => scripted.generate(request, options),
    stream: (request, options) => scripted.stream(request, options),
  };
}

const callCost = (request: ModelRequest) =>
  costOf({
    provider: 'openai',
    modelId: 'gpt-4o-mini',
    usage: { inputTokens: estimateRequestTokens(request), outputTokens: 20 },
  })!;

function classifierBudgetContract(
  open: () => Promise<{ store: JournalStore; client: SqlClient; schema: string }>,
) {
  let store: JournalStore;
  let budgets: BudgetStore;
  beforeAll(async () => {
    const opened = await open();
    store = opened.store;
    budgets = createBudgetStore({ client: opened.client, schema: opened.schema });
  });
  afterAll(() => store.close());

  let counter = 0;
  const runWith = async (tenantId: string, onClassifierError: 'open' | 'closed') => {
    const classifier = pricedModel('{"injection": false, "confidence": 0.05}');
    const model = pricedModel('A trip to Lisbon.');
    const guard = promptInjection({ classifier, onClassifierError });
    const agent = defineAgent({
      name: `classified-${++counter}`,
      instructions: 'Plan trips.',
      model,
      guards: [guard],
    });
    const result = await runAgent({
      store,
      agents: [agent],
      agent: agent.name,
      input: 'Plan three days in Lisbon in May.',
      tenantId,
      logger: silentLogger,
      policies: [createBudgetPolicy({ budgets, defaultMaxOutputTokens: 2000 })],
    });
    return { result, classifier, model, guard };
  };

  it("reserves the classifier's call against the tenant budget and settles its cost", async () => {
    const budget = await budgets.create(
      'acme',
      { scope: 'tenant', scopeId: 'acme', period: 'total', limitUsd: 1 },
      'key:test',
    );
    const { result, classifier, model, guard } = await runWith('acme', 'closed');
    expect(result.stopReason).toBe('completed');
    expect(classifier.calls).toHaveLength(1);
    expect(classifier.calls[0]!.maxOutputTokens).toBe(200);
    expect(model.calls).toHaveLength(1);
    expect(guard.counters).toMatchObject({ classifierCalls: 1, classifierErrors: 0 });
    const usage = (await budgets.get('acme', budget.id))!.usage;
    expect(usage.reservedUsd).toBe(0);
    const classifierCost = callCost(classifier.calls[0]!);
    // The budget counts both calls; the run's own cost is its model steps only.
    expect(usage.spentUsd).toBeCloseTo(result.costUsd + classifierCost, 12);
    expect(result.costUsd).toBeCloseTo(callCost(model.calls[0]!), 12);
  });

  it('an exhausted budget: the classifier is not called and fail-closed blocks the run', async () => {
    await budgets.create(
      'spent-closed',
      { scope: 'tenant', scopeId: 'spent-closed', period: 'total', limitUsd: 0.000001 },
      'key:test',
    );
    const { result, classifier, model, guard } = await runWith('spent-closed', 'closed');
    expect(result.stopReason).toBe('guard_blocked');
    expect(classifier.calls).toHaveLength(0);
    expect(model.calls).toHaveLength(0);
    expect(guard.counters).toMatchObject({ classifierCalls: 1, classifierErrors: 1, failedClosed: 1 });
    const steps = await store.loadSteps(result.id, { withOutputs: true });
    const verdict = steps.find((step) => step.kind === 'guard')!;
    expect(verdict.output).toMatchObject({
      action: 'block',
      details: { classifierError: expect.stringContaining('Budget exhausted') },
    });
  });

  it('an exhausted budget: fail-open warns, and the run stops at its own model call with `budget`', async () => {
    await budgets.create(
      'spent-open',
      { scope: 'tenant', scopeId: 'spent-open', period: 'total', limitUsd: 0.000001 },
      'key:test',
    );
    const { result, classifier, model, guard } = await runWith('spent-open', 'open');
    expect(result.stopReason).toBe('budget');
    expect(result.error).toMatchObject({ code: 'budget_exhausted' });
    expect(classifier.calls).toHaveLength(0);
    expect(model.calls).toHaveLength(0);
    expect(guard.counters).toMatchObject({ classifierErrors: 1, failedOpen: 1 });
    const steps = await store.loadSteps(result.id, { withOutputs: true });
    expect(steps.find((step) => step.kind === 'guard')!.output).toMatchObject({ action: 'warn' });
  });
}

describe('guard classifier under budgets on PGlite', () => {
  classifierBudgetContract(async () => {
    const { store, client } = await openStore({ dataDir: 'memory://' });
    return { store, client, schema: 'keel' };
  });
});

describePostgres('guard classifier under budgets on Postgres', (connectionString) => {
  const schema = createTestSchemaName();
  let admin: SqlClient;
  beforeAll(() => {
    admin = createPgClient({ connectionString, max: 1 });
  });
  afterAll(async () => {
    await admin.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.close();
  });
  classifierBudgetContract(async () => {
    const { store, client } = await openStore({ databaseUrl: connectionString, schema, maxConnections: 4 });
    return { store, client, schema };
  });
});
