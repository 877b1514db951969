import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditTable, toAuditRecord, type AuditRow } from '../journal/audit-log.js';
import { defineAgent } from '../runtime/agent.js';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import { errorResponse } from './schemas.js';
import { budgetResponse } from './budget-routes.js';

let app: TestServer;
beforeAll(async () => {
  app = await startTestServer();
});
afterAll(() => app.close());

const send = (method: string, path: string, body?: unknown, key?: string) =>
  app.call(path, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    ...(key === undefined ? {} : { key }),
  });

async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(errorResponse.parse(await response.json()).error.code).toBe(code);
}

describe('/v1/budgets', () => {
  it('creates, reads, updates and deletes a budget; answers carry spend and reservations; every change audited', async () => {
    const created = await send('POST', '/v1/budgets', { scope: 'tenant', period: 'day', limit_usd: 10 });
    expect(created.status).toBe(201);
    const budget = budgetResponse.parse(await created.json());
    expect(budget).toMatchObject({
      tenant_id: 'tenant-a',
      scope: 'tenant',
      scope_id: 'tenant-a',
      period: 'day',
      limit_usd: 10,
      limit_tokens: null,
      soft_pct: 80,
      on_exhausted: 'stop',
      spent_usd: 0,
      reserved_usd: 0,
    });
    const read = budgetResponse.parse(await (await send('GET', `/v1/budgets/${budget.id}`)).json());
    expect(read.id).toBe(budget.id);
    const listed = (await (await send('GET', '/v1/budgets')).json()) as { data: unknown[] };
    expect(listed.data.map((entry) => budgetResponse.parse(entry).id)).toContain(budget.id);

    const patched = await send('PATCH', `/v1/budgets/${budget.id}`, { limit_usd: 12.5, soft_pct: 90 });
    expect(budgetResponse.parse(await patched.json())).toMatchObject({ limit_usd: 12.5, soft_pct: 90 });
    const deleted = await send('DELETE', `/v1/budgets/${budget.id}`);
    expect(deleted.status).toBe(200);
    await expectError(await send('GET', `/v1/budgets/${budget.id}`), 404, 'budget_not_found');

    const audit = (
      await app.client.query<AuditRow>(`SELECT * FROM ${auditTable()} WHERE target = $1 ORDER BY id`, [
        `budget:${budget.id}`,
      ])
    ).rows.map(toAuditRecord);
    expect(audit.map((row) => row.action)).toEqual(['budget.create', 'budget.update', 'budget.delete']);
    expect(audit[0]!.actor).toMatch(/^key:/);
    expect(audit[1]).toMatchObject({
      before: { limit_usd: 10, soft_pct: 80 },
      after: { limit_usd: 12.5, soft_pct: 90 },
    });
  });

  it("takes on_exhausted 'approval' on create and on update", async () => {
    const created = await send('POST', '/v1/budgets', {
      scope: 'agent',
      scope_id: 'waits',
      period: 'month',
      limit_usd: 5,
      on_exhausted: 'approval',
    });
    expect(created.status).toBe(201);
    const budget = budgetResponse.parse(await created.json());
    expect(budget.on_exhausted).toBe('approval');
    const patched = await send('PATCH', `/v1/budgets/${budget.id}`, { on_exhausted: 'stop' });
    expect(budgetResponse.parse(await patched.json()).on_exhausted).toBe('stop');
    const back = await send('PATCH', `/v1/budgets/${budget.id}`, { on_exhausted: 'approval' });
    expect(budgetResponse.parse(await back.json()).on_exhausted).toBe('approval');
  });

  it('another tenant cannot see or change a budget (404), and keys without admin are refused', async () => {
    const budget = budgetResponse.parse(
      await (
        await send('POST', '/v1/budgets', {
          scope: 'agent',
          scope_id: 'echo',
          period: 'hour',
          limit_tokens: 1000,
        })
      ).json(),
    );
    await expectError(
      await send('GET', `/v1/budgets/${budget.id}`, undefined, app.keys.otherTenant),
      404,
      'budget_not_found',
    );
    await expectError(
      await send('PATCH', `/v1/budgets/${budget.id}`, { limit_usd: 1 }, app.keys.otherTenant),
      404,
      'budget_not_found',
    );
    await expectError(
      await send('DELETE', `/v1/budgets/${budget.id}`, undefined, app.keys.otherTenant),
      404,
      'budget_not_found',
    );
    await expectError(await send('GET', '/v1/budgets', undefined, app.keys.reader), 403, 'forbidden');
    await expectError(
      await send('POST', '/v1/budgets', { scope: 'tenant', period: 'day', limit_usd: 1 }, app.keys.writer),
      403,
      'forbidden',
    );
    const other = (await (await send('GET', '/v1/budgets', undefined, app.keys.otherTenant)).json()) as {
      data: unknown[];
    };
    expect(other.data).toEqual([]);
  });

  it.each([
    [{ scope: 'planet', period: 'day', limit_usd: 1 }, 'invalid_request'],
    [{ scope: 'tenant', period: 'week', limit_usd: 1 }, 'invalid_request'],
    [{ scope: 'tenant', period: 'day', limit_usd: -1 }, 'invalid_request'],
    [{ scope: 'tenant', period: 'day', limit_usd: '10' }, 'invalid_request'],
    [{ scope: 'tenant', period: 'day', limit_usd: 1, soft_pct: 0 }, 'invalid_request'],
    [{ scope: 'tenant', period: 'day', limit_usd: 1, extra: true }, 'invalid_request'],
    [{ scope: 'tenant', period: 'day', limit_usd: 1, on_exhausted: 'panic' }, 'invalid_request'],
    [{ scope: 'tenant', period: 'day' }, 'invalid_budget'],
    [{ scope: 'user', period: 'day', limit_usd: 1 }, 'invalid_budget'],
    [{ scope: 'tenant', scope_id: 'tenant-b', period: 'day', limit_usd: 1 }, 'invalid_budget'],
    ['{not json', 'invalid_json'],
  ])('refuses %j with 400 %s', async (body, code) => {
    const response = await send('POST', '/v1/budgets', body);
    expect(response.status).toBe(400);
    const error = errorResponse.parse(await response.json()).error;
    if (code !== 'invalid_json') expect(error.code).toBe(code);
    else expect(error.code).toMatch(/invalid/);
  });

  it('refuses a duplicate (409 budget_exists), an empty or limit-clearing update (400 invalid_budget)', async () => {
    const body = { scope: 'session', scope_id: 's-1', period: 'total', limit_usd: 0.5 };
    const budget = budgetResponse.parse(await (await send('POST', '/v1/budgets', body)).json());
    await expectError(await send('POST', '/v1/budgets', body), 409, 'budget_exists');
    await expectError(await send('PATCH', `/v1/budgets/${budget.id}`, {}), 400, 'invalid_budget');
    await expectError(
      await send('PATCH', `/v1/budgets/${budget.id}`, { limit_usd: null }),
      400,
      'invalid_budget',
    );
    await expectError(
      await send('PATCH', '/v1/budgets/bud_missing', { limit_usd: 1 }),
      404,
      'budget_not_found',
    );
  });
});

