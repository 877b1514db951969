import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnalytics } from '../analytics/analytics-store.js';
import type { GroupBy } from '../analytics/analytics-query.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { createPgClient } from './pg-client.js';
import { createPgliteClient } from './pglite-client.js';
import type { SqlClient } from './sql-client.js';
import { createSqlJournalStore } from './sql-journal-store.js';
import type { JournalStore } from './store.js';
import type { Lease, RunRecord, StepEnd } from './types.js';

const GPT = 'openai:gpt-x';
const WINDOW = { from: new Date('2030-01-01T00:00:00Z'), to: new Date('2030-01-02T00:00:00Z') };

/**
 * The step facts (migration 16) are written by the statement that ends a run, finished by its
 * worker or cancelled while it held none, and the analytics figures read from them equal the
 * figures computed from the runs' steps.
 */
function runStepFactsContract(openClient: () => Promise<SqlClient>): void {
  let client: SqlClient;
  let schema: string;
  let store: JournalStore;
  let time = Date.parse('2030-01-01T00:00:00.000Z');
  const ids: Record<'finished' | 'cancelledWaiting' | 'cancelledQueued' | 'running', string> = {
    finished: '',
    cancelledWaiting: '',
    cancelledQueued: '',
    running: '',
  };

  const leaseOf = (run: RunRecord): Lease => ({
    runId: run.id,
    owner: run.leaseOwner ?? '',
    fence: run.fence,
  });
  const claim = async (runId: string) => {
    const [run] = await store.claimRuns({ owner: 'worker', limit: 1, leaseMs: 30_000, ids: [runId] });
    if (!run) throw new Error(`cannot claim ${runId}`);
    return leaseOf(run);
  };
  const step = (seq: number, overrides: Partial<StepEnd> = {}): StepEnd => ({
    seq,
    parentSeq: null,
    kind: 'model',
    name: GPT,
    inputHash: `hash-${seq}`,
    attempt: 1,
    startedAt: new Date('2030-01-01T00:00:01.000Z'),
    endedAt: new Date('2030-01-01T00:00:02.000Z'),
    status: 'completed',
    usage: { inputTokens: 10, outputTokens: 5 },
    costUsd: null,
    ...overrides,
  });
  const tool = (seq: number, name: string, status: 'completed' | 'failed') =>
    step(seq, { kind: 'tool', name, parentSeq: seq - 1, status, usage: null });
  const factsOf = async (runId: string) => {
    const result = await client.query<Record<string, unknown>>(
      `SELECT model_calls, tool_calls, crash_reexecutions, crash_reexecution_usd, retried_attempts,
         retried_attempts_usd, first_model
       FROM ${schema}.runs WHERE id = $1`,
      [runId],
    );
    return { ...result.rows[0] };
  };

  beforeAll(async () => {
    client = await openClient();
    schema = createTestSchemaName();
    store = createSqlJournalStore({ client, schema, clock: { now: () => time++ } });
    await store.migrate();
    const create = async () => (await store.createRun({ agent: 'support', input: 'hi' })).run.id;

    // Finished by its worker: a model step cut off by a crash and executed again, a failed and
    // a completed tool, a model step that answered at its third call.
    ids.finished = await create();
    const first = await claim(ids.finished);
    await store.startStep(first, step(1));
    await client.query(
      `UPDATE ${schema}.runs SET lease_expires_at = now() - interval '1 second' WHERE id = $1`,
      [ids.finished],
    );
    const second = await claim(ids.finished);
    await store.startStep(second, step(1, { attempt: 2 }));
    await store.completeStep(second, step(1, { attempt: 2, costUsd: 0.05 }));
    await store.completeStep(second, tool(2, 'search', 'failed'));
    await store.completeStep(second, tool(3, 'lookup', 'completed'));
    await store.completeStep(second, step(4, { attempt: 3, costUsd: 0.06 }));
    await store.finishRun(second, {
      stopReason: 'completed',
      output: 'done',
      usage: { inputTokens: 20, outputTokens: 10 },
      costUsd: 0.11,
      stepCount: 4,
    });

    // Cancelled while waiting for a provider (its third step started, never answered).
    ids.cancelledWaiting = await create();
    const waiting = await claim(ids.cancelledWaiting);
    await store.completeStep(waiting, step(1, { name: 'anthropic:claude-y', costUsd: 0.02 }));
    await store.completeStep(waiting, tool(2, 'search', 'completed'));
    await store.waitForRetry(waiting, {
      step: step(3),
      delayMs: 60_000,
      reason: 'provider_unavailable',
      message: '503',
    });
    expect((await store.requestCancel(ids.cancelledWaiting))?.status).toBe('cancelled');

    // Cancelled while queued: no step.
    ids.cancelledQueued = await create();
    expect((await store.requestCancel(ids.cancelledQueued))?.status).toBe('cancelled');

    // Still running: no facts, its steps are read.
    ids.running = await create();
    const running = await claim(ids.running);
    await store.completeStep(running, step(1, { costUsd: 0.01 }));
    await store.completeStep(running, tool(2, 'search', 'failed'));
  });
  afterAll(async () => {
    await store?.close();
    await client?.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client?.close();
  });

  it('writes the facts of a run finished by its worker', async () => {
    expect(await factsOf(ids.finished)).toEqual({
      model_calls: 2,
      tool_calls: { search: [1, 1], lookup: [1, 0] },
      // Step 1: one execution abandoned by the crash, priced at its $0.05.
      crash_reexecutions: 1,
      crash_reexecution_usd: expect.closeTo(0.05, 12),
      // Step 1: 2 calls − 1 − 1 abandoned = 0; step 4: 3 calls − 1 = 2 × $0.06.
      retried_attempts: 2,
      retried_attempts_usd: expect.closeTo(0.12, 12),
      first_model: GPT,
    });
  });

  it('writes the facts of a run cancelled while waiting or queued, none of a running run', async () => {
    expect(await factsOf(ids.cancelledWaiting)).toEqual({
      // The started step counts as a turn of the loop; it has no cost, so no retry is priced.
      model_calls: 2,
      tool_calls: { search: [1, 0] },
      crash_reexecutions: 0,
      crash_reexecution_usd: 0,
      retried_attempts: 0,
      retried_attempts_usd: 0,
      first_model: 'anthropic:claude-y',
    });
    expect(await factsOf(ids.cancelledQueued)).toMatchObject({
      model_calls: 0,
      tool_calls: null,
      first_model: null,
    });
    expect(await factsOf(ids.running)).toMatchObject({ model_calls: null, tool_calls: null });
  });

  it('answers the same analytics from the facts as from the steps', async () => {
    const analytics = createAnalytics({
      client,
      schema,
      clock: { now: () => Date.parse('2030-01-20T00:00:00Z') },
    });
    const groupings: Array<GroupBy | undefined> = [undefined, 'model', 'agent'];
    const summaries = () =>
      Promise.all(groupings.map((groupBy) => analytics.summary({ window: WINDOW, tenantId: null, groupBy })));
    const compare = () =>
      analytics.compare({
        sides: {
          mode: 'windows',
          a: { window: WINDOW, promptVersion: null },
          b: { window: WINDOW, promptVersion: null },
        },
        tenantId: null,
      });
    const fromFacts = await summaries();
    const comparedFromFacts = await compare();
    const [total] = fromFacts;
    expect(total).toMatchObject({
      runs: 4,
      tool_error_rate: { search: { calls: 3, errors: 2 }, lookup: { calls: 1, errors: 0 } },
      hidden_recompute_usd: { crash_reexecutions: 1, retried_attempts: 2 },
    });
    // Forget every run's facts: the figures now come from the steps.
    await client.query(`UPDATE ${schema}.runs SET model_calls = NULL, tool_calls = NULL, first_model = NULL`);
    expect(await summaries()).toEqual(fromFacts);
    expect(await compare()).toEqual(comparedFromFacts);
  });
}

describe('run step facts on PGlite', () => {
  runStepFactsContract(() => createPgliteClient());
});

describePostgres('run step facts on Postgres', (connectionString) => {
  runStepFactsContract(async () => createPgClient({ connectionString, max: 4 }));
});
