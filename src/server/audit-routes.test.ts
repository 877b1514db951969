import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../journal/audit-log.js';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import { auditListResponse, eraseResponse } from './governance-schemas.js';
import { errorResponse } from './schemas.js';

let app: TestServer;
let operator: string;
beforeAll(async () => {
  app = await startTestServer();
  operator = await app.createKey('ops', ['operator']);
});
afterAll(() => app.close());

async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(errorResponse.parse(await response.json()).error.code).toBe(code);
}

async function audit(query: string, key: string = app.keys.admin) {
  const response = await app.call(`/v1/audit${query}`, { key });
  expect(response.status).toBe(200);
  return auditListResponse.parse(await response.json());
}

/** A run of `tenant-a` suspended on one pending approval (no worker involved). */
async function pendingApprovalId(): Promise<string> {
  const { run } = await app.store.createRun({ tenantId: 'tenant-a', agent: 'echo', input: 'pay' });
  const lease = await app.claim(run.id);
  const [approval] = await app.store.suspendForApproval(lease, {
    approvals: [
      {
        stepSeq: 0,
        tool: 'transfer',
        arguments: { amount: 7 },
        ttlMs: null,
        step: {
          seq: 0,
          parentSeq: null,
          kind: 'approval',
          name: 'transfer',
          inputHash: 'h',
          attempt: 1,
          startedAt: new Date(),
        },
      },
    ],
  });
  return approval!.id;
}

describe('GET /v1/audit', () => {
  it('records key create and revoke and approval decisions with the acting key, newest first', async () => {
    const adminId = (await app.apiKeys.verify(app.keys.admin))!.id;
    const created = (await (
      await app.call('/v1/keys', {
        method: 'POST',
        body: JSON.stringify({ scopes: ['runs:read'], name: 'ci' }),
      })
    ).json()) as { id: string; key: string };
    await app.call(`/v1/keys/${created.id}/revoke`, { method: 'POST' });
    await app.call(`/v1/keys/${created.id}/revoke`, { method: 'POST' });
    const approvalId = await pendingApprovalId();
    const decided = await app.call(`/v1/approvals/${approvalId}`, {
      method: 'POST',
      body: JSON.stringify({ decision: 'approve', reason: 'ok' }),
    });
    expect(decided.status).toBe(200);

    const page = await audit(`?actor=key:${adminId}`);
    expect(page.data.map((entry) => [entry.action, entry.target])).toEqual([
      ['approval.decide', `approval:${approvalId}`],
      ['api_key.revoke', `api_key:${created.id}`],
      ['api_key.create', `api_key:${created.id}`],
    ]);
    expect(page.data[0]).toMatchObject({ before: { status: 'pending' }, after: { status: 'approved' } });
    expect(page.data[2]!.after).toMatchObject({ name: 'ci', scopes: ['runs:read'], tenant_id: 'tenant-a' });
    expect(JSON.stringify(page)).not.toContain(created.key);
    expect(page.data.every((entry) => entry.tenant_id === 'tenant-a')).toBe(true);
  });

  it('filters by action (exact or thing.*), target and time, and pages newest first by cursor', async () => {
    for (let index = 0; index < 5; index++)
      await appendAudit(app.client, {
        tenantId: 'tenant-a',
        actor: 'system:test',
        action: index % 2 === 0 ? 'control.set' : 'control.clear',
        target: `tool:t${index}`,
      });
    const controls = await audit('?action=control.*&limit=2');
    expect(controls.data.map((entry) => entry.target)).toEqual(['tool:t4', 'tool:t3']);
    const second = await audit(`?action=control.*&limit=2&cursor=${controls.next_cursor!}`);
    expect(second.data.map((entry) => entry.target)).toEqual(['tool:t2', 'tool:t1']);
    const last = await audit(`?action=control.*&limit=2&cursor=${second.next_cursor!}`);
    expect(last.data.map((entry) => entry.target)).toEqual(['tool:t0']);
    expect(last.next_cursor).toBeNull();
    expect((await audit('?action=control.set')).data).toHaveLength(3);
    expect((await audit('?target=tool:t3')).data.map((entry) => entry.action)).toEqual(['control.clear']);
    expect((await audit('?action=control.*&since=2000-01-01T00:00:00Z')).data).toHaveLength(5);
    const later = new Date(Date.now() + 3_600_000).toISOString();
    expect((await audit(`?action=control.*&since=${later}`)).data).toEqual([]);
    expect((await audit('?action=control.*&until=2000-01-01T00:00:00Z')).data).toEqual([]);
  });

  it('an admin sees its tenant, an operator every tenant or one; others are refused', async () => {
    await appendAudit(app.client, {
      tenantId: 'tenant-b',
      actor: 'system:test',
      action: 'breaker.trip',
      target: 'agent:x',
    });
    expect((await audit('?action=breaker.trip')).data).toEqual([]);
    expect((await audit('?action=breaker.trip', app.keys.otherTenant)).data).toHaveLength(1);
    expect((await audit('?action=breaker.trip', operator)).data).toHaveLength(1);
    expect((await audit('?tenant_id=tenant-a&action=breaker.trip', operator)).data).toEqual([]);
    await expectError(await app.call('/v1/audit?tenant_id=tenant-b'), 403, 'forbidden');
    await expectError(await app.call('/v1/audit', { key: app.keys.reader }), 403, 'forbidden');
    await expectError(await app.call('/v1/audit', { key: null }), 401, 'unauthorized');
  });

  it('refuses a bad cursor, a bad time and an empty window with stable codes', async () => {
    await expectError(await app.call('/v1/audit?cursor=abc'), 400, 'invalid_cursor');
    await expectError(
      await app.call(`/v1/audit?cursor=${Buffer.from('{"id":-1}').toString('base64url')}`),
      400,
      'invalid_cursor',
    );
    await expectError(await app.call('/v1/audit?since=yesterday'), 400, 'invalid_request');
    await expectError(
      await app.call('/v1/audit?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z'),
      400,
      'invalid_request',
    );
    await expectError(await app.call('/v1/audit?limit=501'), 400, 'invalid_request');
  });
});

