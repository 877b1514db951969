import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DatabaseUnavailableError } from '../errors/storage-errors.js';
import { describePostgres } from '../testing/postgres.js';
import { createPgClient } from './pg-client.js';
import type { SqlClient } from './sql-client.js';

describePostgres('pg client against a real Postgres', (connectionString) => {
  // Terminating backends needs a connection of its own, outside the client under test.
  let admin: pg.Client;
  beforeAll(async () => {
    admin = new pg.Client({ connectionString });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
  });
  const terminate = (applicationName: string, queryPrefix = '') =>
    admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE application_name = $1 AND query LIKE $2 AND pid <> pg_backend_pid()`,
      [applicationName, `${queryPrefix}%`],
    );
  const open = (applicationName: string): SqlClient =>
    createPgClient({ connectionString, applicationName, reconnectDelayMs: { initial: 10, max: 100 } });

  it('parses int8 as numbers, numeric as exact strings, timestamptz as dates', async () => {
    const client = open('keel_test_types');
    try {
      const { rows } = await client.query<Record<string, unknown>>(
        `SELECT 42::int8 AS fence, ARRAY[1, 2]::int8[] AS fences, 9007199254740993::int8 AS huge,
                0.1::numeric AS cost, now() AS at, '{"a":[1]}'::jsonb AS body`,
      );
      expect(rows[0]).toMatchObject({
        fence: 42,
        fences: [1, 2],
        huge: 9007199254740993n,
        cost: '0.1',
        body: { a: [1] },
      });
      expect(rows[0]?.at).toBeInstanceOf(Date);
    } finally {
      await client.close();
    }
  });

  it('survives idle connections being dropped, and a drop in the middle of a transaction', async () => {
    const client = open('keel_test_drops');
    try {
      await Promise.all([client.query('SELECT 1'), client.query('SELECT 1')]);
      await terminate('keel_test_drops');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await client.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);

      const failed = client.transaction(async (tx) => {
        await tx.query('SELECT 1');
        await terminate('keel_test_drops');
        await new Promise((resolve) => setTimeout(resolve, 50));
        await tx.query('SELECT 1');
      });
      await expect(failed).rejects.toBeInstanceOf(DatabaseUnavailableError);
      expect((await client.transaction((tx) => tx.query<{ one: number }>('SELECT 1 AS one'))).rows).toEqual([
        { one: 1 },
      ]);
    } finally {
      await client.close();
    }
  });

  it('re-subscribes LISTEN after its connection drops', async () => {
    const client = open('keel_test_listen');
    const payloads: string[] = [];
    try {
      const unsubscribe = await client.listen('keel_test_channel', (payload) => payloads.push(payload));
      await client.notify('keel_test_channel', 'before');
      await waitFor(() => payloads.includes('before'));

      await terminate('keel_test_listen', 'LISTEN');
      // Notify until one arrives: the listener comes back after a reconnect with backoff.
      await waitFor(async () => {
        await client.notify('keel_test_channel', 'after');
        return payloads.includes('after');
      });
      await unsubscribe();
      const listeners = await admin.query(
        `SELECT count(*)::int AS count FROM pg_stat_activity WHERE application_name = 'keel_test_listen' AND query LIKE 'LISTEN%'`,
      );
      expect(listeners.rows[0]?.count).toBe(0);
    } finally {
      await client.close();
    }
  });
});

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