describe('submitting a run under a dollar budget', () => {
  let priced: TestServer;
  beforeAll(async () => {
    const unpriced = defineAgent({ name: 'unpriced', instructions: 'x', model: 'openai:gpt-unknown-9' });
    const echo = defineAgent({ name: 'echo', instructions: 'x', model: 'builtin:echo' });
    priced = await startTestServer({
      agents: new Map([
        ['unpriced', unpriced],
        ['echo', echo],
      ]),
    });
  });
  afterAll(() => priced.close());
  const submit = (agent: string) =>
    priced.call('/v1/runs', {
      method: 'POST',
      body: JSON.stringify({ agent, input: 'go' }),
      key: priced.keys.writer,
    });

  it('refuses an unpriced model with 400 model_price_unknown naming the budget; a priced one is accepted', async () => {
    expect((await submit('unpriced')).status).toBe(202);
    const created = await priced.call('/v1/budgets', {
      method: 'POST',
      body: JSON.stringify({ scope: 'agent', scope_id: 'unpriced', period: 'day', limit_usd: 1 }),
    });
    expect(created.status).toBe(201);
    const refused = await submit('unpriced');
    expect(refused.status).toBe(400);
    const error = errorResponse.parse(await refused.json()).error;
    expect(error.code).toBe('model_price_unknown');
    expect(error.message).toContain('openai:gpt-unknown-9');
    expect(error.message).toContain('agent "unpriced"');
    expect((await submit('echo')).status).toBe(202);
  });
});
