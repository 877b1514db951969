import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { INLINE_OUTPUT_MAX_BYTES } from './migration-0031-inline-outputs.js';
import { migrations } from './migrations.js';
import { createPgClient } from './pg-client.js';
import { createPgliteClient } from './pglite-client.js';
import type { SqlClient } from './sql-client.js';
import { createSqlJournalStore } from './sql-journal-store.js';
import type { JournalStore } from './store.js';
import type { Lease } from './types.js';

/** Columns the claim sets (sql-journal-store.ts, claimRuns): none may be in an index of runs. */
const CLAIM_SETS = [
  'status',
  'lease_owner',
  'lease_expires_at',
  'fence',
  'attempts',
  'started_at',
  'wait_reason',
  'wait_detail',
  'updated_at',
];

/**
 * Migration 27 (storage footprint): the claim is a HOT update (no index reads a column it sets),
 * payloads are keyed by their seq within the run, and a database with data upgrades to it:
 * older payload keys still join, ended runs get their `ended_at`.
 */
function storageFootprintContract(openClient: () => Promise<SqlClient>): void {
  let client: SqlClient;
  let schema: string;
  let store: JournalStore;
  const clock = { now: () => Date.parse('2030-01-01T00:00:00.000Z') };

  const claim = async (runId: string): Promise<Lease> => {
    const [run] = await store.claimRuns({ owner: 'worker', limit: 1, leaseMs: 30_000, ids: [runId] });
    if (!run) throw new Error(`cannot claim ${runId}`);
    return { runId: run.id, owner: run.leaseOwner ?? '', fence: run.fence };
  };
  const toolStep = (seq: number) => ({
    seq,
    parentSeq: null,
    kind: 'tool' as const,
    name: 'search',
    inputHash: 'hash',
    attempt: 1,
    startedAt: new Date(clock.now()),
  });

  beforeAll(async () => {
    client = await openClient();
    schema = createTestSchemaName();
    store = createSqlJournalStore({ client, schema, clock });
    await store.migrate();
  });
  afterAll(async () => {
    await store?.close();
    await client?.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client?.close();
  });

  it('keeps every column the claim sets out of the indexes of runs, so the claim is a HOT update', async () => {
    const { rows } = await client.query<{ name: string; definition: string }>(
      `SELECT indexname AS name, indexdef AS definition FROM pg_indexes WHERE schemaname = $1 AND tablename = 'runs'`,
      [schema],
    );
    expect(rows.map((row) => row.name)).toContain('runs_runnable');
    for (const { name, definition } of rows) {
      for (const column of CLAIM_SETS) expect(definition, name).not.toMatch(new RegExp(`\\b${column}\\b`));
    }
  });

  it('finds the runs to claim and the live-run gauges through runs_runnable', async () => {
    const plans = await client.transaction(async (tx) => {
      await tx.exec('SET LOCAL enable_seqscan = off');
      const explain = async (sql: string) =>
        (await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`)).rows
          .map((row) => row['QUERY PLAN'])
          .join('\n');
      return [
        await explain(
          `SELECT id FROM ${schema}.runs WHERE ended_at IS NULL AND status = 'queued' ORDER BY created_at, id LIMIT 5`,
        ),
        await explain(
          `SELECT count(*) FROM ${schema}.runs WHERE ended_at IS NULL AND status IN ('queued', 'running', 'waiting')`,
        ),
      ];
    });
    for (const plan of plans) expect(plan).toMatch(/runs_runnable/);
  });

  it("keys a new payload by its seq and still reads the step's outputRef as <run id>:<seq>", async () => {
    const { run } = await store.createRun({ id: 'run:with:colons', agent: 'support', input: 'hi' });
    const lease = await claim(run.id);
    // Larger than INLINE_OUTPUT_MAX_BYTES, so it goes to payloads (migration 31).
    const output = { hits: 3, text: 'x'.repeat(INLINE_OUTPUT_MAX_BYTES) };
    await store.completeStep(lease, {
      ...toolStep(0),
      status: 'completed',
      endedAt: new Date(clock.now()),
      output,
    });
    const stored = await client.query<{ id: string; output_ref: string }>(
      `SELECT payload.id, step.output_ref FROM ${schema}.payloads AS payload
         JOIN ${schema}.steps AS step ON step.run_id = payload.run_id
       WHERE payload.run_id = $1`,
      [run.id],
    );
    expect(stored.rows).toEqual([{ id: '0', output_ref: '0' }]);
    const [step] = await store.loadSteps(run.id, { withOutputs: true });
    expect(step).toMatchObject({ outputRef: 'run:with:colons:0', output });
  });

  it('keeps an output of at most INLINE_OUTPUT_MAX_BYTES in its step row, a larger one in payloads', async () => {
    const { run } = await store.createRun({ agent: 'support', input: 'hi' });
    const lease = await claim(run.id);
    // JSON text of exactly the limit (a string's quotes count); over it in bytes (é is two in
    // UTF-8), not in characters; a JSON null.
    const atLimit = 'a'.repeat(INLINE_OUTPUT_MAX_BYTES - 2);
    const overLimit = 'é'.repeat(INLINE_OUTPUT_MAX_BYTES / 2);
    const outputs: unknown[] = [atLimit, overLimit, null];
    for (const [seq, output] of outputs.entries())
      await store.completeStep(lease, {
        ...toolStep(seq),
        status: 'completed',
        endedAt: new Date(clock.now()),
        output,
      });
    await store.completeStep(lease, { ...toolStep(3), status: 'completed', endedAt: new Date(clock.now()) });
    const rows = await client.query<{ seq: number; inline: boolean; payload: boolean }>(
      `SELECT step.seq, step.output IS NOT NULL AS inline, payload.id IS NOT NULL AS payload
       FROM ${schema}.steps AS step
       LEFT JOIN ${schema}.payloads AS payload ON payload.run_id = step.run_id AND payload.id = step.output_ref
       WHERE step.run_id = $1 ORDER BY step.seq`,
      [run.id],
    );
    expect(rows.rows).toEqual([
      { seq: 0, inline: true, payload: false },
      { seq: 1, inline: false, payload: true },
      { seq: 2, inline: true, payload: false },
      { seq: 3, inline: false, payload: false },
    ]);
    const steps = await store.loadSteps(run.id, { withOutputs: true });
    expect(steps.map((step) => step.output)).toEqual([atLimit, overLimit, null, undefined]);
    expect(steps.map((step) => step.outputRef)).toEqual([`${run.id}:0`, `${run.id}:1`, `${run.id}:2`, null]);
    // Outputs only when asked for, and only from the asked seq on, wherever they are stored.
    expect((await store.loadSteps(run.id)).some((step) => 'output' in step)).toBe(false);
    const from = await store.loadSteps(run.id, { withOutputs: { fromSeq: 1 } });
    expect(from.map((step) => 'output' in step)).toEqual([false, true, true, false]);
    // A second completion of a recorded step keeps the first record, inline output included.
    await store.completeStep(lease, {
      ...toolStep(0),
      status: 'completed',
      endedAt: new Date(clock.now()),
      output: 'other',
    });
    expect((await store.loadSteps(run.id, { withOutputs: true, seq: 0 }))[0]?.output).toBe(atLimit);
  });

  it("stores a completed model step's meta packed and reads it back whole", async () => {
    const { run } = await store.createRun({ agent: 'support', input: 'hi' });
    const lease = await claim(run.id);
    const meta = {
      provider: 'openai',
      model: 'gpt-4o-mini',
      tools: ['search'],
      finishReason: 'stop',
      envelope: {
        promptVersion: null,
        deployment: null,
        cached: false,
        toolCalls: [],
        guards: [],
        retrievedContextIds: [],
      },
    };
    const step = { ...toolStep(0), kind: 'model' as const, name: 'openai:gpt-4o-mini', meta };
    await store.startStep(lease, step);
    expect((await store.loadSteps(run.id))[0]?.meta).toEqual(meta);
    await store.completeStep(lease, {
      ...step,
      status: 'completed',
      endedAt: new Date(clock.now()),
      output: 'hi',
    });
    const stored = await client.query<{ meta: Record<string, unknown> }>(
      `SELECT meta FROM ${schema}.steps WHERE run_id = $1`,
      [run.id],
    );
    expect(stored.rows[0]?.meta).not.toHaveProperty('provider');
    expect(stored.rows[0]?.meta).not.toHaveProperty(['envelope', 'guards']);
    expect((await store.loadSteps(run.id))[0]?.meta).toEqual(meta);
  });

  it('drops runs_session_created (migration 31)', async () => {
    const { rows } = await client.query<{ name: string }>(
      `SELECT indexname AS name FROM pg_indexes WHERE schemaname = $1 AND tablename = 'runs'`,
      [schema],
    );
    const names = rows.map((row) => row.name);
    expect(names).toContain('runs_tenant_session_created');
    expect(names).toContain('runs_runnable');
    expect(names).not.toContain('runs_session_created');
    // A session's runs, newest first, as listRuns asks for them (session history, the API).
    const plan = await client.transaction(async (tx) => {
      await tx.exec('SET LOCAL enable_seqscan = off');
      const explained = await tx.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN SELECT id FROM ${schema}.runs WHERE tenant_id = 'default' AND session_id = 's'
           AND status = 'completed' ORDER BY created_at DESC, id DESC LIMIT 50`,
      );
      return explained.rows.map((row) => row['QUERY PLAN']).join('\n');
    });
    expect(plan).toMatch(/runs_tenant_session_created/);
  });

  it('upgrades a database with data: older payload keys join, ended runs get ended_at', async () => {
    const old = createTestSchemaName();
    try {
      await client.exec(`CREATE SCHEMA ${old};
        CREATE TABLE ${old}.migrations (version integer PRIMARY KEY, name text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now());`);
      for (const migration of migrations.filter((candidate) => candidate.version < 27)) {
        await client.exec(migration.up(old));
        await client.query(`INSERT INTO ${old}.migrations (version, name) VALUES ($1, $2)`, [
          migration.version,
          migration.name,
        ]);
      }
      await client.exec(`
        INSERT INTO ${old}.runs (id, agent, status, stop_reason, updated_at)
          VALUES ('run_old', 'support', 'completed', 'max_steps', timestamptz '2029-05-01');
        INSERT INTO ${old}.runs (id, agent, status) VALUES ('run_queued', 'support', 'queued');
        INSERT INTO ${old}.steps (run_id, seq, kind, name, input_hash, status, started_at, output_ref)
          VALUES ('run_old', 0, 'tool', 'search', 'hash', 'completed', now(), 'run_old:0');
        INSERT INTO ${old}.payloads (run_id, id, body, bytes) VALUES ('run_old', 'run_old:0', '"found"', 7);
      `);
      const upgraded = createSqlJournalStore({ client, schema: old, clock });
      await upgraded.migrate();
      expect(await upgraded.getRun('run_old')).toMatchObject({
        endedAt: new Date('2029-05-01T00:00:00.000Z'),
      });
      const [step] = await upgraded.loadSteps('run_old', { withOutputs: true });
      expect(step).toMatchObject({ outputRef: 'run_old:0', output: 'found' });
      expect((await upgraded.listRuns({ stopReason: 'max_steps' })).runs.map((run) => run.id)).toEqual([
        'run_old',
      ]);
      const claimed = await upgraded.claimRuns({ owner: 'worker', limit: 5, leaseMs: 30_000 });
      expect(claimed.map((run) => run.id)).toEqual(['run_queued']);
      // After the upgrade a small output is kept in its step row, next to the older payloads.
      const lease = { runId: 'run_queued', owner: 'worker', fence: claimed[0]!.fence };
      await upgraded.completeStep(lease, {
        ...toolStep(0),
        status: 'completed',
        endedAt: new Date(clock.now()),
        output: { hits: 1 },
      });
      expect((await upgraded.loadSteps('run_queued', { withOutputs: true }))[0]).toMatchObject({
        outputRef: 'run_queued:0',
        output: { hits: 1 },
      });
      await upgraded.close();
    } finally {
      await client.exec(`DROP SCHEMA IF EXISTS ${old} CASCADE`);
    }
  });
}

describe('storage footprint on PGlite', () => {
  storageFootprintContract(() => createPgliteClient());
});

describePostgres('storage footprint on Postgres', (connectionString) => {
  storageFootprintContract(async () => createPgClient({ connectionString, max: 4 }));
});
