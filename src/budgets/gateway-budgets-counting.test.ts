/**
 * The gateway counts a prompt's tokens only when a budget needs the figure: a real listening
 * gateway service over PGlite and Postgres with a real budget store, a fake OpenAI upstream at the
 * wire that reports usage, and the token estimator watched (the real one, called through).
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, it, vi } from 'vitest';
import type * as tokenEstimate from '../model/token-estimate.js';
import { estimateRequestTokens } from '../model/token-estimate.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../testing/fake-openai-server.js';
import { describeOnBothBackends } from '../testing/sql-contract.js';
import { startBudgetedGateway, type BudgetedGateway } from './__fixtures__/budgeted-gateway.js';
import { createBudgetStore, type BudgetStore } from './budget-store.js';

vi.mock('../model/token-estimate.js', async (importOriginal) => {
  const real = await importOriginal<typeof tokenEstimate>();
  return { ...real, estimateRequestTokens: vi.fn(real.estimateRequestTokens) };
});
const counted = vi.mocked(estimateRequestTokens);

describeOnBothBackends('gateway token counting', (open) => {
  let upstream: FakeOpenAIServer;
  let gateway: BudgetedGateway;
  let clock: number;
  /** Another process's store, where budgets are created. */
  let elsewhere: BudgetStore;

  beforeAll(async () => {
    upstream = await createFakeOpenAIServer({
      handler: () => ({ content: 'ok', usage: { promptTokens: 10, completionTokens: 5 } }),
    });
  });
  afterAll(() => upstream.close());
  beforeEach(async () => {
    clock = Date.now();
    gateway = await startBudgetedGateway({
      open,
      upstreamUrl: upstream.url,
      // The gateway's store: notifications of budgets created elsewhere never reach it.
      budgetsOver: ({ client, schema }) =>
        createBudgetStore({
          client: {
            dialect: client.dialect,
            query: (sql, params) => client.query(sql, params),
            exec: (sql) => client.exec(sql),
            transaction: (fn) => client.transaction(fn),
            listen: async () => async () => {},
            notify: (channel, payload) => client.notify(channel, payload),
            close: () => client.close(),
          },
          schema,
          clock: { now: () => clock },
        }),
    });
    elsewhere = createBudgetStore({ client: gateway.client, schema: gateway.schema, budgetlessCacheMs: 0 });
    counted.mockClear();
  });
  afterEach(() => gateway.close());

  const chat = async (key: string) => {
    const response = await gateway.chat(key);
    expect(response.status).toBe(200);
    await response.json();
  };
  const spentTokens = async () =>
    (await elsewhere.list('acme')).reduce((sum, budget) => sum + budget.usage.spentTokens, 0);

  it('a tenant without a budget: no call counts its prompt, before or after the cache expires', async () => {
    const { key } = await gateway.newKey();
    await Promise.all([chat(key), chat(key), chat(key)]);
    clock += 5_000;
    await chat(key);
    clock += 600;
    await chat(key);
    expect(counted).not.toHaveBeenCalled();
  });

  it('a budget created while the gateway runs governs its calls at most 1 s after the last answer, notifications lost', async () => {
    const { key } = await gateway.newKey();
    await chat(key);
    await elsewhere.create(
      'acme',
      { scope: 'tenant', scopeId: 'acme', period: 'day', limitTokens: 100_000 },
      'k',
    );
    // Within the second the gateway trusts its answer, the budget is not seen yet (as documented).
    await chat(key);
    expect(counted).not.toHaveBeenCalled();
    clock += 1_000;
    await chat(key);
    expect(counted).toHaveBeenCalledTimes(1);
    await vi.waitFor(async () => expect(await spentTokens()).toBe(15));
  });
});
