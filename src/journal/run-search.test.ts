import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { traceIdOfRun } from '../telemetry/span-ids.js';
import { createPgClient } from './pg-client.js';
import { createPgliteClient } from './pglite-client.js';
import type { SqlClient } from './sql-client.js';
import { createSqlJournalStore } from './sql-journal-store.js';
import type { JournalStore } from './store.js';
import type { RunFilter } from './types.js';

/** How many runs the plan test seeds: the console's "stays fast with 100,000 runs". */
const MANY_RUNS = 100_000;

/**
 * `listRuns` by stop reason, prompt version and the search box (run id, trace id, user id), over
 * PGlite and Postgres; and the plans of those queries over 100,000 runs: index scans, never a
 * walk of the tenant's runs.
 */
function runSearchSuite(openClient: () => Promise<SqlClient>): void {
  let client: SqlClient;
  let schema: string;
  let store: JournalStore;
  /** The store's last SELECT on runs, as it sent it: the plan test explains that very statement. */
  let lastRunsQuery: { sql: string; params: unknown[] } | undefined;

  beforeAll(async () => {
    client = await openClient();
    schema = createTestSchemaName();
    const recording: SqlClient = Object.assign(Object.create(client) as SqlClient, {
      query: (sql: string, params?: unknown[]) => {
        if (/^\s*SELECT\b[\s\S]*\bFROM\s+\S*\.?runs\b/i.test(sql))
          lastRunsQuery = { sql, params: params ?? [] };
        return client.query(sql, params);
      },
    });
    store = createSqlJournalStore({ client: recording, schema });
    await store.migrate();
  });
  afterAll(async () => {
    await store?.close();
    await client?.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client?.close();
  });

  /** EXPLAIN of the statement `listRuns` just sent, with its parameters. */
  async function explainLast(): Promise<string> {
    if (lastRunsQuery === undefined) throw new Error('listRuns sent no SELECT on runs');
    const result = await client.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN ${lastRunsQuery.sql}`,
      lastRunsQuery.params,
    );
    return result.rows.map((row) => row['QUERY PLAN']).join('\n');
  }

  const ids = async (filter: RunFilter) => (await store.listRuns(filter)).runs.map((run) => run.id);

  it('filters by stop reason and prompt version, and finds a run by id, trace id or user id', async () => {
    const make = async (
      tenantId: string,
      userId: string | null,
      promptVersion: string,
      stopReason: string,
    ) => {
      const { run } = await store.createRun({
        tenantId,
        agent: 'support',
        input: 'hi',
        userId,
        promptVersion,
      });
      await client.query(`UPDATE ${schema}.runs SET stop_reason = $2, status = 'failed' WHERE id = $1`, [
        run.id,
        stopReason,
      ]);
      return run.id;
    };
    const a = await make('acme', 'ada', 'v1', 'completed');
    const b = await make('acme', 'bob', 'v2', 'max_steps');
    const c = await make('acme', 'ada', 'v2', 'max_steps');
    const other = await make('other', 'ada', 'v2', 'max_steps');

    expect(await ids({ tenantId: 'acme', stopReason: 'max_steps' })).toEqual([c, b]);
    expect(await ids({ tenantId: 'acme', promptVersion: 'v1' })).toEqual([a]);
    expect(
      await ids({ tenantId: 'acme', promptVersion: 'v2', stopReason: 'max_steps', userId: 'ada' }),
    ).toEqual([c]);
    expect(await ids({ tenantId: 'acme', search: b })).toEqual([b]);
    expect(await ids({ tenantId: 'acme', search: traceIdOfRun(b) })).toEqual([b]);
    expect(await ids({ tenantId: 'acme', search: 'ada' })).toEqual([c, a]);
    expect(await ids({ tenantId: 'acme', search: 'ada', promptVersion: 'v1' })).toEqual([a]);
    // Exact matches only, within the tenant.
    expect(await ids({ tenantId: 'acme', search: b.slice(0, -1) })).toEqual([]);
    expect(await ids({ tenantId: 'acme', search: other })).toEqual([]);
    expect(await ids({ tenantId: 'other', search: traceIdOfRun(other) })).toEqual([other]);
    // A caller-chosen id hashes as its own UTF-8 bytes, backslashes and all.
    for (const id of ['run_a\\x41\u00e9', '\\x00ff', 'run_\\\\\ud83d\ude00']) {
      await store.createRun({ id, tenantId: 'odd', agent: 'support', input: 'hi' });
      expect(await ids({ tenantId: 'odd', search: traceIdOfRun(id) })).toEqual([id]);
      expect(await ids({ tenantId: 'odd', search: id })).toEqual([id]);
    }
    // Pages of a search hold together.
    const first = await store.listRuns({ tenantId: 'acme', search: 'ada', limit: 1 });
    expect(first.runs.map((run) => run.id)).toEqual([c]);
    expect(await ids({ tenantId: 'acme', search: 'ada', cursor: first.nextCursor! })).toEqual([a]);
  });

  it(
    `answers each filter from an index over ${MANY_RUNS.toLocaleString('en-US')} runs`,
    { timeout: 120_000 },
    async () => {
      // Most runs completed with the current prompt; a few hit max_steps on an old one.
      await client.exec(`
      INSERT INTO ${schema}.runs (id, tenant_id, agent, status, stop_reason, user_id, trigger, prompt_version, created_at)
      SELECT 'run_bulk' || lpad(n::text, 7, '0'), 'bulk', 'support',
             CASE WHEN n % 5000 = 0 THEN 'failed' ELSE 'completed' END,
             CASE WHEN n % 5000 = 0 THEN 'max_steps' ELSE 'completed' END,
             'user-' || (n % 2000), 'user_explicit',
             CASE WHEN n % 5000 = 0 THEN 'v1' ELSE 'v9' END,
             timestamptz '2030-01-01' + n * interval '1 second'
      FROM generate_series(1, ${MANY_RUNS}) AS n;
      ANALYZE ${schema}.runs;
    `);
      const probe = 'run_bulk0050000';
      const filters: Record<string, RunFilter> = {
        newest: {},
        stopReason: { stopReason: 'max_steps' },
        promptVersion: { promptVersion: 'v1' },
        runId: { search: probe },
        traceId: { search: traceIdOfRun(probe) },
        userId: { search: 'user-7' },
      };
      for (const [name, filter] of Object.entries(filters)) {
        const started = performance.now();
        const page = await store.listRuns({ tenantId: 'bulk', limit: 50, ...filter });
        const elapsed = performance.now() - started;
        expect(page.runs.length, name).toBeGreaterThan(0);
        const plan = await explainLast();
        expect(plan, `${name}: ${plan}`).not.toMatch(/Seq Scan/);
        expect(elapsed, name).toBeLessThan(2_000);
      }
      expect((await store.listRuns({ tenantId: 'bulk', search: traceIdOfRun(probe) })).runs[0]?.id).toBe(
        probe,
      );
    },
  );
}

describe('run search on PGlite', () => {
  runSearchSuite(() => createPgliteClient());
});

describePostgres('run search on Postgres', (connectionString) => {
  runSearchSuite(async () => createPgClient({ connectionString, max: 2 }));
});
