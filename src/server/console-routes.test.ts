import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineAgent } from '../runtime/agent.js';
import { defineTool } from '../tools/tool.js';
import { z } from 'zod';
import { createConsoleLogin } from './console-login.js';
import {
  agentListResponse,
  consoleLinkResponse,
  consoleSessionResponse,
  meResponse,
} from './console-schemas.js';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import { errorResponse } from './schemas.js';

async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(errorResponse.parse(await response.json()).error.code).toBe(code);
}

describe('GET /v1/me and the console sign-in exchange', () => {
  let app: TestServer;
  // The key the exchange mints is checked against the real clock by the auth path, so the
  // login's clock starts at the real now: a fixed date here expires the key once CI runs past it.
  let now = Date.now();
  const clock = { now: () => now };
  let issue: () => { token: string; expiresAt: Date };
  beforeAll(async () => {
    // The login needs the server's keys, which the test server creates: bound once it exists.
    const bound: { login?: ReturnType<typeof createConsoleLogin> } = {};
    app = await startTestServer({
      consoleLogin: {
        issue: (session) => bound.login!.issue(session),
        exchange: (token) => bound.login!.exchange(token),
      },
    });
    bound.login = createConsoleLogin({
      apiKeys: app.apiKeys,
      tenantId: 'tenant-a',
      clock,
      linkTtlMs: 60_000,
    });
    issue = () => bound.login!.issue();
  });
  afterAll(() => app.close());

  it('tells any valid key its tenant and scopes, and no key a 401', async () => {
    const admin = meResponse.parse(await (await app.call('/v1/me')).json());
    expect(admin).toMatchObject({ tenant_id: 'tenant-a', scopes: ['admin'], expires_at: null });
    const reader = meResponse.parse(await (await app.call('/v1/me', { key: app.keys.reader })).json());
    expect(reader.scopes).toEqual(['runs:read']);
    await expectError(await app.call('/v1/me', { key: null }), 401, 'unauthorized');
    await expectError(await app.call('/v1/me', { key: app.keys.revoked }), 401, 'unauthorized');
  });

  it('exchanges a link once for a short-lived admin key of the tenant, audited', async () => {
    const { token } = issue();
    const exchange = () =>
      app.call('/v1/console/session', { method: 'POST', body: JSON.stringify({ token }), key: null });
    const first = await exchange();
    expect(first.status).toBe(201);
    const session = consoleSessionResponse.parse(await first.json());
    expect(session).toMatchObject({ tenant_id: 'tenant-a', scopes: ['admin', 'metrics'] });
    expect(Date.parse(session.expires_at!) - now).toBe(12 * 3_600_000);
    const me = meResponse.parse(await (await app.call('/v1/me', { key: session.key })).json());
    expect(me).toMatchObject({ name: 'console session', key_id: session.key_id });
    await expectError(await exchange(), 401, 'login_link_invalid');
    const audit = await app.client.query<{ actor: string }>(
      `SELECT actor FROM keel.audit_log WHERE action = 'api_key.create' AND target = $1`,
      [`api_key:${session.key_id}`],
    );
    expect(audit.rows.map((row) => row.actor)).toEqual(['system:console-login']);
  });

  it("issues new links to admin keys only, each for the caller's tenant and no scope it lacks", async () => {
    const issued = await app.call('/v1/console/links', { method: 'POST', key: app.keys.otherTenant });
    expect(issued.status).toBe(201);
    const link = consoleLinkResponse.parse(await issued.json());
    expect(link).toMatchObject({ tenant_id: 'tenant-b' });
    const token = /^\/#login=(.+)$/.exec(link.path)![1]!;
    const session = consoleSessionResponse.parse(
      await (
        await app.call('/v1/console/session', { method: 'POST', body: JSON.stringify({ token }), key: null })
      ).json(),
    );
    expect(session).toMatchObject({ tenant_id: 'tenant-b', scopes: ['admin'] });
    // The session key's creation is audited as the key that asked for the link.
    const actors = await app.client.query<{ actor: string }>(
      `SELECT actor FROM keel.audit_log WHERE action = 'api_key.create' AND target = $1`,
      [`api_key:${session.key_id}`],
    );
    expect(actors.rows.map((row) => row.actor)).toEqual([expect.stringMatching(/^key:key_/)]);
    await expectError(
      await app.call('/v1/console/links', { method: 'POST', key: app.keys.reader }),
      403,
      'forbidden',
    );
    await expectError(
      await app.call('/v1/console/links', { method: 'POST', key: null }),
      401,
      'unauthorized',
    );
  });

  it('refuses an expired link, an unknown one and a malformed body', async () => {
    const { token } = issue();
    now += 61_000;
    const post = (body: string) => app.call('/v1/console/session', { method: 'POST', body, key: null });
    await expectError(await post(JSON.stringify({ token })), 401, 'login_link_invalid');
    await expectError(await post(JSON.stringify({ token: 'x'.repeat(32) })), 401, 'login_link_invalid');
    await expectError(await post('{"token":""}'), 400, 'invalid_request');
    await expectError(await post('{"token":"a","extra":1}'), 400, 'invalid_request');
    await expectError(await post('not json'), 400, 'invalid_json');
  });
});

