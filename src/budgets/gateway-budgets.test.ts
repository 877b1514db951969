/**
 * Budgets at the gateway's HTTP edge, end to end: a real listening gateway service over PGlite and
 * Postgres, a fake OpenAI upstream at the wire that reports usage, and one API key budget shared
 * by 100 concurrent callers.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../testing/fake-openai-server.js';
import { describeOnBothBackends, type ContractDatabase } from '../testing/sql-contract.js';
import { startBudgetedGateway, type BudgetedGateway } from './__fixtures__/budgeted-gateway.js';
import { createBudgetStore, type BudgetStore } from './budget-store.js';
import { createGatewayBudgets } from './gateway-budgets.js';

/** What the fake upstream reports: 10 prompt tokens and up to 50 output tokens (gpt-4o-mini prices). */
const REPORTED_PROMPT = 10;
const REPORTED_OUTPUT = 50;

function gatewayBudgetContract(open: () => Promise<ContractDatabase>) {
  let upstream: FakeOpenAIServer;
  let gateway: BudgetedGateway;
  beforeAll(async () => {
    upstream = await createFakeOpenAIServer({
      handler: (request) => {
        const body = request.body as { max_completion_tokens?: number; max_tokens?: number };
        const allowed = body.max_completion_tokens ?? body.max_tokens ?? REPORTED_OUTPUT;
        return {
          content: 'ok',
          usage: { promptTokens: REPORTED_PROMPT, completionTokens: Math.min(REPORTED_OUTPUT, allowed) },
        };
      },
    });
  });
  afterAll(() => upstream.close());
  beforeEach(async () => {
    gateway = await startBudgetedGateway({
      open,
      upstreamUrl: upstream.url,
      budgetsOver: (database) => createBudgetStore(database),
    });
  });
  afterEach(() => gateway.close());

  const newKey = () => gateway.newKey();
  const chat = (key: string, extra: Record<string, unknown> = {}) =>
    gateway.chat(key, { max_tokens: 100, ...extra });

  it('100 concurrent callers sharing one key budget: settled spend stays within it, the rest get 429 budget_exhausted', async () => {
    const { key, record } = await newKey();
    const limitUsd = 0.0015;
    const budget = await gateway.budgets.create(
      'acme',
      { scope: 'api_key', scopeId: record.id, period: 'day', limitUsd },
      'key:test',
    );
    const responses = await Promise.all(Array.from({ length: 100 }, () => chat(key)));
    const bodies = await Promise.all(
      responses.map(async (response) => ({
        response,
        json: (await response.json()) as { error?: { code: string; message: string } },
      })),
    );
    const ok = bodies.filter(({ response }) => response.status === 200);
    const refused = bodies.filter(({ response }) => response.status === 429);
    expect(ok.length + refused.length).toBe(100);
    expect(ok.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    for (const { response, json } of refused) {
      expect(json.error?.code).toBe('budget_exhausted');
      expect(json.error?.message).toContain(`api_key "${record.id}" per day`);
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    // Settlement runs after the answer: wait until no reservation is held.
    let usage = (await gateway.budgets.get('acme', budget.id))!.usage;
    for (let tries = 0; usage.reservedUsd > 0 && tries < 200; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      usage = (await gateway.budgets.get('acme', budget.id))!.usage;
    }
    expect(usage.reservedUsd).toBe(0);
    expect(usage.spentUsd).toBeLessThanOrEqual(limitUsd);
    // What was settled is what the answers cost (the last calls were narrowed to what was left).
    const answered = ok.reduce(
      (sum, { response }) => sum + Number(response.headers.get('x-keel-cost-usd')),
      0,
    );
    expect(usage.spentUsd).toBeCloseTo(answered, 7);
    // Only the calls that were reserved reached the provider.
    expect(upstream.requests.length).toBeGreaterThanOrEqual(ok.length);
  });

  it('lowers max_tokens sent upstream to what the budget affords, and settles a streamed call when it ends', async () => {
    const { key, record } = await newKey();
    const before = upstream.requests.length;
    // Affords the prompt and roughly 60 output tokens.
    const budget = await gateway.budgets.create(
      'acme',
      { scope: 'tenant', scopeId: 'acme', period: 'month', limitUsd: 0.00004 },
      'key:test',
    );
    const response = await chat(key, { stream: true, stream_options: { include_usage: true } });
    expect(response.status).toBe(200);
    await response.text();
    const sent = upstream.requests[before]!.body as { max_completion_tokens?: number; max_tokens?: number };
    const maxTokens = sent.max_completion_tokens ?? sent.max_tokens ?? 0;
    expect(maxTokens).toBeGreaterThan(0);
    expect(maxTokens).toBeLessThan(100);
    let usage = (await gateway.budgets.get('acme', budget.id))!.usage;
    for (let tries = 0; usage.reservedUsd > 0 && tries < 200; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      usage = (await gateway.budgets.get('acme', budget.id))!.usage;
    }
    expect(usage).toMatchObject({
      reservedUsd: 0,
      spentTokens: REPORTED_PROMPT + Math.min(REPORTED_OUTPUT, maxTokens),
    });
    void record;
  });

  it('a key without budgets is not limited; a user named by x-keel-user has its own', async () => {
    const { key } = await newKey();
    expect((await chat(key)).status).toBe(200);
    // No budget applies: a call that names no max_tokens is sent without one (no cap it did not ask for).
    const before = upstream.requests.length;
    expect((await chat(key, { max_tokens: undefined })).status).toBe(200);
    const sent = upstream.requests[before]!.body as Record<string, unknown>;
    expect(sent.max_completion_tokens ?? sent.max_tokens).toBeUndefined();
    await gateway.budgets.create(
      'acme',
      { scope: 'user', scopeId: 'eve', period: 'hour', limitTokens: 5 },
      'key:test',
    );
    const refused = await fetch(`${gateway.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-keel-user': 'eve' },
      body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('budget_exhausted');
    // A budget that would hold a run for an approval has no one to wait for at the HTTP edge: 429.
    await gateway.budgets.create(
      'acme',
      { scope: 'user', scopeId: 'zoe', period: 'hour', limitTokens: 5, onExhausted: 'approval' },
      'key:test',
    );
    const held = await chat(key, { user: 'zoe' });
    expect(held.status).toBe(429);
    expect(((await held.json()) as { error: { code: string } }).error.code).toBe('budget_exhausted');
    // OpenAI's own `user` field names the user too.
    expect((await chat(key, { user: 'eve' })).status).toBe(429);
    expect((await chat(key, { user: 'adam' })).status).toBe(200);
  });

  it("a budget per developer stops that developer's coding agent (Claude Code's metadata.user_id), not the others; calls are recorded with their user and session", async () => {
    const { key } = await newKey();
    const device = (name: string) => `${name}${'0'.repeat(64 - name.length)}`;
    const ada = device('ada');
    const bo = device('b0');
    /** A Messages call as Claude Code makes it: its ids in metadata.user_id and a session header. */
    const claudeCall = (developer: string, session: string) =>
      fetch(`${gateway.baseUrl}/v1/messages`, {
        method: 'POST',
        headers: {
          'x-api-key': key,
          'content-type': 'application/json',
          'anthropic-version': '2023-06-01',
          'x-claude-code-session-id': session,
        },
        body: JSON.stringify({
          model: 'fast',
          max_tokens: 20,
          messages: [{ role: 'user', content: 'Plan a day in Lyon.' }],
          metadata: {
            user_id: JSON.stringify({ device_id: developer, account_uuid: '', session_id: session }),
          },
        }),
      });
    const budget = await gateway.budgets.create(
      'acme',
      { scope: 'user', scopeId: ada, period: 'day', limitTokens: 150 },
      'key:test',
    );
    const statuses: number[] = [];
    let refusal: { type: string; error: { type: string; message: string } } | undefined;
    for (let call = 0; call < 20 && refusal === undefined; call++) {
      const response = await claudeCall(ada, 'ses-ada-1');
      statuses.push(response.status);
      if (response.status === 429) refusal = (await response.json()) as NonNullable<typeof refusal>;
      else expect(response.status, await response.text()).toBe(200);
      // Settlement runs after the answer: the next call sees it.
      let usage = (await gateway.budgets.get('acme', budget.id))!.usage;
      for (let tries = 0; usage.reservedTokens > 0 && tries < 200; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        usage = (await gateway.budgets.get('acme', budget.id))!.usage;
      }
    }
    // Some calls went through, then the developer's budget stopped the next one.
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThanOrEqual(2);
    expect(refusal?.error.message).toContain(`user "${ada}" per day`);
    expect((await gateway.budgets.get('acme', budget.id))!.usage.spentTokens).toBeLessThanOrEqual(150);
    // Another developer on the same key is not stopped by it.
    expect((await claudeCall(bo, 'ses-bo-1')).status).toBe(200);
    // A budget on one session stops that session only (Codex names its session in `session-id`).
    await gateway.budgets.create(
      'acme',
      { scope: 'session', scopeId: 'ses-bo-1', period: 'day', limitTokens: 5 },
      'key:test',
    );
    expect((await claudeCall(bo, 'ses-bo-1')).status).toBe(429);
    expect((await claudeCall(bo, 'ses-bo-2')).status).toBe(200);
    const codex = await fetch(`${gateway.baseUrl}/v1/responses`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        'session-id': 'ses-bo-1',
      },
      body: JSON.stringify({ model: 'fast', input: 'hi', max_output_tokens: 20 }),
    });
    expect(codex.status).toBe(429);

    await gateway.service.gateway.close();
    const recorded = await gateway.client.query<{
      user_id: string | null;
      session_id: string | null;
      n: number;
    }>(
      `SELECT user_id, session_id, count(*)::int AS n FROM ${gateway.schema}.gateway_calls
       GROUP BY user_id, session_id ORDER BY user_id, session_id`,
    );
    expect(recorded.rows).toEqual([
      { user_id: ada, session_id: 'ses-ada-1', n: statuses.filter((status) => status === 200).length },
      { user_id: bo, session_id: 'ses-bo-1', n: 1 },
      { user_id: bo, session_id: 'ses-bo-2', n: 1 },
    ]);
  });
}

describeOnBothBackends('gateway budgets', gatewayBudgetContract, { poolSize: 10 });

it('a tenant the store knows to be budgetless reserves nothing: no count, no price, no store call', async () => {
  const reserved: string[] = [];
  const asked: string[] = [];
  const store = {
    isBudgetless: (tenantId: string) => tenantId === 'free',
    reserve: async (request: { tenantId: string }) => {
      reserved.push(request.tenantId);
      return { id: 'r1', held: false, grantedOutputTokens: 64, reservedUsd: 0, reservedTokens: 0 };
    },
  } as unknown as BudgetStore;
  const gateway = {
    routeTargets: (route: string) => {
      asked.push(route);
      return [];
    },
  };
  const gatewayBudgets = createGatewayBudgets({ budgets: store, gateway });
  const request = {
    model: 'fast',
    messages: [{ role: 'user' as const, content: 'hi' }],
    maxOutputTokens: 64,
  };
  const free = await gatewayBudgets.reserve({
    caller: { keyId: 'k1', tenantId: 'free' },
    route: 'fast',
    request,
  });
  expect(free.maxOutputTokens).toBe(64);
  await free.settle(undefined);
  expect({ reserved, asked }).toEqual({ reserved: [], asked: [] });
  await gatewayBudgets.reserve({ caller: { keyId: 'k2', tenantId: 'paying' }, route: 'fast', request });
  expect({ reserved, asked }).toEqual({ reserved: ['paying'], asked: ['fast'] });
});
