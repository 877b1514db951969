import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../journal/open-store.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { createSqlOtelExportMarks } from './otel-export-marks.js';

/** The export marks' contract, run on PGlite and on Postgres. */
function contract(
  open: () => Promise<{
    store: JournalStore;
    client: SqlClient;
    schema?: string;
    drop?: () => Promise<void>;
  }>,
) {
  let store: JournalStore;
  let client: SqlClient;
  let schema: string | undefined;
  let drop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ({ store, client, schema, drop } = await open());
  });
  afterAll(async () => {
    await drop?.();
    await store.close();
  });

  it('reads nothing recorded as -1, merges marks upward and keeps the union above the mark', async () => {
    const marks = createSqlOtelExportMarks(schema === undefined ? { client } : { client, schema });
    const { run: first } = await store.createRun({ agent: 'a', input: 1 });
    const { run: second } = await store.createRun({ agent: 'a', input: 2 });
    expect(await marks.read(first.id)).toEqual({ runId: first.id, seq: -1, above: [] });

    await marks.advance([
      { runId: first.id, seq: 0, above: [2, 3] },
      { runId: second.id, seq: 4, above: [] },
      { runId: 'run_gone', seq: 9, above: [] },
    ]);
    expect(await marks.read(first.id)).toEqual({ runId: first.id, seq: 0, above: [2, 3] });
    expect(await marks.read(second.id)).toEqual({ runId: second.id, seq: 4, above: [] });

    // Another process knew less (a lower mark) and something else: the union, never lower.
    await marks.advance([{ runId: first.id, seq: -1, above: [5] }]);
    expect(await marks.read(first.id)).toEqual({ runId: first.id, seq: 0, above: [2, 3, 5] });
    // The mark passes some of the seqs above it: those are folded in.
    await marks.advance([{ runId: first.id, seq: 3, above: [] }]);
    expect(await marks.read(first.id)).toEqual({ runId: first.id, seq: 3, above: [5] });
    await marks.advance([]);
  });
}

describe('OtelExportMarks on PGlite', () => {
  contract(async () => openStore({ dataDir: 'memory://' }));
});

describePostgres('OtelExportMarks on Postgres', (databaseUrl) => {
  contract(async () => {
    const schema = createTestSchemaName();
    const { store, client } = await openStore({ databaseUrl, schema });
    return { store, client, schema, drop: () => client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`) };
  });
});
