import { afterAll, beforeAll, describe } from 'vitest';
import { createPgClient } from '../journal/pg-client.js';
import { createPgliteClient } from '../journal/pglite-client.js';
import type { SqlClient } from '../journal/sql-client.js';
import { createTestSchemaName, describePostgres } from './postgres.js';

/** A database one test of a contract suite works in: its client, its schema, and how to drop it. */
export interface ContractDatabase {
  client: SqlClient;
  schema: string;
  close(): Promise<void>;
}

/**
 * Runs a store's contract suite on both backends: PGlite in memory (always), and Postgres (as
 * `describePostgres` decides) with a fresh schema per test, dropped when the test closes it.
 * `contract` receives the function that opens a test's database (call it in `beforeEach`).
 */
export function describeOnBothBackends(
  name: string,
  contract: (open: () => Promise<ContractDatabase>) => void,
  { poolSize = 4 }: { poolSize?: number } = {},
): void {
  describe(`${name} on PGlite`, () => {
    contract(async () => {
      const client = await createPgliteClient();
      return { client, schema: 'keel', close: () => client.close() };
    });
  });
  describePostgres(`${name} on Postgres`, (connectionString) => {
    let admin: SqlClient;
    beforeAll(() => {
      admin = createPgClient({ connectionString, max: 1 });
    });
    afterAll(() => admin.close());
    contract(async () => {
      const schema = createTestSchemaName();
      const client = createPgClient({ connectionString, max: poolSize });
      return {
        client,
        schema,
        close: async () => {
          await client.close();
          await admin.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        },
      };
    });
  });
}
