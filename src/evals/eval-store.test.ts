/**
 * The eval store on PGlite and Postgres: results replaced on a second record, read back in suite
 * order, an eval ended `failed`, keyset paging and filters, tenants apart.
 */
import { beforeEach, afterEach, expect, it } from 'vitest';
import { migrate } from '../journal/migrations.js';
import { describeOnBothBackends, type ContractDatabase } from '../testing/sql-contract.js';
import { createEvalStore, type EvalCaseResult, type EvalStore } from './eval-store.js';
import { summarizeResults } from './eval-summary.js';

function result(caseId: string, verdict: EvalCaseResult['verdict'], trial = 1): EvalCaseResult {
  return {
    caseId,
    trial,
    runId: `run_${caseId}_${trial}`,
    verdict,
    score: verdict === 'pass' ? 1 : 0,
    costUsd: 0.001,
    judgeCostUsd: 0,
    latencyMs: 12,
    stopReason: 'completed',
    tags: ['t'],
    scores: [],
    error:
      verdict === 'error'
        ? { code: 'judge_failed', message: 'down', fault: 'system', retryable: true }
        : null,
  };
}

function evalStoreContract(open: () => Promise<ContractDatabase>) {
  let store: EvalStore;
  let close: () => Promise<void>;
  beforeEach(async () => {
    const database = await open();
    close = database.close;
    await migrate(database.client, { schema: database.schema });
    // Ids in creation order: evals created within one clock tick (PGlite's clock is coarse) then
    // still list newest first, as ids break ties in created_at.
    let sequence = 0;
    store = createEvalStore({
      client: database.client,
      schema: database.schema,
      generateId: (prefix) => `${prefix}_${String(sequence++).padStart(6, '0')}`,
    });
  });
  afterEach(async () => close());

  const create = (tenantId = 'default', promptVersion: string | null = 'v1') =>
    store.create({
      tenantId,
      suite: 'travel',
      agent: 'planner',
      promptVersion,
      trials: 2,
      concurrency: 4,
      caseCount: 2,
      options: { min_pass_rate: 0.8 },
    });

  it('keeps results in suite order, replaces a result recorded twice, and ends with the summary', async () => {
    const record = await create();
    expect(record).toMatchObject({
      status: 'running',
      summary: null,
      endedAt: null,
      options: { min_pass_rate: 0.8 },
    });
    await store.recordResult(record.id, result('b', 'fail', 2), 1);
    await store.recordResult(record.id, result('a', 'pass', 1), 0);
    await store.recordResult(record.id, result('b', 'pass', 1), 1);
    await store.recordResult(record.id, result('b', 'error', 2), 1); // replaces b#2
    const results = [result('a', 'pass', 1), result('b', 'pass', 1), result('b', 'error', 2)];
    const ended = await store.finish(record.id, { status: 'failed', summary: summarizeResults(results, 2) });
    expect(ended.status).toBe('failed');
    expect(ended.endedAt).toBeInstanceOf(Date);
    const found = await store.get({ tenantId: 'default', id: record.id });
    expect(found?.results.map((each) => `${each.caseId}#${each.trial}:${each.verdict}`)).toEqual([
      'a#1:pass',
      'b#1:pass',
      'b#2:error',
    ]);
    expect(found?.results[2]).toMatchObject({ error: { code: 'judge_failed' }, costUsd: 0.001, tags: ['t'] });
    expect(found?.eval.summary).toMatchObject({ passed: 2, errored: 1, total: 3 });
    await expect(
      store.finish('eval_missing', { status: 'completed', summary: ended.summary! }),
    ).rejects.toMatchObject({
      code: 'eval_not_found',
    });
  });

  it('pages newest first by cursor, filters by agent and prompt version, and keeps tenants apart', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await create('default', i % 2 === 0 ? 'v1' : 'v2')).id);
    await create('other');
    const first = await store.list({ tenantId: 'default', limit: 2 });
    expect(first.evals.map((each) => each.id)).toEqual([ids[4], ids[3]]);
    const second = await store.list({ tenantId: 'default', limit: 2, cursor: first.nextCursor! });
    expect(second.evals.map((each) => each.id)).toEqual([ids[2], ids[1]]);
    const last = await store.list({ tenantId: 'default', limit: 2, cursor: second.nextCursor! });
    expect(last.evals.map((each) => each.id)).toEqual([ids[0]]);
    expect(last.nextCursor).toBeUndefined();
    const v2 = await store.list({ tenantId: 'default', agent: 'planner', promptVersion: 'v2' });
    expect(v2.evals.map((each) => each.id)).toEqual([ids[3], ids[1]]);
    expect(await store.get({ tenantId: 'other', id: ids[0]! })).toBeUndefined();
    await expect(store.list({ tenantId: 'default', cursor: 'not-a-cursor!' })).rejects.toMatchObject({
      code: 'invalid_cursor',
    });
  });
}

describeOnBothBackends('eval store', evalStoreContract);
