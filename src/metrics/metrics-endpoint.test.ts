import { createAnalytics } from '../analytics/analytics-store.js';
/**
 * `GET /metrics` end to end on PGlite: the real server, a real worker and the gateway (in front
 * of a fake OpenAI server), a known set of runs, then a scrape parsed with a real text-format
 * parser and checked against the journal.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openConfiguredGateway } from '../cli/agent-gateway.js';
import { createApiKeys, type ApiKeys } from '../gateway/api-keys.js';
import { openStore } from '../journal/open-store.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import { TERMINAL_STATUSES, type RunRecord } from '../journal/types.js';
import { defineAgent } from '../runtime/agent.js';
import { createWorker, type Worker } from '../runtime/worker.js';
import { createServer } from '../server/create-server.js';
import { createRunFeedback } from '../feedback/feedback.js';
import { createRunOutcomes } from '../feedback/outcomes.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../testing/fake-openai-server.js';
import { defineTool } from '../tools/tool.js';
import { silentLogger } from '../util/logger.js';
import { parseExposition, type Exposition } from './__fixtures__/parse-exposition.js';
import { createKeelMetrics, type KeelMetrics } from './keel-metrics.js';

const lookup = defineTool({
  name: 'lookup',
  description: 'Weather by city.',
  input: z.object({ city: z.string() }),
  run: ({ city }) => {
    if (city === 'Atlantis') throw new Error('no such city');
    return { city, sky: 'sunny' };
  },
});
const agents = [
  defineAgent({ name: 'weather', instructions: 'Answer.', model: 'gateway:fast', tools: [lookup] }),
  defineAgent({ name: 'echo', instructions: 'Repeat.', model: 'builtin:echo' }),
];

interface Stack {
  url: string;
  store: JournalStore;
  client: SqlClient;
  apiKeys: ApiKeys;
  metrics: KeelMetrics;
  upstream: FakeOpenAIServer;
  startWorker(): void;
  close(): Promise<void>;
}

async function startStack({ metricsPublic = false } = {}): Promise<Stack> {
  const { store, client } = await openStore({ dataDir: 'memory://' });
  const upstream = await createFakeOpenAIServer();
  const metrics = createKeelMetrics({ client, droppedSpans: () => 3, processMetrics: true });
  const gateway = openConfiguredGateway({
    config: {
      deployments: [
        {
          name: 'primary',
          provider: 'openai',
          model: 'gpt-4o-mini',
          baseURL: upstream.url,
          apiKeyEnv: 'KEY',
        },
      ],
      routes: [{ name: 'fast', deployments: ['primary'] }],
      retry: { attemptsPerDeployment: 1 },
      breaker: { failureThreshold: 1, cooldownMs: 600_000 },
    },
    client,
    env: { KEY: 'sk-test' },
    logger: silentLogger,
    metrics,
  });
  const apiKeys = createApiKeys({ client });
  const server = createServer({
    store,
    client,
    analytics: createAnalytics({ client }),
    agents: new Map(agents.map((agent) => [agent.name, agent])),
    logger: silentLogger,
    apiKeys,
    outcomes: createRunOutcomes({ client }),
    feedback: createRunFeedback({ client }),
    gatewayHandler: gateway.service!.handler,
    metrics,
    metricsPublic,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let worker: Worker | undefined;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    store,
    client,
    apiKeys,
    metrics,
    upstream,
    startWorker() {
      worker = createWorker({
        store,
        agents,
        concurrency: 1,
        pollMs: 20,
        logger: silentLogger,
        telemetry: metrics.telemetry,
      });
      worker.start();
    },
    async close() {
      await worker?.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await gateway.close();
      await upstream.close();
      await store.close();
    },
  };
}

describe('GET /metrics after a known set of runs and gateway calls', () => {
  let stack: Stack;
  let scrape: Exposition;
  let runs: RunRecord[];
  let gaugesBefore: Exposition;

  const key = (scopes: Parameters<ApiKeys['create']>[0]['scopes']) =>
    stack.apiKeys.create({ tenantId: 'tenant-a', scopes }).then(({ key }) => key);
  const get = (path: string, bearer?: string) =>
    fetch(stack.url + path, { headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` } });
  const submit = async (agent: string, input: string) => {
    const response = await fetch(`${stack.url}/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await key(['runs:write'])}`, 'content-type': 'application/json' },
      body: JSON.stringify({ agent, input }),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };
  const ended = async (runId: string): Promise<RunRecord> => {
    for (let poll = 0; poll < 1_000; poll++) {
      const run = await stack.store.getRun(runId, { tenantId: 'tenant-a' });
      if (run !== undefined && TERMINAL_STATUSES.includes(run.status)) return run;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`run ${runId} did not end`);
  };
  const chat = (bearer: string) =>
    fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'Hi' }] }),
    });

  beforeAll(async () => {
    stack = await startStack();
    const scraper = await key(['metrics']);
    // Before any worker: one run whose worker "died" (running, its lease expired) and one that a
    // draining worker handed back (queued again). The gauges read them from the database.
    const recovered = await submit('echo', 'recover me');
    const [dead] = await stack.store.claimRuns({ owner: 'dead-worker', limit: 1, leaseMs: 60_000 });
    expect(dead?.id).toBe(recovered);
    await stack.client.query(
      `UPDATE keel.runs SET lease_expires_at = now() - interval '1 second' WHERE id = $1`,
      [recovered],
    );
    const drained = await submit('echo', 'drain me');
    const [handedBack] = await stack.store.claimRuns({
      owner: 'draining',
      limit: 1,
      leaseMs: 60_000,
      ids: [drained],
    });
    await stack.store.releaseRun({ runId: drained, owner: 'draining', fence: handedBack!.fence });
    gaugesBefore = parseExposition(await (await get('/metrics', scraper)).text());

    stack.startWorker();
    const ids = [recovered, drained];
    // Two runs with tool calls (one tool fails, one tool does not exist), one run whose model
    // call fails for good: one at a time, so the upstream answers in script order.
    stack.upstream.enqueue({
      toolCalls: [{ name: 'lookup', arguments: { city: 'Lisbon' } }],
      usage: { promptTokens: 100, completionTokens: 10 },
    });
    stack.upstream.enqueue({ content: 'Sunny.', usage: { promptTokens: 150, completionTokens: 5 } });
    ids.push(await submit('weather', 'Lisbon?'));
    await ended(ids.at(-1)!);
    stack.upstream.enqueue({
      toolCalls: [
        { name: 'lookup', arguments: { city: 'Atlantis' } },
        { name: 'teleport', arguments: { to: 'Atlantis' } },
      ],
      usage: { promptTokens: 120, completionTokens: 20 },
    });
    stack.upstream.enqueue({ content: 'Unknown.', usage: { promptTokens: 200, completionTokens: 7 } });
    ids.push(await submit('weather', 'Atlantis?'));
    await ended(ids.at(-1)!);
    stack.upstream.enqueue({ kind: 'error', status: 400, message: 'bad request' });
    ids.push(await submit('weather', 'Broken?'));
    runs = [];
    for (const id of ids) runs.push(await ended(id));

    // Gateway calls over HTTP: one answered, one failing upstream (which opens the breaker).
    const caller = await key(['gateway']);
    stack.upstream.enqueue({ content: 'Hello.', usage: { promptTokens: 5, completionTokens: 2 } });
    expect((await chat(caller)).status).toBe(200);
    stack.upstream.enqueue({ kind: 'error', status: 500, message: 'down' });
    expect((await chat(caller)).status).toBeGreaterThanOrEqual(500);

    const response = await get('/metrics', scraper);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    scrape = parseExposition(await response.text());
  });
  afterAll(() => stack.close());

  it('ended the runs as scripted', () => {
    expect(runs.map((run) => `${run.agent}:${run.stopReason}`)).toEqual([
      'echo:completed',
      'echo:completed',
      'weather:completed',
      'weather:completed',
      'weather:error',
    ]);
  });

  it('counts runs by agent and stop reason, and their durations', async () => {
    scrape.family('keel_runs_total', 'COUNTER');
    expect(scrape.value('keel_runs_total', { agent: 'echo', stop_reason: 'completed' })).toBe(2);
    expect(scrape.value('keel_runs_total', { agent: 'weather', stop_reason: 'completed' })).toBe(2);
    expect(scrape.value('keel_runs_total', { agent: 'weather', stop_reason: 'error' })).toBe(1);
    scrape.family('keel_run_duration_seconds', 'HISTOGRAM');
    // This parser folds a histogram's labelled series into one (prom2json's shape has no room for
    // them), so their counts are read from the registry.
    const durations = await stack.metrics.registry.getSingleMetric('keel_run_duration_seconds')!.get();
    const counts = Object.fromEntries(
      durations.values
        .filter(
          (sample) => (sample as { metricName?: string }).metricName === 'keel_run_duration_seconds_count',
        )
        .map((sample) => [sample.labels.agent, sample.value]),
    );
    expect(counts).toEqual({ echo: 2, weather: 3 });
  });

  it('counts steps, tokens and cost as the journal holds them', async () => {
    const steps = (await Promise.all(runs.map((run) => stack.store.loadSteps(run.id)))).flat();
    const count = (kind: string, status: string) =>
      steps.filter((step) => step.kind === kind && step.status === status).length;
    expect(scrape.value('keel_steps_total', { kind: 'model', status: 'completed' })).toBe(
      count('model', 'completed'),
    );
    expect(scrape.value('keel_steps_total', { kind: 'model', status: 'failed' })).toBe(1);
    expect(scrape.value('keel_steps_total', { kind: 'tool', status: 'completed' })).toBe(1);
    expect(scrape.value('keel_steps_total', { kind: 'tool', status: 'failed' })).toBe(2);
    for (const agent of ['echo', 'weather']) {
      const mine = runs.filter((run) => run.agent === agent);
      const input = mine.reduce((sum, run) => sum + run.usage.inputTokens, 0);
      const output = mine.reduce((sum, run) => sum + run.usage.outputTokens, 0);
      expect(scrape.value('keel_tokens_total', { agent, direction: 'input' })).toBe(input);
      expect(scrape.value('keel_tokens_total', { agent, direction: 'output' })).toBe(output);
    }
    expect(scrape.value('keel_tokens_total', { agent: 'weather', direction: 'input' })).toBe(570);
    const cost = runs.reduce((sum, run) => sum + run.costUsd, 0);
    expect(cost).toBeGreaterThan(0);
    expect(scrape.value('keel_cost_usd_total', { agent: 'weather' })).toBeCloseTo(cost, 12);
  });

  it('counts tool calls by tool and outcome', () => {
    expect(scrape.value('keel_tool_calls_total', { tool: 'lookup', outcome: 'ok' })).toBe(1);
    expect(scrape.value('keel_tool_calls_total', { tool: 'lookup', outcome: 'error' })).toBe(1);
    expect(scrape.value('keel_tool_calls_total', { tool: 'teleport', outcome: 'unknown_tool' })).toBe(1);
  });

  it('observes the loop count of every ended run', () => {
    const [loops] = scrape.family('keel_run_model_calls', 'HISTOGRAM').metrics;
    // echo 1 + 1, weather 2 + 2 + 1 (the failed call counts).
    expect(loops).toMatchObject({ count: '5', sum: '7' });
    expect(loops?.buckets).toMatchObject({ '0': '0', '1': '3', '2': '5', '+Inf': '5' });
  });

  it('counts the claim that took over an expired lease, not the drained run', () => {
    expect(scrape.value('keel_lease_recoveries_total')).toBe(1);
  });

  it('reads the run gauges from the database', () => {
    expect(gaugesBefore.value('keel_queue_depth')).toBe(1);
    expect(gaugesBefore.value('keel_runs_running')).toBe(1);
    expect(gaugesBefore.value('keel_scrape_database_up')).toBe(1);
    expect(scrape.value('keel_queue_depth')).toBe(0);
    expect(scrape.value('keel_runs_running')).toBe(0);
    expect(scrape.family('keel_runs_running', 'GAUGE').metrics).toHaveLength(1);
  });

  it('counts gateway calls, their overhead, and the open breaker', () => {
    // Runs: 4 answered model calls and the refused one; HTTP: one answered, one failing.
    const calls = { route: 'fast', deployment: 'primary' };
    expect(scrape.value('keel_gateway_requests_total', { ...calls, outcome: 'ok' })).toBe(5);
    expect(scrape.value('keel_gateway_requests_total', { ...calls, outcome: 'error' })).toBe(2);
    const [overhead] = scrape.family('keel_gateway_overhead_seconds', 'HISTOGRAM').metrics;
    expect(overhead?.count).toBe('7');
    expect(scrape.value('keel_gateway_breaker_open', { deployment: 'primary' })).toBe(1);
  });

  it('exposes the dropped-span count it is given and the process metrics, all prefixed keel_', () => {
    expect(scrape.value('keel_otel_dropped_spans_total')).toBe(3);
    expect(scrape.families.has('keel_process_cpu_seconds_total')).toBe(true);
    for (const name of scrape.families.keys()) expect(name).toMatch(/^keel_/);
  });

  it('puts no run id or user id in any label', () => {
    const values = [...scrape.families.values()].flatMap((family) =>
      family.metrics.flatMap((sample) => Object.values(sample.labels ?? {})),
    );
    for (const run of runs) expect(values).not.toContain(run.id);
  });

  it('answers 401 without a key, 403 for a key without the metrics scope (admin included)', async () => {
    const expectError = async (response: Response, status: number, code: string) => {
      expect(response.status).toBe(status);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
    };
    await expectError(await get('/metrics'), 401, 'unauthorized');
    await expectError(await get('/metrics', 'keel_sk_not_a_key'), 401, 'unauthorized');
    await expectError(await get('/metrics', await key(['admin', 'runs:read', 'operator'])), 403, 'forbidden');
    const other = await stack.apiKeys.create({ tenantId: 'tenant-b', scopes: ['metrics'] });
    expect((await get('/metrics', other.key)).status).toBe(200);
  });
});

describe('GET /metrics with KEEL_METRICS_PUBLIC', () => {
  it('answers without a key', async () => {
    const stack = await startStack({ metricsPublic: true });
    try {
      const response = await fetch(`${stack.url}/metrics`);
      expect(response.status).toBe(200);
      expect(parseExposition(await response.text()).value('keel_queue_depth')).toBe(0);
    } finally {
      await stack.close();
    }
  });
});
