import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineAgent } from '../runtime/agent.js';
import { promptVersionOf } from '../runtime/prompt-version.js';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import { acceptedRunResponse, errorResponse, runListResponse, runResponse } from './schemas.js';

let app: TestServer;
beforeAll(async () => {
  app = await startTestServer();
});
afterAll(() => app.close());

/** The test server's agent, as `startTestServer` defines it. */
const echoVersion = promptVersionOf(
  defineAgent({ name: 'echo', instructions: 'Repeat.', model: 'builtin:echo' }),
);

async function submit(
  body: Record<string, unknown>,
  key = app.keys.admin,
  headers: Record<string, string> = {},
) {
  return app.call('/v1/runs', {
    method: 'POST',
    body: JSON.stringify({ agent: 'echo', input: 'hi', ...body }),
    key,
    headers,
  });
}

async function submitted(body: Record<string, unknown>, key = app.keys.admin) {
  const response = await submit(body, key);
  expect(response.status).toBe(202);
  const { id } = acceptedRunResponse.parse(await response.json());
  return runResponse.parse(await (await app.call(`/v1/runs/${id}`, { key })).json());
}

async function listed(query: string, key = app.keys.admin) {
  const response = await app.call(`/v1/runs?${query}`, { key });
  expect(response.status).toBe(200);
  return runListResponse.parse(await response.json()).data.map((run) => run.id);
}

describe('run attribution over HTTP', () => {
  it('records user, trigger (default user_explicit), the creating key and the prompt version', async () => {
    const writerId = (await app.apiKeys.verify(app.keys.writer))!.id;
    const plain = await submitted({});
    expect(plain).toMatchObject({
      user_id: null,
      trigger: 'user_explicit',
      created_by: (await app.apiKeys.verify(app.keys.admin))!.id,
      prompt_version: echoVersion,
    });
    expect(echoVersion).toMatch(/^code:[0-9a-f]{12}$/);
    const response = await submit(
      { user_id: 'user-7', trigger: 'schedule', metadata: { a: 1 } },
      app.keys.writer,
    );
    const { id } = acceptedRunResponse.parse(await response.json());
    const run = runResponse.parse(await (await app.call(`/v1/runs/${id}`)).json());
    expect(run).toMatchObject({
      user_id: 'user-7',
      trigger: 'schedule',
      created_by: writerId,
      prompt_version: echoVersion,
      metadata: { a: 1 },
    });
  });

  it('lists by user_id and trigger, within the caller’s tenant only', async () => {
    const user = `filter-${Date.now()}`;
    const first = await submitted({ user_id: user, trigger: 'eval' });
    const second = await submitted({ user_id: user });
    const otherTenant = await submitted({ user_id: user, trigger: 'eval' }, app.keys.otherTenant);
    expect(await listed(`user_id=${user}`)).toEqual([second.id, first.id]);
    expect(await listed(`user_id=${user}&trigger=eval`)).toEqual([first.id]);
    expect(await listed(`user_id=${user}&trigger=user_explicit`)).toEqual([second.id]);
    expect(await listed(`user_id=${user}`, app.keys.otherTenant)).toEqual([otherTenant.id]);
    expect(await listed(`user_id=${user}-nobody`)).toEqual([]);
    expect(await listed('trigger=eval&limit=500')).toContain(first.id);
    expect(await listed('trigger=eval&limit=500')).not.toContain(otherTenant.id);
  });

  it.each([
    ['user_id', { user_id: 'u'.repeat(201) }],
    ['user_id', { user_id: 42 }],
    ['user_id', { user_id: '' }],
    ['user_id', { user_id: 'a\u0000b' }],
    ['trigger', { trigger: 't'.repeat(65) }],
    ['trigger', { trigger: ['cli'] }],
    ['trigger', { trigger: 'half \ud800' }],
  ])('refuses a bad %s with 400 invalid_request naming it (%j)', async (field, body) => {
    const response = await submit(body);
    expect(response.status).toBe(400);
    const { error } = errorResponse.parse(await response.json());
    expect(error.code).toBe('invalid_request');
    expect(error.message).toContain(field);
  });

  it('refuses a bad filter with 400 naming it', async () => {
    for (const [query, field] of [
      [`user_id=${'u'.repeat(201)}`, 'user_id'],
      [`trigger=${'t'.repeat(65)}`, 'trigger'],
    ] as const) {
      const response = await app.call(`/v1/runs?${query}`);
      expect(response.status).toBe(400);
      const { error } = errorResponse.parse(await response.json());
      expect(error).toMatchObject({ code: 'invalid_request' });
      expect(error.message).toContain(field);
    }
  });

  it('treats the same Idempotency-Key with another user_id or trigger as another submission (422)', async () => {
    const headers = { 'idempotency-key': `attribution-${Date.now()}` };
    const first = await submit({ user_id: 'u1' }, app.keys.admin, headers);
    expect(first.status).toBe(202);
    const { id } = acceptedRunResponse.parse(await first.json());
    // The same request again, the default trigger spelled out: the same submission.
    const again = await submit({ user_id: 'u1', trigger: 'user_explicit' }, app.keys.admin, headers);
    expect(again.status).toBe(202);
    expect(acceptedRunResponse.parse(await again.json()).id).toBe(id);
    for (const body of [{ user_id: 'u2' }, {}, { user_id: 'u1', trigger: 'eval' }]) {
      const response = await submit(body, app.keys.admin, headers);
      expect(response.status).toBe(422);
      expect(errorResponse.parse(await response.json()).error.code).toBe('idempotency_key_reused');
    }
  });
});
