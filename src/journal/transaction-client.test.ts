import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { createPgClient } from './pg-client.js';
import { createPgliteClient } from './pglite-client.js';
import type { SqlClient } from './sql-client.js';
import { bindClientToTransaction } from './transaction-client.js';

/** The same behaviour on both dialects: everything runs in the outer transaction. */
function behavesAsTheTransaction(openClient: () => Promise<SqlClient>) {
  let client: SqlClient;
  let schema: string;
  let table: string;
  beforeEach(async () => {
    client = await openClient();
    schema = createTestSchemaName();
    table = `${schema}.items`;
    await client.exec(`CREATE SCHEMA ${schema}; CREATE TABLE ${table} (name text PRIMARY KEY)`);
  });
  afterEach(async () => {
    await client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.close();
  });
  const names = async () =>
    (await client.query<{ name: string }>(`SELECT name FROM ${table} ORDER BY name`)).rows.map(
      (row) => row.name,
    );

  it('runs query and exec in the transaction: they commit or roll back with it', async () => {
    await client.transaction(async (tx) => {
      const bound = bindClientToTransaction(tx, client);
      expect(bound.dialect).toBe(client.dialect);
      await bound.query(`INSERT INTO ${table} VALUES ($1)`, ['query']);
      await bound.exec(`INSERT INTO ${table} VALUES ('exec')`);
    });
    await expect(
      client.transaction(async (tx) => {
        await bindClientToTransaction(tx, client).query(`INSERT INTO ${table} VALUES ($1)`, ['lost']);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await names()).toEqual(['exec', 'query']);
  });

  it('runs a nested transaction in a savepoint: a failed one undoes only its own statements', async () => {
    await client.transaction(async (tx) => {
      const bound = bindClientToTransaction(tx, client);
      await bound.query(`INSERT INTO ${table} VALUES ('outer')`);
      await expect(
        bound.transaction(async (nested) => {
          await nested.query(`INSERT INTO ${table} VALUES ('undone')`);
          throw new Error('nested failed');
        }),
      ).rejects.toThrow('nested failed');
      // A failed statement aborts a transaction; in a savepoint, only up to the savepoint.
      await expect(
        bound.transaction((nested) => nested.query(`INSERT INTO ${table} VALUES ('outer')`)),
      ).rejects.toMatchObject({ code: '23505' });
      await expect(
        bound.transaction((nested) => nested.query(`INSERT INTO ${table} VALUES ($1)`, ['nested'])),
      ).resolves.toMatchObject({ rowCount: 1 });
      await bound.query(`INSERT INTO ${table} VALUES ('after')`);
    });
    expect(await names()).toEqual(['after', 'nested', 'outer']);
  });

  it('rolls a completed nested transaction back with the outer one', async () => {
    await expect(
      client.transaction(async (tx) => {
        const bound = bindClientToTransaction(tx, client);
        await bound.transaction((nested) => nested.query(`INSERT INTO ${table} VALUES ('nested')`));
        throw new Error('outer failed');
      }),
    ).rejects.toThrow('outer failed');
    expect(await names()).toEqual([]);
  });

  it('refuses to listen, and refuses everything once closed', async () => {
    let bound: SqlClient | undefined;
    await client.transaction(async (tx) => {
      bound = bindClientToTransaction(tx, client);
      await expect(bound.listen('channel', () => {})).rejects.toThrow(/cannot listen/);
      await bound.close();
      await expect(bound.query('SELECT 1')).rejects.toThrow(/transaction that has ended/);
      await expect(bound.exec('SELECT 1')).rejects.toThrow(/transaction that has ended/);
      await expect(bound.transaction(async () => {})).rejects.toThrow(/transaction that has ended/);
      await expect(bound.notify('channel', '')).rejects.toThrow(/transaction that has ended/);
    });
    // Closing the view closed neither the transaction's connection nor the client.
    expect((await client.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });
}

describe('bindClientToTransaction (PGlite)', () => {
  behavesAsTheTransaction(() => createPgliteClient());
});

describePostgres('bindClientToTransaction (Postgres)', (connectionString) => {
  const open = () => createPgClient({ connectionString, max: 2, applicationName: 'keel_test_tx_client' });
  behavesAsTheTransaction(async () => open());

  it("uses the transaction's connection, and sends notifications when it commits", async () => {
    const client = open();
    try {
      const received: string[] = [];
      const unlisten = await client.listen('keel_test_tx_client', (payload) => received.push(payload));
      await client.transaction(async (tx) => {
        const bound = bindClientToTransaction(tx, client);
        const pid = async (on: { query: SqlClient['query'] }) =>
          (await on.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        expect(await pid(bound)).toBe(await pid(tx));
        await bound.notify('keel_test_tx_client', 'sent');
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(received).toEqual([]);
      });
      await expect.poll(() => received, { timeout: 2_000 }).toEqual(['sent']);
      await unlisten();
    } finally {
      await client.close();
    }
  });
});
