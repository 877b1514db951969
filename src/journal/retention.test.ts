import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { createPgClient } from './pg-client.js';
import { createPgliteClient } from './pglite-client.js';
import { createRetention } from './retention.js';
import type { SqlClient } from './sql-client.js';
import { createSqlJournalStore } from './sql-journal-store.js';
import type { JournalStore } from './store.js';
import type { NewRun, RunRecord } from './types.js';

const DAY = 86_400_000;

/** Retention over PGlite and, when set, Postgres. */
function retentionContract(openClient: () => Promise<SqlClient>): void {
  let client: SqlClient;
  let schema: string;
  let store: JournalStore;

  beforeAll(async () => {
    client = await openClient();
  });
  afterAll(async () => {
    await client?.close();
  });
  beforeEach(async () => {
    schema = createTestSchemaName();
    store = createSqlJournalStore({ client, schema });
    await store.migrate();
  });
  afterEach(async () => {
    await store.close();
    await client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  });

  /** A run that ended `daysAgo` days ago, with a journaled step and a streamed slice. */
  const ended = async (daysAgo: number, overrides: Partial<NewRun> = {}): Promise<RunRecord> => {
    const { run } = await store.createRun({ agent: 'support', input: 'hi', ...overrides });
    const [claimed] = await store.claimRuns({ owner: 'w', limit: 1, leaseMs: 30_000, ids: [run.id] });
    const lease = { runId: run.id, owner: 'w', fence: claimed!.fence };
    const step = {
      seq: 0,
      parentSeq: null,
      kind: 'model',
      name: 'm',
      inputHash: 'h',
      attempt: 1,
      startedAt: new Date(),
    };
    await store.appendTextDelta(lease, { seq: 0, attempt: 1, name: 'm', text: 'Hel' });
    await store.completeStep(lease, {
      ...step,
      status: 'completed',
      endedAt: new Date(),
      // Larger than INLINE_OUTPUT_MAX_BYTES: stored in payloads, whose rows must go too.
      output: { text: 'x'.repeat(600) },
    });
    await store.finishRun(lease, {
      stopReason: 'completed',
      output: 'done',
      usage: { inputTokens: 0, outputTokens: 0 },
      costUsd: 0,
      stepCount: 1,
    });
    await client.query(`UPDATE ${schema}.runs SET ended_at = now() - $2 * interval '1 day' WHERE id = $1`, [
      run.id,
      daysAgo,
    ]);
    return run;
  };
  const rowsOf = async (table: string) =>
    (await client.query<{ count: number }>(`SELECT count(*)::int AS count FROM ${schema}.${table}`)).rows[0]!
      .count;

  it('deletes runs ended before the cutoff with everything hanging off them, and keeps the rest', async () => {
    const old = await ended(40);
    const recent = await ended(5);
    const { run: queued } = await store.createRun({ agent: 'support', input: 'still waiting' });
    await client.query(`UPDATE ${schema}.runs SET created_at = now() - interval '90 days' WHERE id = $1`, [
      queued.id,
    ]);
    // An old session still in use: its old run stays (later messages read the conversation).
    const sessionOld = await ended(40, { sessionId: 'chat-1' });
    await ended(1, { sessionId: 'chat-1' });
    // An old session nobody used since: it goes.
    const abandoned = await ended(45, { sessionId: 'chat-2' });
    // Gateway records and cache entries.
    await client.query(
      `INSERT INTO ${schema}.gateway_calls (id, endpoint, route, deployment, provider, model, attempts, cached,
         latency_ms, overhead_ms, outcome, started_at)
       VALUES ('call_old', 'chat', 'r', 'd', 'p', 'm', 1, false, 1, 0, 'ok', now() - interval '40 days'),
              ('call_new', 'chat', 'r', 'd', 'p', 'm', 1, false, 1, 0, 'ok', now())`,
    );
    await client.query(
      `INSERT INTO ${schema}.response_cache (key, response, expires_at)
       VALUES ('expired', '{}', now() - interval '1 minute'), ('fresh', '{}', now() + interval '1 hour')`,
    );

    // Outcomes and feedback of an old run and of a recent one.
    for (const run of [old, recent]) {
      await client.query(
        `INSERT INTO ${schema}.run_outcomes (run_id, tenant_id, status, decided_at, decided_by_key)
         VALUES ($1, 'default', 'committed', now(), 'k')`,
        [run.id],
      );
      await client.query(
        `INSERT INTO ${schema}.run_feedback (id, run_id, tenant_id, thumbs, created_by, created_at)
         VALUES ($1, $2, 'default', 'up', 'key:k', now()), ($1 || '_2', $2, 'default', 'down', 'key:k', now())`,
        [`fb_${run.id}`, run.id],
      );
    }

    const retention = createRetention({ client, schema });
    const before = new Date(Date.now() - 30 * DAY);
    expect(await retention.count({ before })).toEqual({ runs: 2, gatewayCalls: 1, cachedResponses: 1 });
    // Small batches: the loop goes on until a batch comes back short.
    expect(await retention.prune({ before, batchSize: 1 })).toEqual({
      runs: 2,
      gatewayCalls: 1,
      cachedResponses: 1,
    });

    const left = new Set(
      (await client.query<{ id: string }>(`SELECT id FROM ${schema}.runs`)).rows.map((r) => r.id),
    );
    expect(left.has(old.id)).toBe(false);
    expect(left.has(abandoned.id)).toBe(false);
    expect(left.has(recent.id)).toBe(true);
    expect(left.has(queued.id)).toBe(true);
    expect(left.has(sessionOld.id)).toBe(true);
    // Steps, payloads and slices went with their runs.
    expect(await rowsOf('steps')).toBe(left.size - 1);
    expect(await rowsOf('payloads')).toBe(left.size - 1);
    expect(await rowsOf('text_deltas')).toBe(left.size - 1);
    // Outcomes and feedback went with theirs (the old run's), the recent run's stay.
    expect(await rowsOf('run_outcomes')).toBe(1);
    expect(await rowsOf('run_feedback')).toBe(2);
    expect(await rowsOf('gateway_calls')).toBe(1);
    expect(await rowsOf('response_cache')).toBe(1);
    expect(await retention.prune({ before })).toEqual({ runs: 0, gatewayCalls: 0, cachedResponses: 0 });
  });
}

describe('retention on PGlite (in memory)', () => {
  retentionContract(() => createPgliteClient());
});

describePostgres('retention on Postgres', (connectionString) => {
  retentionContract(async () => createPgClient({ connectionString, max: 4 }));
});
