import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import { createdKeyResponse, errorResponse, keyListResponse, keyResponse } from './schemas.js';

let app: TestServer;
let operator: string;
beforeAll(async () => {
  app = await startTestServer();
  operator = await app.createKey('ops', ['operator']);
});
afterAll(() => app.close());

const create = (body: unknown, key = app.keys.admin) =>
  app.call('/v1/keys', { method: 'POST', body: JSON.stringify(body), key });

async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(errorResponse.parse(await response.json()).error.code).toBe(code);
}

describe('/v1/keys', () => {
  it('an admin key creates a key in its tenant, shown once, that works at once; lists never show secrets', async () => {
    const created = await create({ scopes: ['runs:read'], name: 'dashboard', rpm: 600 });
    expect(created.status).toBe(201);
    const key = createdKeyResponse.parse(await created.json());
    expect(key).toMatchObject({
      tenant_id: 'tenant-a',
      name: 'dashboard',
      scopes: ['runs:read'],
      rpm: 600,
      status: 'active',
    });
    expect(key.key).toMatch(/^keel_sk_/);
    expect((await app.call('/v1/runs', { key: key.key })).status).toBe(200);
    await expectError(
      await app.call('/v1/runs', { method: 'POST', body: '{"agent":"echo","input":1}', key: key.key }),
      403,
      'forbidden',
    );

    const listed = await app.call('/v1/keys');
    const list = keyListResponse.parse(await listed.json());
    expect(list.data.map((record) => record.id)).toContain(key.id);
    expect(new Set(list.data.map((record) => record.tenant_id))).toEqual(new Set(['tenant-a']));
    expect(JSON.stringify(list)).not.toContain(key.key);
  });

  it('revokes a key: it stops working at once, and revoking again is harmless', async () => {
    const key = createdKeyResponse.parse(await (await create({ scopes: ['runs:read'] })).json());
    const revoked = await app.call(`/v1/keys/${key.id}/revoke`, { method: 'POST' });
    expect(keyResponse.parse(await revoked.json())).toMatchObject({ id: key.id, status: 'revoked' });
    await expectError(await app.call('/v1/runs', { key: key.key }), 401, 'unauthorized');
    const again = await app.call(`/v1/keys/${key.id}/revoke`, { method: 'POST' });
    expect(again.status).toBe(200);
  });

  it("keeps an admin key in its tenant: no other tenant's keys, no operator keys", async () => {
    await expectError(await create({ tenant_id: 'tenant-b', scopes: ['runs:read'] }), 403, 'forbidden');
    await expectError(await create({ scopes: ['operator'] }), 403, 'forbidden');
    await expectError(await app.call('/v1/keys?tenant_id=tenant-b'), 403, 'forbidden');
    // Another tenant's key answers 404, as one that does not exist, and stays valid.
    const theirs = (await app.apiKeys.list({ tenantId: 'tenant-b' }))[0]!;
    await expectError(
      await app.call(`/v1/keys/${theirs.id}/revoke`, { method: 'POST' }),
      404,
      'key_not_found',
    );
    expect(await app.apiKeys.verify(app.keys.otherTenant)).toBeDefined();
  });

  it("an operator key manages every tenant's keys, and nothing else", async () => {
    const made = await create({ tenant_id: 'acme', scopes: ['admin'], name: 'acme admin' }, operator);
    const acmeAdmin = createdKeyResponse.parse(await made.json());
    expect(acmeAdmin.tenant_id).toBe('acme');
    const acmeOnly = keyListResponse.parse(
      await (await app.call('/v1/keys?tenant_id=acme', { key: operator })).json(),
    );
    expect(acmeOnly.data.map((record) => record.id)).toEqual([acmeAdmin.id]);
    const all = keyListResponse.parse(await (await app.call('/v1/keys', { key: operator })).json());
    expect(new Set(all.data.map((record) => record.tenant_id))).toEqual(
      new Set(['tenant-a', 'tenant-b', 'ops', 'acme']),
    );
    const revoked = await app.call(`/v1/keys/${acmeAdmin.id}/revoke`, { method: 'POST', key: operator });
    expect(revoked.status).toBe(200);
    // Operator is not admin: no runs.
    await expectError(await app.call('/v1/runs', { key: operator }), 403, 'forbidden');
  });

  it('refuses other scopes, missing keys, bad bodies and unknown methods with stable codes', async () => {
    await expectError(await create({ scopes: ['runs:read'] }, app.keys.reader), 403, 'forbidden');
    await expectError(await app.call('/v1/keys', { key: null }), 401, 'unauthorized');
    await expectError(await create({ scopes: [] }), 400, 'invalid_request');
    await expectError(await create({ scopes: ['root'] }), 400, 'invalid_request');
    await expectError(await create({ scopes: ['runs:read'], rpm: -1 }), 400, 'invalid_request');
    await expectError(
      await create({ scopes: ['runs:read'], expires_at: 'tomorrow' }),
      400,
      'invalid_request',
    );
    await expectError(await app.call('/v1/keys', { method: 'DELETE' }), 405, 'method_not_allowed');
    await expectError(await app.call('/v1/keys/key_x', { method: 'GET' }), 404, 'not_found');
    await expectError(await app.call('/v1/keys/key_nope/revoke', { method: 'POST' }), 404, 'key_not_found');
  });
});
