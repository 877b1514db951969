/**
 * `GET /v1/evals` and `/v1/evals/{id}` on PGlite and Postgres: evals seeded through the eval
 * store as `keel eval` writes them (create, one result per case trial, finish with the summary),
 * read back newest first, filtered, paged, per tenant, with their cases; and the refusals.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createAnalytics } from '../analytics/analytics-store.js';
import { createEvalStore, type EvalCaseResult, type EvalStore } from '../evals/eval-store.js';
import { summarizeResults } from '../evals/eval-summary.js';
import { createApiKeys } from '../gateway/api-keys.js';
import { migrate } from '../journal/migrations.js';
import { createSqlJournalStore } from '../journal/sql-journal-store.js';
import { describeOnBothBackends, type ContractDatabase } from '../testing/sql-contract.js';
import { silentLogger } from '../util/logger.js';
import { createServer } from './create-server.js';
import { evalListResponse, evalResponse } from './eval-schemas.js';
import { createRunFeedback } from '../feedback/feedback.js';
import { createRunOutcomes } from '../feedback/outcomes.js';
import { errorResponse } from './schemas.js';

function result(
  caseId: string,
  trial: number,
  verdict: EvalCaseResult['verdict'],
  extra: Partial<EvalCaseResult> = {},
): EvalCaseResult {
  const pass = verdict === 'pass';
  return {
    caseId,
    trial,
    runId: `run_${caseId}_${trial}`,
    verdict,
    score: pass ? 1 : 0,
    costUsd: 0.001,
    judgeCostUsd: 0,
    latencyMs: 120,
    stopReason: 'completed',
    tags: ['city'],
    scores: [
      {
        scorer: 'contains',
        spec: { kind: 'contains', value: 'Lisbon', ignore_case: false },
        pass,
        score: pass ? 1 : 0,
        reason: pass ? 'output contains "Lisbon"' : 'output lacks "Lisbon"',
      },
    ],
    error: null,
    ...extra,
  };
}

/** Stores an eval the way `keel eval` does: created, each result as it ends, then finished. */
async function seedEval(
  evals: EvalStore,
  input: { tenantId?: string; suite: string; agent: string; promptVersion: string | null },
  results: EvalCaseResult[] | null,
) {
  const record = await evals.create({
    tenantId: input.tenantId ?? 'tenant-a',
    suite: input.suite,
    agent: input.agent,
    promptVersion: input.promptVersion,
    trials: 1,
    concurrency: 2,
    caseCount: results?.length ?? 2,
    createdBy: 'cli:ada',
    options: { min_pass_rate: 0.8 },
  });
  if (results === null) return record.id; // still running
  // Recorded out of order, as parallel cases end; read back in suite order.
  for (const [position, each] of [...results.entries()].reverse())
    await evals.recordResult(record.id, each, position);
  await evals.finish(record.id, { status: 'completed', summary: summarizeResults(results, 1) });
  return record.id;
}

