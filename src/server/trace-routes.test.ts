import { createAnalytics } from '../analytics/analytics-store.js';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createGateway, type KeelGateway } from '../gateway/gateway.js';
import { createGatewayModel } from '../gateway/gateway-model.js';
import { createApiKeys, type ApiKeys, type ApiKeyScope } from '../gateway/api-keys.js';
import { openStore } from '../journal/open-store.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import type { Lease, StepEnd } from '../journal/types.js';
import { defineAgent } from '../runtime/agent.js';
import { runAgent } from '../runtime/run-agent.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../testing/fake-openai-server.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { defineTool } from '../tools/tool.js';
import { silentLogger } from '../util/logger.js';
import { createServer } from './create-server.js';
import { createRunFeedback } from '../feedback/feedback.js';
import { createRunOutcomes } from '../feedback/outcomes.js';
import { errorResponse } from './schemas.js';
import { stepDetailResponse, traceResponse } from './trace-schemas.js';

/** A server over a store (PGlite or a Postgres schema) with keys of two tenants. */
interface Harness {
  store: JournalStore;
  client: SqlClient;
  schema: string;
  apiKeys: ApiKeys;
  call(path: string, init?: RequestInit & { key?: string | null }): Promise<Response>;
  close(): Promise<void>;
}

async function startHarness(open: () => Promise<{ store: JournalStore; client: SqlClient; schema: string }>) {
  const { store, client, schema } = await open();
  const apiKeys = createApiKeys({ client, schema });
  const agent = defineAgent({ name: 'echo', instructions: 'Repeat.', model: 'builtin:echo' });
  const server = createServer({
    store,
    client,
    analytics: createAnalytics({ client, schema }),
    agents: new Map([['echo', agent]]),
    logger: silentLogger,
    apiKeys,
    outcomes: createRunOutcomes({ client, schema }),
    feedback: createRunFeedback({ client, schema }),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const harness: Harness = {
    store,
    client,
    schema,
    apiKeys,
    call: (path, { key = null, headers, ...init } = {}) =>
      fetch(url + path, {
        ...init,
        headers: {
          ...(key === null ? {} : { authorization: `Bearer ${key}` }),
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(headers as Record<string, string> | undefined),
        },
      }),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
    },
  };
  return harness;
}

/** The endpoints over one database: a real run through the gateway, a re-executed step, an open one. */
function traceEndpoints(open: () => Promise<{ store: JournalStore; client: SqlClient; schema: string }>) {
  let app: Harness;
  let upstream: FakeOpenAIServer;
  let gateway: KeelGateway;
  const keys = {} as Record<'admin' | 'reader' | 'payloads' | 'payloadsOnly' | 'writer' | 'other', string>;
  const key = async (tenantId: string, scopes: ApiKeyScope[]) =>
    (await app.apiKeys.create({ tenantId, scopes })).key;

  beforeAll(async () => {
    app = await startHarness(open);
    upstream = await createFakeOpenAIServer();
    gateway = createGateway({
      config: {
        deployments: [
          {
            name: 'primary',
            provider: 'openai',
            model: 'gpt-4o-mini',
            baseURL: upstream.url,
            apiKeyEnv: 'K',
          },
        ],
        routes: [{ name: 'fast', deployments: ['primary'] }],
        retry: { attemptsPerDeployment: 1 },
      },
      env: { K: 'sk-test' },
    });
    keys.admin = await key('tenant-a', ['admin']);
    keys.reader = await key('tenant-a', ['runs:read']);
    keys.payloads = await key('tenant-a', ['runs:read', 'runs:read_payloads']);
    keys.payloadsOnly = await key('tenant-a', ['runs:read_payloads']);
    keys.writer = await key('tenant-a', ['runs:write']);
    keys.other = await key('tenant-b', ['admin']);
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
    await app?.close();
  });

  const get = async (path: string, as: string) => {
    const response = await app.call(path, { key: as });
    return { status: response.status, body: (await response.json()) as unknown };
  };
  const expectError = async (path: string, as: string, status: number, code: string) => {
    const answer = await get(path, as);
    expect(answer.status, path).toBe(status);
    expect(errorResponse.parse(answer.body).error.code, path).toBe(code);
  };
  const lease = async (runId: string, owner = 'test-worker'): Promise<Lease> => {
    const [run] = await app.store.claimRuns({ owner, limit: 1, leaseMs: 60_000, ids: [runId] });
    if (!run) throw new Error(`run ${runId} not claimable`);
    return { runId, owner, fence: run.fence };
  };
  const modelStep = (seq: number, overrides: Partial<StepEnd> = {}): StepEnd => ({
    seq,
    parentSeq: null,
    kind: 'model',
    name: 'openai:gpt-4o-mini',
    inputHash: `hash-${seq}`,
    attempt: 1,
    startedAt: new Date('2030-01-01T00:00:00.000Z'),
    endedAt: new Date('2030-01-01T00:00:00.400Z'),
    status: 'completed',
    output: { message: { role: 'assistant', content: 'ok' }, finishReason: 'stop', usage: {}, modelId: 'm' },
    usage: { inputTokens: 40, outputTokens: 4 },
    costUsd: 0.001,
    meta: { provider: 'openai', model: 'gpt-4o-mini', tools: [] },
    ...overrides,
  });

  it('traces a run with two parallel tool calls: DAG, types, totals, outcome; envelopes per step', async () => {
    upstream.enqueue({
      content: 'I need both sums before I answer.',
      toolCalls: [
        { id: 'call_a', name: 'add', arguments: '{"a": 2, "b": 3}' },
        { id: 'call_b', name: 'add', arguments: '{"a": 10, "b": 20}' },
      ],
      usage: { promptTokens: 1000, completionTokens: 50 },
    });
    upstream.enqueue({
      content: 'The sums are 5 and 30.',
      usage: { promptTokens: 1200, completionTokens: 20 },
    });
    const add = defineTool({
      name: 'add',
      description: 'Adds two numbers.',
      input: z.object({ a: z.number(), b: z.number() }),
      run: ({ a, b }) => ({ sum: a + b }),
    });
    const adder = defineAgent({
      name: 'adder',
      instructions: 'Add numbers with the tool.',
      model: createGatewayModel({ gateway, route: 'fast' }),
      tools: [add],
    });
    const run = await runAgent({
      store: app.store,
      agents: [adder],
      agent: 'adder',
      input: 'What are 2+3 and 10+20?',
      tenantId: 'tenant-a',
      userId: 'user-7',
      sessionId: 'session-9',
      logger: silentLogger,
    });
    expect(run.stopReason).toBe('completed');
    expect(run.costUsd).toBeGreaterThan(0);

    const answer = await get(`/v1/runs/${run.id}/trace`, keys.reader);
    expect(answer.status).toBe(200);
    const trace = traceResponse.parse(answer.body);
    expect(trace).toMatchObject({
      trace_id: run.id,
      user_id: 'user-7',
      session_id: 'session-9',
      agent: 'adder',
      model: 'gpt-4o-mini',
      prompt_version: run.promptVersion,
      outcome: 'speculative',
      status: 'completed',
      stop_reason: 'completed',
      total_tokens_in: 2200,
      total_tokens_out: 70,
      total_cost_usd: run.costUsd,
      attempts: 1,
    });
    expect(trace.duration_ms).toBeGreaterThanOrEqual(0);
    expect(trace.steps.map((step) => [step.seq, step.parent_seq, step.type, step.name, step.ok])).toEqual([
      [0, null, 'llm', 'openai:gpt-4o-mini', true],
      [1, 0, 'tool', 'add', true],
      [2, 0, 'tool', 'add', true],
      [3, null, 'llm', 'openai:gpt-4o-mini', true],
    ]);
    expect(trace.steps[0]).toMatchObject({
      model: 'gpt-4o-mini',
      tokens_in: 1000,
      tokens_out: 50,
      execution: 1,
    });
    expect(trace.steps[1]).toMatchObject({ model: null, tokens_in: null, cost_usd: null, error_code: null });
    const stepCost = trace.steps.reduce((sum, step) => sum + (step.cost_usd ?? 0), 0);
    expect(stepCost).toBeCloseTo(trace.total_cost_usd, 12);

    // The model step that chose the calls: its envelope, from one call. Without payload access
    // the arguments and the stated reason (payload content) are null.
    const plain = stepDetailResponse.parse((await get(`/v1/runs/${run.id}/steps/0`, keys.reader)).body);
    expect(plain.envelope).toMatchObject({
      tool_calls: [
        { id: 'call_a', name: 'add', arguments: null },
        { id: 'call_b', name: 'add', arguments: null },
      ],
      finish_reason: 'tool_calls',
      stated_reason: null,
    });
    expect(plain).not.toHaveProperty('payload');
    await expectError(`/v1/runs/${run.id}/steps?outputs=true`, keys.reader, 403, 'forbidden');
    const detail = await get(`/v1/runs/${run.id}/steps/0`, keys.payloads);
    expect(detail.status).toBe(200);
    const step = stepDetailResponse.parse(detail.body);
    expect(step).not.toHaveProperty('output');
    expect(step).toMatchObject({ seq: 0, kind: 'model', status: 'completed' });
    expect(step.envelope).toEqual({
      prompt_version: run.promptVersion,
      provider: 'openai',
      model: 'gpt-4o-mini',
      deployment: 'primary',
      cached: false,
      tools_offered: ['add'],
      tool_calls: [
        { id: 'call_a', name: 'add', arguments: { a: 2, b: 3 } },
        { id: 'call_b', name: 'add', arguments: { a: 10, b: 20 } },
      ],
      finish_reason: 'tool_calls',
      stated_reason: 'I need both sums before I answer.',
      guards: [],
      retrieved_context_ids: [],
    });
    // The envelope is stored compactly: ids and names, not the arguments nor the text.
    const [stored] = await app.store.loadSteps(run.id);
    expect(JSON.stringify(stored?.meta)).not.toContain('both sums');
    expect(JSON.stringify(stored?.meta)).not.toContain('"a"');

    const final = stepDetailResponse.parse((await get(`/v1/runs/${run.id}/steps/3`, keys.reader)).body);
    expect(final.envelope).toMatchObject({ tool_calls: [], finish_reason: 'stop', stated_reason: null });
    const tool = stepDetailResponse.parse((await get(`/v1/runs/${run.id}/steps/2`, keys.reader)).body);
    expect(tool).toMatchObject({ kind: 'tool', parent_seq: 0, envelope: null });

    // The payload only for keys that may read payloads.
    for (const reader of [keys.payloads, keys.admin]) {
      const withPayload = stepDetailResponse.parse((await get(`/v1/runs/${run.id}/steps/2`, reader)).body);
      expect(withPayload.payload).toEqual({ sum: 30 });
      const model = stepDetailResponse.parse((await get(`/v1/runs/${run.id}/steps/0`, reader)).body);
      expect(model.payload).toMatchObject({ message: { content: 'I need both sums before I answer.' } });
    }
    await expectError(`/v1/runs/${run.id}/steps/0`, keys.payloadsOnly, 403, 'forbidden');

    // The outcome, once recorded, is the trace's.
    const committed = await app.call(`/v1/runs/${run.id}/outcome`, {
      method: 'POST',
      key: keys.writer,
      body: JSON.stringify({ status: 'committed' }),
    });
    expect(committed.status).toBe(200);
    await committed.body?.cancel();
    expect(traceResponse.parse((await get(`/v1/runs/${run.id}/trace`, keys.reader)).body).outcome).toBe(
      'committed',
    );
  }, 60_000);

  it('shows both executions of a step re-executed after a lost lease', async () => {
    const { run } = await app.store.createRun({ tenantId: 'tenant-a', agent: 'echo', input: 'x' });
    const first = await lease(run.id);
    const started = modelStep(0, { startedAt: new Date('2030-01-01T00:00:01.000Z') });
    await app.store.startStep(first, started);
    await app.client.query(
      `UPDATE ${app.schema}.runs SET lease_expires_at = now() - interval '1 second' WHERE id = $1`,
      [run.id],
    );
    const second = await lease(run.id, 'worker-2');
    const again = { ...started, attempt: 2, startedAt: new Date('2030-01-01T00:00:05.000Z') };
    await app.store.startStep(second, again);
    await app.store.completeStep(second, {
      ...again,
      endedAt: new Date('2030-01-01T00:00:05.250Z'),
    });
    const trace = traceResponse.parse((await get(`/v1/runs/${run.id}/trace`, keys.reader)).body);
    expect(trace).toMatchObject({ status: 'running', attempts: 2 });
    expect(trace.steps).toHaveLength(1);
    expect(trace.steps[0]).toMatchObject({ attempt: 2, execution: 2, latency_ms: 250, ok: true });
    expect(trace.steps[0]?.executions).toEqual([
      { attempt: 1, started_at: '2030-01-01T00:00:01.000Z', end: 'abandoned' },
      { attempt: 2, started_at: '2030-01-01T00:00:05.000Z', end: 'completed' },
    ]);
  });

  it('serves a running run with its open step', async () => {
    const { run } = await app.store.createRun({ tenantId: 'tenant-a', agent: 'echo', input: 'x' });
    const held = await lease(run.id);
    await app.store.completeStep(held, modelStep(0));
    await app.store.startStep(held, {
      seq: 1,
      parentSeq: 0,
      kind: 'tool',
      name: 'charge',
      inputHash: 'hash-1',
      attempt: 1,
      startedAt: new Date('2030-01-01T00:00:01.000Z'),
      meta: { toolCallId: 'call_1', effect: 'write' },
    });
    const trace = traceResponse.parse((await get(`/v1/runs/${run.id}/trace`, keys.reader)).body);
    expect(trace).toMatchObject({
      status: 'running',
      stop_reason: null,
      outcome: 'speculative',
      total_tokens_in: 40,
      total_tokens_out: 4,
      total_cost_usd: 0.001,
    });
    expect(trace.steps[1]).toMatchObject({
      seq: 1,
      parent_seq: 0,
      type: 'tool',
      ok: null,
      latency_ms: null,
      executions: [{ attempt: 1, started_at: '2030-01-01T00:00:01.000Z', end: null }],
    });
    const open = stepDetailResponse.parse((await get(`/v1/runs/${run.id}/steps/1`, keys.payloads)).body);
    expect(open).toMatchObject({ status: 'started', envelope: null, payload: null });
  });

  it('answers 404 step_not_found for a step the run lacks or a seq that cannot exist; 404 run_not_found across tenants', async () => {
    const { run } = await app.store.createRun({ tenantId: 'tenant-a', agent: 'echo', input: 'x' });
    for (const seq of ['0', '7', 'abc', '-1', '1.5', '1e2', '%20', '9999999999', '0x1'])
      await expectError(`/v1/runs/${run.id}/steps/${seq}`, keys.reader, 404, 'step_not_found');
    await expectError(`/v1/runs/${run.id}/trace`, keys.other, 404, 'run_not_found');
    await expectError(`/v1/runs/${run.id}/steps/0`, keys.other, 404, 'run_not_found');
    await expectError(`/v1/runs/${run.id}/steps/abc`, keys.other, 404, 'run_not_found');
    await expectError(`/v1/runs/run_missing/trace`, keys.reader, 404, 'run_not_found');
    await expectError(`/v1/runs/${run.id}/trace`, keys.writer, 403, 'forbidden');
  });
}

describe('trace endpoints on PGlite', () => {
  traceEndpoints(async () => ({ ...(await openStore({ dataDir: 'memory://' })), schema: 'keel' }));
});

describePostgres('trace endpoints on Postgres', (databaseUrl) => {
  traceEndpoints(async () => {
    const schema = createTestSchemaName();
    const opened = await openStore({ databaseUrl, schema });
    return {
      ...opened,
      schema,
      store: {
        ...opened.store,
        close: async () => {
          await opened.client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await opened.store.close();
        },
      },
    };
  });
});
