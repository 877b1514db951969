/**
 * The budget policy in the real loop (embedded store): reservations before each call, the
 * narrowed `maxOutputTokens` the model receives, settlement after, and the stop when a budget or
 * the run's own `maxCostUsd` cannot afford another call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../journal/open-store.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import { createScriptedModel } from '../model/builtin-model.js';
import type { LanguageModel, ModelRequest } from '../model/model.js';
import { estimateRequestTokens } from '../model/token-estimate.js';
import { defineAgent, type AgentLimits } from '../runtime/agent.js';
import { runAgent } from '../runtime/run-agent.js';
import { silentLogger } from '../util/logger.js';
import { createBudgetPolicy } from './budget-policy.js';
import { createBudgetStore, type BudgetStore } from './budget-store.js';

let store: JournalStore;
let client: SqlClient;
let budgets: BudgetStore;
beforeAll(async () => {
  ({ store, client } = await openStore({ dataDir: 'memory://' }));
  budgets = createBudgetStore({ client });
});
afterAll(() => store.close());

/** A scripted model priced as gpt-4o-mini ($0.15 / $0.60 per million), answering with `outputTokens` each turn. */
function pricedModel(
  outputTokens: (request: ModelRequest) => number,
): LanguageModel & { calls: ModelRequest[] } {
  const scripted = createScriptedModel({
    respond: (request) => {
      const output = outputTokens(request);
      return {
        text: 'x',
        // An honest provider: the prompt as the tokenizer counts it, never more output than allowed.
        usage: {
          inputTokens: estimateRequestTokens(request),
          outputTokens: Math.min(output, request.maxOutputTokens ?? output),
        },
      };
    },
  });
  return {
    provider: 'openai',
    modelId: 'gpt-4o-mini',
    calls: scripted.calls,
    generate: (request, options) => scripted.generate(request, options),
    stream: (request, options) => scripted.stream(request, options),
  };
}

let counter = 0;
const runWith = (model: LanguageModel, limits: AgentLimits = {}, userId?: string) => {
  const agent = defineAgent({ name: `budgeted-${++counter}`, instructions: 'Plan trips.', model, limits });
  return runAgent({
    store,
    agents: [agent],
    agent: agent.name,
    input: 'go',
    logger: silentLogger,
    policies: [createBudgetPolicy({ budgets, defaultMaxOutputTokens: 2000 })],
    ...(userId === undefined ? {} : { userId }),
  });
};