function evalRoutesSuite(open: () => Promise<ContractDatabase>) {
  let database: ContractDatabase;
  let url: string;
  let close: () => Promise<void>;
  const keys = {} as Record<'admin' | 'reader' | 'writer' | 'other', string>;
  const ids = {} as Record<'v1' | 'v2' | 'running' | 'theirs', string>;

  beforeAll(async () => {
    database = await open();
    const { client, schema } = database;
    await migrate(client, { schema });
    const apiKeys = createApiKeys({ client, schema });
    // Ids in creation order, so evals created within one clock tick still list newest first.
    let sequence = 0;
    const evals = createEvalStore({
      client,
      schema,
      generateId: (prefix) => `${prefix}_${String(sequence++).padStart(6, '0')}`,
    });
    const server = createServer({
      store: createSqlJournalStore({ client, schema }),
      client,
      evals,
      analytics: createAnalytics({ client, schema }),
      agents: new Map(),
      logger: silentLogger,
      apiKeys,
      outcomes: createRunOutcomes({ client, schema }),
      feedback: createRunFeedback({ client, schema }),
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await database.close();
    };
    keys.admin = (await apiKeys.create({ tenantId: 'tenant-a', scopes: ['admin'] })).key;
    keys.reader = (await apiKeys.create({ tenantId: 'tenant-a', scopes: ['runs:read'] })).key;
    keys.writer = (await apiKeys.create({ tenantId: 'tenant-a', scopes: ['runs:write'] })).key;
    keys.other = (await apiKeys.create({ tenantId: 'tenant-b', scopes: ['admin'] })).key;

    ids.v1 = await seedEval(evals, { suite: 'travel', agent: 'travel-planner', promptVersion: 'v1' }, [
      result('lisbon', 1, 'pass'),
      result('rome', 1, 'fail'),
      result('outage', 1, 'error', {
        runId: null,
        scores: [],
        error: {
          code: 'case_timeout',
          message: 'The case did not end within 5 s.',
          fault: 'system',
          retryable: false,
        },
      }),
    ]);
    ids.v2 = await seedEval(evals, { suite: 'travel', agent: 'travel-planner', promptVersion: 'v2' }, [
      result('lisbon', 1, 'pass'),
      result('rome', 1, 'pass'),
    ]);
    ids.running = await seedEval(
      evals,
      { suite: 'expenses', agent: 'expense-approver', promptVersion: null },
      null,
    );
    ids.theirs = await seedEval(
      evals,
      { tenantId: 'tenant-b', suite: 'travel', agent: 'travel-planner', promptVersion: 'v1' },
      [result('lisbon', 1, 'pass')],
    );
  }, 60_000);
  afterAll(() => close?.());

  const call = (path: string, key: string | null = keys.reader) =>
    fetch(url + path, { headers: key === null ? {} : { authorization: `Bearer ${key}` } });
  const list = async (query: string, key = keys.reader) => {
    const response = await call(`/v1/evals${query}`, key);
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    return { body, page: evalListResponse.parse(body) };
  };
  const expectError = async (response: Response, status: number, code: string) => {
    expect(response.status).toBe(status);
    expect(errorResponse.parse(await response.json()).error.code).toBe(code);
  };

  it('lists the tenant’s evals newest first, with their figures and without their cases', async () => {
    const { body, page } = await list('');
    expect(page.next_cursor).toBeNull();
    expect(page.data.map((each) => each.id)).toEqual([ids.running, ids.v2, ids.v1]);
    expect((body.data as Record<string, unknown>[]).every((each) => !('cases' in each))).toBe(true);
    expect(page.data[2]).toMatchObject({
      suite: 'travel',
      agent: 'travel-planner',
      prompt_version: 'v1',
      status: 'completed',
      case_count: 3,
      passed: 1,
      failed: 1,
      errored: 1,
      total: 3,
      cost_usd: 0.003,
      created_by: 'cli:ada',
      options: { min_pass_rate: 0.8 },
    });
    expect(page.data[2]!.pass_rate).toBeCloseTo(1 / 3, 6);
    expect(page.data[2]!.ended_at).not.toBeNull();
    expect(page.data[1]).toMatchObject({ prompt_version: 'v2', pass_rate: 1, passed: 2, total: 2 });
    // Still running: no summary yet, its figures are zero.
    expect(page.data[0]).toMatchObject({ status: 'running', pass_rate: 0, total: 0, ended_at: null });

    // Another tenant sees its own eval only.
    const theirs = await list('', keys.other);
    expect(theirs.page.data.map((each) => each.id)).toEqual([ids.theirs]);
  });

  it('filters by agent and prompt version', async () => {
    const byAgent = await list('?agent=travel-planner');
    expect(byAgent.page.data.map((each) => each.id)).toEqual([ids.v2, ids.v1]);
    const byVersion = await list('?agent=travel-planner&prompt_version=v1');
    expect(byVersion.page.data.map((each) => each.id)).toEqual([ids.v1]);
    expect((await list('?agent=nobody')).page.data).toEqual([]);
  });

  it('pages with a cursor, losing and repeating nothing', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const { page } = await list(`?limit=1${cursor === null ? '' : `&cursor=${cursor}`}`);
      expect(page.data.length).toBe(1);
      seen.push(page.data[0]!.id);
      cursor = page.next_cursor;
      pages++;
    } while (cursor !== null);
    expect(pages).toBe(3);
    expect(seen).toEqual([ids.running, ids.v2, ids.v1]);
  });

  it('shows one eval with its cases in suite order: verdicts, scorer reasons, runs, errors', async () => {
    const response = await call(`/v1/evals/${ids.v1}`);
    expect(response.status).toBe(200);
    const view = evalResponse.parse(await response.json());
    expect(view).toMatchObject({ id: ids.v1, prompt_version: 'v1', passed: 1, failed: 1, errored: 1 });
    expect(view.cases.map((each) => `${each.id}#${each.trial}:${each.verdict}`)).toEqual([
      'lisbon#1:pass',
      'rome#1:fail',
      'outage#1:error',
    ]);
    expect(view.cases[0]).toEqual({
      id: 'lisbon',
      trial: 1,
      verdict: 'pass',
      score: 1,
      run_id: 'run_lisbon_1',
      cost_usd: 0.001,
      judge_cost_usd: 0,
      latency_ms: 120,
      stop_reason: 'completed',
      tags: ['city'],
      scores: [{ scorer: 'contains', pass: true, score: 1, reason: 'output contains "Lisbon"' }],
    });
    expect(view.cases[1]!.scores[0]).toMatchObject({ pass: false, reason: 'output lacks "Lisbon"' });
    expect(view.cases[2]).toMatchObject({
      run_id: null,
      error: { code: 'case_timeout', message: 'The case did not end within 5 s.' },
    });
    // An eval still running has the cases recorded so far (none here).
    const running = evalResponse.parse(await (await call(`/v1/evals/${ids.running}`)).json());
    expect(running).toMatchObject({ status: 'running', cases: [] });
  });

  it('answers 404 eval_not_found for an unknown id and another tenant’s eval', async () => {
    await expectError(await call('/v1/evals/eval_nope'), 404, 'eval_not_found');
    await expectError(await call(`/v1/evals/${ids.theirs}`), 404, 'eval_not_found');
    await expectError(await call(`/v1/evals/${ids.v1}`, keys.other), 404, 'eval_not_found');
    await expectError(await call('/v1/evals/%ZZ'), 404, 'eval_not_found');
  });

  it('refuses a bad cursor or limit (400), no key (401) and a key without runs:read (403)', async () => {
    await expectError(await call('/v1/evals?cursor=nope'), 400, 'invalid_cursor');
    await expectError(await call('/v1/evals?limit=0'), 400, 'invalid_request');
    await expectError(await call('/v1/evals?limit=201'), 400, 'invalid_request');
    await expectError(await call('/v1/evals?limit=ten'), 400, 'invalid_request');
    expect((await call('/v1/evals?limit=200')).status).toBe(200);
    await expectError(await call('/v1/evals', null), 401, 'unauthorized');
    await expectError(await call('/v1/evals', keys.writer), 403, 'forbidden');
    await expectError(await call(`/v1/evals/${ids.v1}`, keys.writer), 403, 'forbidden');
  });

  it('is in the OpenAPI document', async () => {
    const document = (await (await call('/openapi.json', null)).json()) as {
      paths: Record<string, Record<string, { 'x-keel-scopes'?: string[] }>>;
    };
    expect(document.paths['/v1/evals']?.get?.['x-keel-scopes']).toEqual(['runs:read', 'admin']);
    expect(document.paths['/v1/evals/{id}']?.get?.['x-keel-scopes']).toEqual(['runs:read', 'admin']);
  });
}

describeOnBothBackends('GET /v1/evals', evalRoutesSuite);
