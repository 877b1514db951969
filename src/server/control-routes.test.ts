import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditTable, toAuditRecord, type AuditRow } from '../journal/audit-log.js';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import { agentStatusResponse, controlListResponse, controlResponse } from './control-schemas.js';
import { errorResponse } from './schemas.js';

let app: TestServer;
let operator: string;
beforeAll(async () => {
  app = await startTestServer({ withControls: true });
  operator = await app.createKey('ops', ['operator']);
});
afterAll(() => app.close());

const post = (path: string, body?: unknown, key: string = app.keys.admin) =>
  app.call(path, { method: 'POST', key, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(errorResponse.parse(await response.json()).error.code).toBe(code);
}

const submit = (key: string = app.keys.admin) => post('/v1/runs', { agent: 'echo', input: 'hi' }, key);

describe('/v1/controls', () => {
  it('an admin disables a tool in its tenant, lists it, clears it; each change audited with its key', async () => {
    const set = await post('/v1/controls', { kind: 'tool_disabled', target: 'weather', reason: 'API down' });
    expect(set.status).toBe(200);
    expect(controlResponse.parse(await set.json())).toMatchObject({
      tenant_id: 'tenant-a',
      kind: 'tool_disabled',
      target: 'weather',
      agent: null,
      reason: 'API down',
      set_by: expect.stringMatching(/^key:/),
      source: 'database',
    });
    const listed = controlListResponse.parse(await (await app.call('/v1/controls')).json());
    expect(listed.data.map((control) => control.target)).toEqual(['weather']);
    // Another tenant does not see it.
    const theirs = controlListResponse.parse(
      await (await app.call('/v1/controls', { key: app.keys.otherTenant })).json(),
    );
    expect(theirs.data).toEqual([]);

    const cleared = await post('/v1/controls/clear', { kind: 'tool_disabled', target: 'weather' });
    expect(controlResponse.parse(await cleared.json()).target).toBe('weather');
    await expectError(
      await post('/v1/controls/clear', { kind: 'tool_disabled', target: 'weather' }),
      404,
      'control_not_found',
    );
    const audit = (
      await app.client.query<AuditRow>(
        `SELECT * FROM ${auditTable()} WHERE target = 'tool:weather' ORDER BY id`,
      )
    ).rows.map(toAuditRecord);
    expect(audit.map((row) => row.action)).toEqual(['control.set', 'control.clear']);
  });

  it('keeps an admin in its tenant: every tenant ("*") and deployments need operator', async () => {
    await expectError(
      await post('/v1/controls', { kind: 'tool_disabled', target: 'x', tenant_id: '*' }),
      403,
      'forbidden',
    );
    await expectError(
      await post('/v1/controls', { kind: 'tool_disabled', target: 'x', tenant_id: 'tenant-b' }),
      403,
      'forbidden',
    );
    await expectError(
      await post('/v1/controls', { kind: 'deployment_disabled', target: 'openai-eu' }),
      403,
      'forbidden',
    );
    await expectError(await app.call('/v1/controls', { key: app.keys.writer }), 403, 'forbidden');
    const deployment = await post(
      '/v1/controls',
      { kind: 'deployment_disabled', target: 'openai-eu' },
      operator,
    );
    expect(controlResponse.parse(await deployment.json()).tenant_id).toBe('*');
    expect(app.controls?.deploymentDisabled('openai-eu')).toBeDefined();
    // The operator's global control shows in every tenant's list.
    const listed = controlListResponse.parse(
      await (await app.call('/v1/controls', { key: app.keys.otherTenant })).json(),
    );
    expect(listed.data.map((control) => control.target)).toContain('openai-eu');
    await post('/v1/controls/clear', { kind: 'deployment_disabled', target: 'openai-eu' }, operator);
  });

  it('refuses malformed bodies with 400 naming the problem', async () => {
    await expectError(await post('/v1/controls', { kind: 'tool_gone', target: 'x' }), 400, 'invalid_request');
    await expectError(
      await post('/v1/controls', { kind: 'tool_disabled', target: 'x', extra: 1 }),
      400,
      'invalid_request',
    );
    await expectError(await post('/v1/controls', { kind: 'tool_disabled' }), 400, 'invalid_control');
    await expectError(
      await post('/v1/controls', { kind: 'tool_disabled', target: 'two words' }),
      400,
      'invalid_control',
    );
    await expectError(
      await post('/v1/controls', { kind: 'agent_paused', target: 'echo', agent: 'x' }),
      400,
      'invalid_control',
    );
    await expectError(await post('/v1/controls', 'nope'), 400, 'invalid_request');
  });
});

describe('/v1/agents/{name}/pause and /resume', () => {
  it('a paused agent takes no new runs (409 agent_paused) until resumed; other tenants are unaffected', async () => {
    expect((await submit()).status).toBe(202);
    const paused = await post('/v1/agents/echo/pause', { reason: 'runaway spend' });
    expect(agentStatusResponse.parse(await paused.json())).toMatchObject({
      agent: 'echo',
      tenant_id: 'tenant-a',
      status: 'paused',
      control: { kind: 'agent_paused', reason: 'runaway spend' },
    });
    const refused = await submit();
    expect(refused.status).toBe(409);
    const body = errorResponse.parse(await refused.json());
    expect(body.error).toMatchObject({
      code: 'agent_paused',
      message: expect.stringMatching(/runaway spend/),
    });
    expect((await submit(app.keys.otherTenant)).status).toBe(202);

    const resumed = await post('/v1/agents/echo/resume');
    expect(agentStatusResponse.parse(await resumed.json())).toMatchObject({
      status: 'active',
      control: { kind: 'agent_paused' },
    });
    expect((await submit()).status).toBe(202);
    // Resuming again is harmless.
    expect(agentStatusResponse.parse(await (await post('/v1/agents/echo/resume')).json()).control).toBeNull();
  });

  it('a disabled agent answers 409 agent_disabled; a resume does not lift a disable or a pause of every tenant', async () => {
    await post('/v1/controls', { kind: 'agent_disabled', target: 'echo' });
    await expectError(await submit(), 409, 'agent_disabled');
    await post('/v1/controls/clear', { kind: 'agent_disabled', target: 'echo' });

    await post('/v1/agents/echo/pause', { tenant_id: '*' }, operator);
    const resumed = agentStatusResponse.parse(await (await post('/v1/agents/echo/resume')).json());
    expect(resumed).toMatchObject({ status: 'paused', control: null });
    await expectError(await submit(), 409, 'agent_paused');
    await post('/v1/agents/echo/resume', { tenant_id: '*' }, operator);
    expect((await submit()).status).toBe(202);
  });

  it('answers 404 for an unknown agent and 400 for a bad body', async () => {
    await expectError(await post('/v1/agents/nobody/pause'), 404, 'unknown_agent');
    await expectError(await post('/v1/agents/echo/pause', { reason: 3 }), 400, 'invalid_request');
    await expectError(await post('/v1/agents/echo/pause', {}, app.keys.writer), 403, 'forbidden');
  });
});

describe('a server without controls', () => {
  it('answers the control routes with controls_not_configured', async () => {
    const bare = await startTestServer();
    try {
      await expectError(await bare.call('/v1/controls'), 500, 'controls_not_configured');
    } finally {
      await bare.close();
    }
  });
});
