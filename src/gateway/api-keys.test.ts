import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { KeelError } from '../errors/keel-error.js';
import { migrate } from '../journal/migrations.js';
import { createPgClient } from '../journal/pg-client.js';
import { createPgliteClient } from '../journal/pglite-client.js';
import type { SqlClient } from '../journal/sql-client.js';
import { createFakeClock } from '../testing/fake-clock.js';
import type { FakeClock } from '../testing/fake-clock.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { auditTable, toAuditRecord, type AuditRow } from '../journal/audit-log.js';
import { API_KEY_SCOPES, createApiKeys, hashKey, isApiKeyShaped } from './api-keys.js';
import type { ApiKeys } from './api-keys.js';

/** Counts the statements a client runs, by their first words. */
function createCountingClient(inner: SqlClient) {
  const counts = { select: 0, update: 0 };
  const client: SqlClient = {
    dialect: inner.dialect,
    query: async (sql, params) => {
      const statement = sql.trim().split(/\s/)[0]?.toLowerCase();
      if (statement === 'select') counts.select++;
      if (statement === 'update') counts.update++;
      return inner.query(sql, params);
    },
    exec: (sql) => inner.exec(sql),
    transaction: (fn) => inner.transaction(fn),
    listen: (channel, onNotify) => inner.listen(channel, onNotify),
    notify: (channel, payload) => inner.notify(channel, payload),
    close: () => inner.close(),
  };
  return { client, counts };
}

