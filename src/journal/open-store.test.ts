import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { migrationStatus } from './migrations.js';
import { openStore, resolveStoreLocation } from './open-store.js';
import { createPgClient } from './pg-client.js';

describe('resolveStoreLocation', () => {
  const url = 'postgres://keel@db:5432/keel';

  it('prefers options over the environment, and an explicit dataDir over DATABASE_URL', () => {
    expect(resolveStoreLocation({ databaseUrl: url, env: {} })).toEqual({
      dialect: 'postgres',
      databaseUrl: url,
    });
    expect(resolveStoreLocation({ env: { DATABASE_URL: url } })).toEqual({
      dialect: 'postgres',
      databaseUrl: url,
    });
    expect(resolveStoreLocation({ dataDir: 'memory://', env: { DATABASE_URL: url } })).toEqual({
      dialect: 'pglite',
      dataDir: 'memory://',
    });
  });

  it('falls back to data/ in KEEL_DATA_DIR, else in ./.keel, resolved from the working directory', () => {
    expect(resolveStoreLocation({ env: { KEEL_DATA_DIR: 'var/keel' } })).toEqual({
      dialect: 'pglite',
      dataDir: resolve('var/keel/data'),
    });
    expect(resolveStoreLocation({ dataDir: 'db', env: {} })).toEqual({
      dialect: 'pglite',
      dataDir: resolve('db'),
    });
    expect(resolveStoreLocation({ env: { DATABASE_URL: ' ' } })).toEqual({
      dialect: 'pglite',
      dataDir: resolve('.keel/data'),
    });
  });

  it('rejects a URL that is not Postgres without echoing it', () => {
    let error: unknown;
    try {
      resolveStoreLocation({ databaseUrl: 'mysql://root:secret@db/keel', env: {} });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toMatchObject({ code: 'config_invalid', details: { scheme: 'mysql' } });
    expect(JSON.stringify(error) + String(error)).not.toContain('secret');
  });
});

describe('openStore', () => {
  it('opens an in-memory PGlite store, migrated, that closes its client', async () => {
    const { store, client } = await openStore({ env: { KEEL_DATA_DIR: 'memory://' } });
    try {
      expect(client.dialect).toBe('pglite');
      expect((await migrationStatus(client, {})).upToDate).toBe(true);
      const { run } = await store.createRun({ agent: 'support', input: 'hi' });
      expect((await store.getRun(run.id))?.status).toBe('queued');
    } finally {
      await store.close();
    }
    await expect(client.query('SELECT 1')).rejects.toThrow();
  });

  it('rejects a database timeout setting that is not a whole number of milliseconds, naming it', async () => {
    for (const [name, value] of [
      ['KEEL_DB_QUERY_TIMEOUT_MS', '-1'],
      ['KEEL_DB_CONNECT_TIMEOUT_MS', '0'],
      ['KEEL_DB_KEEPALIVE_MS', '10s'],
    ] as const) {
      await expect(openStore({ env: { KEEL_DATA_DIR: 'memory://', [name]: value } })).rejects.toMatchObject({
        code: 'config_invalid',
        details: { name, value },
      });
    }
  });
});

describePostgres('openStore with DATABASE_URL', (connectionString) => {
  it('opens a Postgres store from the environment and migrates it', async () => {
    const schema = createTestSchemaName();
    const { store, client } = await openStore({ schema, env: { DATABASE_URL: connectionString } });
    try {
      expect(client.dialect).toBe('postgres');
      expect((await migrationStatus(client, { schema })).upToDate).toBe(true);
      await client.exec(`DROP SCHEMA ${schema} CASCADE`);
    } finally {
      await store.close();
    }
  });

  it('migrates without the statement timeout: a migration lock held longer than it is waited out', async () => {
    const schema = createTestSchemaName();
    // Another replica migrating: it holds the schema's migration lock for 1.5 s.
    const lockKey = createHash('sha256')
      .update(`keel:migrate:${schema}`)
      .digest()
      .readBigInt64BE(0)
      .toString();
    const other = createPgClient({ connectionString, queryTimeoutMs: 0 });
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    const holder = other.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey]);
      locked();
      await tx.query('SELECT pg_sleep(1.5)');
    });
    try {
      await lockTaken;
      const { store, client } = await openStore({
        schema,
        queryTimeoutMs: 300,
        databaseUrl: connectionString,
      });
      try {
        expect((await migrationStatus(client, { schema })).upToDate).toBe(true);
        await client.exec(`DROP SCHEMA ${schema} CASCADE`);
      } finally {
        await store.close();
      }
    } finally {
      await holder;
      await other.close();
    }
  });
});
