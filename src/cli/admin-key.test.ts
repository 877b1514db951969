import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKeys, type ApiKeys } from '../gateway/api-keys.js';
import { openStore } from '../journal/open-store.js';
import type { JournalStore } from '../journal/store.js';
import { adminKeyPath, ensureLocalAdminKey, readLocalAdminKey } from './admin-key.js';

let store: JournalStore;
let apiKeys: ApiKeys;
let directory: string;
beforeAll(async () => {
  const opened = await openStore({ dataDir: 'memory://' });
  store = opened.store;
  apiKeys = createApiKeys({ client: opened.client });
  directory = mkdtempSync(join(tmpdir(), 'keel-admin-key-'));
});
afterAll(async () => {
  await store.close();
  rmSync(directory, { recursive: true, force: true });
});

describe('ensureLocalAdminKey', () => {
  it('creates an admin key for tenant default once, in a 0600 file, and replaces a revoked one', async () => {
    expect(readLocalAdminKey(directory)).toBeUndefined();
    const first = await ensureLocalAdminKey({ keelDir: directory, apiKeys });
    expect(first.created).toBe(true);
    expect(statSync(adminKeyPath(directory)).mode & 0o777).toBe(0o600);
    expect(readLocalAdminKey(directory)).toBe(first.key);
    expect(await apiKeys.verify(first.key)).toMatchObject({
      tenantId: 'default',
      scopes: ['admin', 'operator', 'metrics'],
    });

    const again = await ensureLocalAdminKey({ keelDir: directory, apiKeys });
    expect(again).toEqual({ key: first.key, created: false });

    const record = await apiKeys.verify(first.key);
    await apiKeys.revoke(record!.id);
    const replaced = await ensureLocalAdminKey({ keelDir: directory, apiKeys });
    expect(replaced.created).toBe(true);
    expect(replaced.key).not.toBe(first.key);
    expect(readLocalAdminKey(directory)).toBe(replaced.key);
  });

  it('replaces (and revokes) a stored key from before the operator and metrics scopes', async () => {
    const old = await apiKeys.create({ tenantId: 'default', name: 'local admin', scopes: ['admin'] });
    writeFileSync(adminKeyPath(directory), `${old.key}\n`, { mode: 0o600 });
    const upgraded = await ensureLocalAdminKey({ keelDir: directory, apiKeys });
    expect(upgraded.created).toBe(true);
    expect(await apiKeys.verify(upgraded.key)).toMatchObject({ scopes: ['admin', 'operator', 'metrics'] });
    expect(await apiKeys.verify(old.key)).toBeUndefined();
  });
});