/** The ApiKeys contract over every SqlClient (PGlite always, Postgres when configured). */
function apiKeysContract(openClient: () => Promise<SqlClient>): void {
  let client: SqlClient;
  let schema: string;
  let clock: FakeClock;
  let keys: ApiKeys;
  let counting: ReturnType<typeof createCountingClient>;

  beforeAll(async () => {
    client = await openClient();
  });
  afterAll(async () => {
    await client?.close();
  });
  beforeEach(async () => {
    schema = createTestSchemaName();
    await migrate(client, { schema });
    clock = createFakeClock({ start: Date.UTC(2030, 0, 1) });
    counting = createCountingClient(client);
    keys = createApiKeys({ client: counting.client, schema, clock });
  });
  afterEach(async () => {
    await client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  });

  it('creates a key shown once and stores only its hash', async () => {
    const { key, record } = await keys.create({
      tenantId: 'acme',
      name: 'ci',
      scopes: ['runs:read', 'gateway'],
      rpm: 60,
      tpm: 100_000,
    });
    expect(key).toMatch(/^keel_sk_[0-9A-Za-z]{43}$/);
    expect(isApiKeyShaped(key)).toBe(true);
    expect(record).toEqual({
      id: expect.stringMatching(/^key_/),
      tenantId: 'acme',
      name: 'ci',
      prefix: key.slice(0, 16),
      scopes: ['runs:read', 'gateway'],
      rpm: 60,
      tpm: 100_000,
      createdAt: new Date(Date.UTC(2030, 0, 1)),
    });
    const stored = await client.query<Record<string, unknown>>(`SELECT * FROM ${schema}.api_keys`);
    expect(stored.rows[0]?.secret_hash).toBe(hashKey(key));
    expect(JSON.stringify(stored.rows)).not.toContain(key.slice(16));
    const other = await keys.create({ tenantId: 'acme', scopes: ['admin'] });
    expect(other.key).not.toBe(key);
    expect(other.record).not.toHaveProperty('rpm');
    expect(other.record.name).toBe('');
  });

  it('refuses invalid keys to create', async () => {
    const invalid = [
      { tenantId: '', scopes: ['gateway'] as const },
      { tenantId: 'acme', scopes: [] },
      { tenantId: 'acme', scopes: ['root'] as unknown as ['gateway'] },
      { tenantId: 'acme', scopes: ['gateway'] as const, rpm: 0 },
      { tenantId: 'acme', scopes: ['gateway'] as const, tpm: 1.5 },
    ];
    for (const key of invalid) {
      const error: unknown = await keys.create(key).catch((thrown: unknown) => thrown);
      expect(error).toBeInstanceOf(KeelError);
      expect(error).toMatchObject({ code: 'invalid_request', fault: 'caller' });
    }
    expect(await keys.list()).toEqual([]);
  });

  it('verifies a key, and refuses unknown and malformed ones (malformed without a query)', async () => {
    const { key, record } = await keys.create({ tenantId: 'acme', scopes: ['gateway'] });
    expect(await keys.verify(key)).toEqual(record);
    const before = counting.counts.select;
    for (const malformed of [
      '',
      'keel_sk_',
      key.slice(0, -1),
      `${key}x`,
      key.replace('keel_sk_', 'keel_pk_'),
      `${key.slice(0, -1)}-`,
    ]) {
      expect(await keys.verify(malformed)).toBeUndefined();
    }
    expect(counting.counts.select).toBe(before);
    const unknown = `keel_sk_${'a'.repeat(43)}`;
    expect(await keys.verify(unknown)).toBeUndefined();
    expect(counting.counts.select).toBe(before + 1);
  });

  it('answers repeated verifies from its cache, positive and negative, for cacheTtlMs', async () => {
    const { key } = await keys.create({ tenantId: 'acme', scopes: ['gateway'] });
    const unknown = `keel_sk_${'b'.repeat(43)}`;
    const before = counting.counts.select;
    await Promise.all(Array.from({ length: 20 }, () => keys.verify(key)));
    for (let i = 0; i < 20; i++) {
      expect(await keys.verify(key)).toBeDefined();
      expect(await keys.verify(unknown)).toBeUndefined();
    }
    expect(counting.counts.select).toBe(before + 2);
    clock.advance(10_000);
    await keys.verify(key);
    await keys.verify(unknown);
    expect(counting.counts.select).toBe(before + 4);
  });

  it('updates last_used_at at most once a minute, without making verify wait', async () => {
    const { key, record } = await keys.create({ tenantId: 'acme', scopes: ['gateway'] });
    const lastUsed = async () => (await keys.list())[0]?.lastUsedAt;
    await keys.verify(key);
    await vi.waitFor(async () => expect(await lastUsed()).toEqual(new Date(Date.UTC(2030, 0, 1))));
    const updates = counting.counts.update;
    clock.advance(30_000);
    await keys.verify(key);
    expect(counting.counts.update).toBe(updates);
    clock.advance(30_000);
    await keys.verify(key);
    await vi.waitFor(async () => expect(await lastUsed()).toEqual(new Date(Date.UTC(2030, 0, 1, 0, 1))));
    expect(record.lastUsedAt).toBeUndefined();
  });

  it('refuses a key once revoked: at once in this process, within cacheTtlMs in others', async () => {
    const { key, record } = await keys.create({ tenantId: 'acme', scopes: ['gateway'] });
    const otherProcess = createApiKeys({ client, schema, clock, cacheTtlMs: 5_000 });
    expect(await keys.verify(key)).toBeDefined();
    expect(await otherProcess.verify(key)).toBeDefined();

    expect(await keys.revoke(record.id, { tenantId: 'other' })).toBeUndefined();
    expect(await keys.verify(key)).toBeDefined();
    const revoked = await keys.revoke(record.id, { tenantId: 'acme' });
    expect(revoked?.revokedAt).toEqual(new Date(Date.UTC(2030, 0, 1)));
    expect(await keys.verify(key)).toBeUndefined();

    // Another process answers from its cache until the entry expires.
    expect(await otherProcess.verify(key)).toBeDefined();
    clock.advance(5_000);
    expect(await otherProcess.verify(key)).toBeUndefined();

    clock.advance(1_000);
    const again = await keys.revoke(record.id);
    expect(again?.revokedAt).toEqual(new Date(Date.UTC(2030, 0, 1)));
    expect(await keys.revoke('key_missing')).toBeUndefined();
  });

  it('refuses an expired key, cached or not', async () => {
    const { key } = await keys.create({
      tenantId: 'acme',
      scopes: ['gateway'],
      expiresAt: new Date(Date.UTC(2030, 0, 1, 0, 0, 5)),
    });
    expect(await keys.verify(key)).toMatchObject({ expiresAt: new Date(Date.UTC(2030, 0, 1, 0, 0, 5)) });
    clock.advance(5_000);
    expect(await keys.verify(key)).toBeUndefined();
    clock.advance(60_000);
    expect(await keys.verify(key)).toBeUndefined();
  });

  it('lists keys newest first, per tenant, without secrets', async () => {
    const first = await keys.create({ tenantId: 'acme', name: 'one', scopes: ['runs:read'] });
    clock.advance(1_000);
    const second = await keys.create({ tenantId: 'acme', name: 'two', scopes: [...API_KEY_SCOPES] });
    clock.advance(1_000);
    const third = await keys.create({ tenantId: 'globex', scopes: ['gateway'] });
    await keys.revoke(first.record.id);

    const acme = await keys.list({ tenantId: 'acme' });
    expect(acme.map((record) => record.name)).toEqual(['two', 'one']);
    expect(acme[0]?.scopes).toEqual([...API_KEY_SCOPES]);
    expect(acme[1]?.revokedAt).toEqual(new Date(Date.UTC(2030, 0, 1, 0, 0, 2)));
    expect((await keys.list()).map((record) => record.id)).toEqual([
      third.record.id,
      second.record.id,
      first.record.id,
    ]);
    const listed = JSON.stringify(await keys.list());
    for (const { key } of [first, second, third]) {
      expect(listed).not.toContain(key.slice(16));
      expect(listed).not.toContain(hashKey(key));
    }
  });

  it('audits create and revoke in their transaction, by the named actor, never the secret', async () => {
    const { key, record } = await keys.create({
      tenantId: 'acme',
      scopes: ['admin'],
      name: 'ops',
      actor: 'key:key_boss',
    });
    await keys.revoke(record.id, { actor: 'cli:alice' });
    await keys.revoke(record.id, { actor: 'cli:alice' });
    await keys.create({ tenantId: 'globex', scopes: ['gateway'] });
    const rows = (await client.query<AuditRow>(`SELECT * FROM ${auditTable(schema)} ORDER BY id`)).rows.map(
      toAuditRecord,
    );
    expect(rows.map((row) => [row.tenantId, row.actor, row.action, row.target])).toEqual([
      ['acme', 'key:key_boss', 'api_key.create', `api_key:${record.id}`],
      ['acme', 'cli:alice', 'api_key.revoke', `api_key:${record.id}`],
      ['globex', 'system:keel', 'api_key.create', expect.stringMatching(/^api_key:key_/)],
    ]);
    expect(rows[0]!.after).toMatchObject({ name: 'ops', scopes: ['admin'], prefix: record.prefix });
    expect(rows[1]).toMatchObject({ before: { status: 'active' }, after: { status: 'revoked' } });
    const text = JSON.stringify(rows);
    expect(text).not.toContain(key.slice(16));
    expect(text).not.toContain(hashKey(key));
  });
}

describe('ApiKeys on PGlite', () => {
  apiKeysContract(() => createPgliteClient());
});

describePostgres('ApiKeys on Postgres', (connectionString) => {
  apiKeysContract(async () => createPgClient({ connectionString, max: 4 }));
});