describe('POST /v1/console/session without sign-in links', () => {
  it('answers 404 console_login_disabled, to an exchange and to a request for a link', async () => {
    const app = await startTestServer();
    try {
      await expectError(
        await app.call('/v1/console/links', { method: 'POST' }),
        404,
        'console_login_disabled',
      );
      await expectError(
        await app.call('/v1/console/session', { method: 'POST', body: '{"token":"abc"}', key: null }),
        404,
        'console_login_disabled',
      );
    } finally {
      await app.close();
    }
  });
});

describe('GET /v1/agents', () => {
  let app: TestServer;
  beforeAll(async () => {
    const lookup = defineTool({
      name: 'lookup',
      description: 'Looks a thing up.',
      input: z.object({ q: z.string() }),
      run: ({ q }) => q,
    });
    const wipe = defineTool({
      name: 'wipe',
      description: 'Deletes everything.',
      effect: 'destructive',
      input: z.object({}),
      run: () => 'gone',
    });
    const agent = defineAgent({
      name: 'helper',
      instructions: 'Help.',
      model: 'builtin:echo',
      tools: [lookup, wipe],
      limits: { maxSteps: 7, maxCostUsd: 0.5 },
    });
    app = await startTestServer({ agents: new Map([['helper', agent]]), withControls: true });
  });
  afterAll(() => app.close());

  it("lists each agent's model, tools, limits, prompt versions and hold, as the caller's tenant sees them", async () => {
    await app.controls!.set({
      tenantId: 'tenant-a',
      kind: 'tool_disabled',
      target: 'lookup',
      agent: null,
      reason: 'upstream down',
      actor: 'test',
    });
    await app.controls!.set({
      tenantId: 'tenant-a',
      kind: 'agent_paused',
      target: 'helper',
      agent: null,
      reason: 'spend',
      actor: 'test',
    });
    const body = agentListResponse.parse(
      await (await app.call('/v1/agents', { key: app.keys.reader })).json(),
    );
    const [helper] = body.data;
    expect(helper).toMatchObject({
      name: 'helper',
      model: 'builtin:echo',
      limits: { max_steps: 7, max_cost_usd: 0.5, max_tokens: null },
      prompt: { pinned_version: null },
      hold: { code: 'agent_paused', reason: 'spend' },
    });
    expect(helper!.prompt.current_version).toBe(helper!.prompt.code_version);
    expect(helper!.tools).toEqual([
      {
        name: 'lookup',
        description: 'Looks a thing up.',
        effect: 'none',
        needs_approval: false,
        disabled: true,
      },
      {
        name: 'wipe',
        description: 'Deletes everything.',
        effect: 'destructive',
        needs_approval: true,
        disabled: false,
      },
    ]);
    // Another tenant has none of tenant-a's controls.
    const other = agentListResponse.parse(
      await (await app.call('/v1/agents', { key: app.keys.otherTenant })).json(),
    );
    expect(other.data[0]).toMatchObject({ hold: null });
    expect(other.data[0]!.tools.every((tool) => !tool.disabled)).toBe(true);
    await expectError(await app.call('/v1/agents', { key: app.keys.writer }), 403, 'forbidden');
  });
});