describe('budget policy', () => {
  it('caps an unbounded call at the reservation and settles the reported cost', async () => {
    const created = await budgets.create(
      'default',
      { scope: 'user', scopeId: 'ana', period: 'total', limitUsd: 1 },
      'key:test',
    );
    const model = pricedModel(() => 500);
    const result = await runWith(model, {}, 'ana');
    expect(result.stopReason).toBe('completed');
    expect(model.calls[0]!.maxOutputTokens).toBe(2000);
    const after = await budgets.get('default', created.id);
    expect(after!.usage.reservedUsd).toBe(0);
    const prompt = estimateRequestTokens(model.calls[0]!);
    expect(after!.usage.spentUsd).toBeCloseTo(prompt * 0.15e-6 + 500 * 0.6e-6, 12);
    expect(after!.usage.spentTokens).toBe(prompt + 500);
  });

  it('leaves a call without budgets or run limits as asked: nothing held, no cap added', async () => {
    const model = pricedModel(() => 5);
    const result = await runWith(model, {}, 'nobody-budgeted');
    expect(result.stopReason).toBe('completed');
    expect(model.calls[0]!.maxOutputTokens).toBeUndefined();
  });

  it('lowers maxOutputTokens to what the budget affords, then stops with stop reason budget naming it', async () => {
    // The prompt is counted by the tokenizer (a few dozen tokens); the budget leaves ~100 output tokens.
    await budgets.create(
      'default',
      { scope: 'user', scopeId: 'bo', period: 'day', limitUsd: 0.0001 },
      'key:test',
    );
    const model = pricedModel(() => 10_000);
    const first = await runWith(model, {}, 'bo');
    const granted = model.calls[0]!.maxOutputTokens!;
    expect(granted).toBeGreaterThan(0);
    expect(granted).toBeLessThan(167);
    expect(first.stopReason).toBe('completed');
    // The first run used its whole grant: less than one output token is left, so the next run
    // stops before any call.
    const second = await runWith(model, {}, 'bo');
    expect(second.stopReason).toBe('budget');
    expect(second.error).toMatchObject({
      code: 'budget_exhausted',
      details: { scope: 'user', scopeId: 'bo', period: 'day' },
    });
    expect(second.error?.message).toMatch(/user "bo" per day/);
    expect(model.calls).toHaveLength(1);
  });

  it("an agent's maxCostUsd goes through the same reservation: the call is narrowed, never overshoots", async () => {
    const model = pricedModel((request) => request.maxOutputTokens ?? 10_000);
    const result = await runWith(model, { maxCostUsd: 0.0006 });
    const granted = model.calls[0]!.maxOutputTokens!;
    expect(granted).toBeLessThan(1000);
    expect(result.costUsd).toBeGreaterThan(0.0006 - 0.6e-6);
    expect(result.costUsd).toBeLessThanOrEqual(0.0006);
  });

  it('an unpriced model under a dollar budget stops with model_price_unknown before any call', async () => {
    await budgets.create('default', { scope: 'user', scopeId: 'cy', period: 'day', limitUsd: 5 }, 'key:test');
    const scripted = createScriptedModel({ replies: ['never'] });
    const unpriced: LanguageModel = {
      provider: 'openai',
      modelId: 'gpt-unknown-9',
      generate: (request, options) => scripted.generate(request, options),
      stream: (request, options) => scripted.stream(request, options),
    };
    const result = await runWith(unpriced, {}, 'cy');
    expect(result.stopReason).toBe('budget');
    expect(result.error).toMatchObject({ code: 'model_price_unknown' });
    expect(scripted.calls).toHaveLength(0);
  });

  it("a run claimed again releases its earlier executions' reservations before its first call", async () => {
    const budget = await budgets.create(
      'default',
      { scope: 'session', scopeId: 'reclaimed', period: 'total', limitUsd: 1 },
      'key:test',
    );
    // What a crashed execution (fence 1) held and never settled.
    await budgets.reserve({
      tenantId: 'default',
      sessionId: 'reclaimed',
      runId: 'run_reclaimed',
      fence: 1,
      holder: 'run:run_reclaimed#1',
      model: { provider: 'openai', modelId: 'gpt-4o-mini' },
      promptTokens: 1000,
      maxOutputTokens: 1000,
    });
    expect((await budgets.get('default', budget.id))!.usage.reservedUsd).toBeGreaterThan(0);
    const model = pricedModel(() => 10);
    const agent = defineAgent({ name: 'reclaimed', instructions: 'x', model });
    const policy = createBudgetPolicy({ budgets });
    const { run: record } = await store.createRun({
      agent: 'reclaimed',
      input: 'go',
      sessionId: 'reclaimed',
    });
    const run = { ...record, id: 'run_reclaimed', fence: 2, attempts: 2 };
    const grant = await policy.reserveModelCall!({
      run,
      agent,
      model,
      signal: new AbortController().signal,
      seq: 1,
      modelCalls: 0,
      usage: { inputTokens: 0, outputTokens: 0 },
      costUsd: 0,
      attempt: 1,
      request: { messages: [{ role: 'user', content: 'go' }], maxOutputTokens: 100 },
    });
    if ('stop' in grant || 'approval' in grant) throw new Error('expected a grant');
    const held = (await budgets.get('default', budget.id))!.usage.reservedUsd;
    expect(held).toBeCloseTo(Number((grant.meta as { reservedUsd: number }).reservedUsd), 12);
    await grant.settle!({ ok: false });
    expect((await budgets.get('default', budget.id))!.usage).toMatchObject({ reservedUsd: 0, spentUsd: 0 });
  });

  it('a run that ends (however it ends) gives back every hold it still has', async () => {
    const budget = await budgets.create(
      'default',
      { scope: 'session', scopeId: 'ended', period: 'total', limitUsd: 1 },
      'key:test',
    );
    // What a crashed execution held, for a run that then ended at its claim (a cancel request).
    await budgets.reserve({
      tenantId: 'default',
      sessionId: 'ended',
      runId: 'run_ended',
      fence: 1,
      holder: 'run:run_ended#1',
      model: { provider: 'openai', modelId: 'gpt-4o-mini' },
      promptTokens: 1000,
      maxOutputTokens: 1000,
    });
    expect((await budgets.get('default', budget.id))!.usage.reservedUsd).toBeGreaterThan(0);
    const { run } = await store.createRun({ agent: 'ended', input: 'go', sessionId: 'ended' });
    await createBudgetPolicy({ budgets }).runEnded!({ ...run, id: 'run_ended' });
    expect((await budgets.get('default', budget.id))!.usage).toMatchObject({ reservedUsd: 0, spentUsd: 0 });
  });
});