describe('DELETE /v1/users/{id}/data', () => {
  it("erases the user's runs in the key's tenant only, answers the counts, and audits them", async () => {
    const { run } = await app.store.createRun({
      tenantId: 'tenant-a',
      agent: 'echo',
      input: 'x',
      userId: 'alice',
    });
    const { run: kept } = await app.store.createRun({
      tenantId: 'tenant-b',
      agent: 'echo',
      input: 'x',
      userId: 'alice',
    });
    const response = await app.call('/v1/users/alice/data', { method: 'DELETE' });
    expect(response.status).toBe(200);
    const answer = eraseResponse.parse(await response.json());
    expect(answer).toMatchObject({
      user_id: 'alice',
      tenant_id: 'tenant-a',
      erased: { runs: 1, sessions: 0 },
    });
    expect(await app.store.getRun(run.id)).toBeUndefined();
    expect(await app.store.getRun(kept.id)).toBeDefined();
    const audited = await audit('?action=user.erase');
    expect(audited.data[0]).toMatchObject({ target: 'user:alice', details: answer.erased });
  });

  it('needs admin; a running run is refused with 409', async () => {
    await expectError(
      await app.call('/v1/users/bob/data', { method: 'DELETE', key: app.keys.writer }),
      403,
      'forbidden',
    );
    await expectError(
      await app.call('/v1/users/bob/data', { method: 'DELETE', key: operator }),
      403,
      'forbidden',
    );
    const { run } = await app.store.createRun({
      tenantId: 'tenant-a',
      agent: 'echo',
      input: 'x',
      userId: 'bob',
    });
    await app.claim(run.id);
    await expectError(await app.call('/v1/users/bob/data', { method: 'DELETE' }), 409, 'user_runs_running');
    expect(await app.store.getRun(run.id)).toBeDefined();
    await expectError(await app.call('/v1/users/bob/data', { method: 'PATCH' }), 405, 'method_not_allowed');
  });
});
