/**
 * Durable runs ride out provider outages (issue 8, attack 2), end to end as `keel serve` runs
 * them: one process serving the run API and the gateway's endpoints over the same gateway (its
 * breakers), a real worker executing `gateway:<route>` agents, and a fake OpenAI upstream that
 * answers by the request's content or by the clock.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { createAnalytics } from '../src/analytics/analytics-store.js';
import { openConfiguredGateway } from '../src/cli/agent-gateway.js';
import type { GatewayConfigInput } from '../src/gateway/gateway-config.js';
import { openStore } from '../src/journal/open-store.js';
import type { SqlClient } from '../src/journal/sql-client.js';
import type { JournalStore } from '../src/journal/store.js';
import { defineAgent, type Agent } from '../src/runtime/agent.js';
import { createWorker, type Worker } from '../src/runtime/worker.js';
import { createServer } from '../src/server/create-server.js';
import { createRunFeedback } from '../src/feedback/feedback.js';
import { createRunOutcomes } from '../src/feedback/outcomes.js';
import { acceptedRunResponse, runResponse, stepListResponse } from '../src/server/schemas.js';
import {
  createFakeOpenAIServer,
  type FakeOpenAIReply,
  type FakeOpenAIServer,
} from '../src/testing/fake-openai-server.js';
import { silentLogger } from '../src/util/logger.js';

interface Serving {
  url: string;
  store: JournalStore;
  worker: Worker;
  gateway: ReturnType<typeof openConfiguredGateway>;
  keyOf(tenantId: string, scopes: ('admin' | 'gateway')[]): Promise<string>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve({
  upstream,
  gatewayConfig,
  agents,
}: {
  upstream: FakeOpenAIServer;
  gatewayConfig: Omit<GatewayConfigInput, 'deployments'>;
  agents: Agent[];
}): Promise<Serving> {
  const { store, client } = await openStore({ dataDir: 'memory://' });
  cleanups.push(() => store.close());
  const gateway = openConfiguredGateway({
    config: {
      deployments: [
        {
          name: 'upstream',
          provider: 'openai',
          model: 'gpt-4o-mini',
          baseURL: upstream.url,
          apiKeyEnv: 'UPSTREAM_KEY',
        },
      ],
      ...gatewayConfig,
    },
    client: client as SqlClient,
    env: { UPSTREAM_KEY: 'sk-upstream' },
    logger: silentLogger,
  });
  cleanups.push(() => gateway.close());
  const service = gateway.service!;
  const server: Server = createServer({
    store,
    client,
    agents: new Map(agents.map((agent) => [agent.name, agent])),
    logger: silentLogger,
    apiKeys: service.apiKeys,
    outcomes: createRunOutcomes({ client }),
    feedback: createRunFeedback({ client }),
    analytics: createAnalytics({ client }),
    gatewayHandler: service.handler,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const worker = createWorker({ store, agents, logger: silentLogger });
  worker.start();
  cleanups.push(() => worker.stop());
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    store,
    worker,
    gateway,
    keyOf: async (tenantId, scopes) => (await service.apiKeys.create({ tenantId, scopes })).key,
  };
}

async function call(url: string, key: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, {
    ...init,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  });
}

async function submitRun(app: Serving, key: string, agent: string, input: string): Promise<string> {
  const response = await call(`${app.url}/v1/runs`, key, {
    method: 'POST',
    body: JSON.stringify({ agent, input }),
  });
  expect(response.status).toBe(202);
  return acceptedRunResponse.parse(await response.json()).id;
}

async function readRun(app: Serving, key: string, runId: string) {
  const response = await call(`${app.url}/v1/runs/${runId}`, key);
  expect(response.status).toBe(200);
  return runResponse.parse(await response.json());
}

async function readSteps(app: Serving, key: string, runId: string) {
  const response = await call(`${app.url}/v1/runs/${runId}/steps`, key);
  expect(response.status).toBe(200);
  return stepListResponse.parse(await response.json()).data;
}

/** Polls until `condition` returns a value (not undefined), or fails after `timeoutMs`. */
async function until<T>(condition: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const lastUserText = (body: unknown): string => {
  const messages = (body as { messages?: { role: string; content: unknown }[] }).messages ?? [];
  const last = messages.filter((message) => message.role === 'user').at(-1);
  return typeof last?.content === 'string' ? last.content : '';
};

it("a breaker opened by another tenant's failing requests: the durable run waits, holding no worker, and completes after the cooldown", async () => {
  // The upstream fails (500) on tenant B's poisoned content, and answers everything else.
  const upstream = await createFakeOpenAIServer({
    handler: (request): FakeOpenAIReply =>
      lastUserText(request.body).includes('poison')
        ? { kind: 'error', status: 500, message: 'internal error' }
        : { content: 'Answer for A.', usage: { promptTokens: 20, completionTokens: 4 } },
  });
  cleanups.push(() => upstream.close());
  const assistant = defineAgent({
    name: 'assistant',
    instructions: 'Answer.',
    model: 'gateway:shared',
    limits: { maxInPlaceWaitMs: 500 },
  });
  const app = await serve({
    upstream,
    gatewayConfig: {
      routes: [{ name: 'shared', deployments: ['upstream'] }],
      retry: { attemptsPerDeployment: 1 },
      breaker: { failureThreshold: 3, cooldownMs: 5_000 },
    },
    agents: [assistant],
  });
  const tenantA = await app.keyOf('tenant-a', ['admin']);
  const tenantB = await app.keyOf('tenant-b', ['gateway']);

  // Three HTTP requests of tenant B whose content makes the upstream answer 500 open the breaker.
  for (let request = 0; request < 3; request++) {
    const response = await call(`${app.url}/v1/chat/completions`, tenantB, {
      method: 'POST',
      body: JSON.stringify({ model: 'shared', messages: [{ role: 'user', content: 'poison pill' }] }),
    });
    expect(response.status).toBeGreaterThanOrEqual(500);
  }
  expect(app.gateway.service!.gateway.breakers()[0]).toMatchObject({ state: 'open' });

  // Tenant A's durable run meets the open breaker: it waits, visible in the run view.
  const runId = await submitRun(app, tenantA, 'assistant', 'Hello?');
  const waiting = await until(async () => {
    const run = await readRun(app, tenantA, runId);
    return run.status === 'waiting' ? run : undefined;
  }, 10_000);
  expect(waiting.waiting).toMatchObject({ reason: 'gateway_unavailable', seq: 0, attempts: 1 });
  expect(waiting.waiting?.message).toMatch(/breaker-open/);
  expect(Date.parse(waiting.waiting!.until)).toBeGreaterThan(Date.parse(waiting.created_at));
  // No worker holds it while it waits.
  expect(app.worker.activeRunIds()).not.toContain(runId);
  expect((await app.store.getRun(runId))?.leaseOwner).toBeNull();

  // After the cooldown, the half-open breaker's probe is A's call: the run completes.
  const done = await until(async () => {
    const run = await readRun(app, tenantA, runId);
    return run.ended_at === null ? undefined : run;
  }, 20_000);
  expect(done).toMatchObject({ status: 'completed', stop_reason: 'completed', output: 'Answer for A.' });
  expect(done.waiting).toBeNull();
  expect(app.gateway.service!.gateway.breakers()[0]).toMatchObject({ state: 'closed' });
  // A's call reached the upstream once, after the cooldown: never while the breaker was open.
  expect(upstream.requests.filter((request) => !lastUserText(request.body).includes('poison'))).toHaveLength(
    1,
  );
  const [step] = await readSteps(app, tenantA, runId);
  expect(step).toMatchObject({ kind: 'model', status: 'completed', attempt: 2 });
  expect(step?.meta).toMatchObject({
    attempts: 2,
    retries: [{ attempt: 1, code: 'gateway_unavailable', released: true }],
  });
}, 40_000);

it('a 30 s 429 storm: the run waits it out and completes; a run whose deadline is shorter ends with deadline, the 429 as its cause', async () => {
  const stormEndsAt = Date.now() + 30_000;
  const upstream = await createFakeOpenAIServer({
    handler: (): FakeOpenAIReply =>
      Date.now() < stormEndsAt
        ? { kind: 'error', status: 429, message: 'Rate limit reached', retryAfter: 5 }
        : { content: 'The storm is over.', usage: { promptTokens: 20, completionTokens: 5 } },
  });
  cleanups.push(() => upstream.close());
  const patient = defineAgent({ name: 'patient', instructions: 'Answer.', model: 'gateway:shared' });
  const hurried = defineAgent({
    name: 'hurried',
    instructions: 'Answer.',
    model: 'gateway:shared',
    limits: { deadlineMs: 12_000 },
  });
  const app = await serve({
    upstream,
    gatewayConfig: {
      routes: [{ name: 'shared', deployments: ['upstream'] }],
      retry: { attemptsPerDeployment: 1 },
      breaker: { failureThreshold: 2, cooldownMs: 60_000 },
    },
    agents: [patient, hurried],
  });
  const key = await app.keyOf('tenant-a', ['admin']);
  const patientId = await submitRun(app, key, 'patient', 'Hello?');
  const hurriedId = await submitRun(app, key, 'hurried', 'Quick?');

  const waiting = await until(async () => {
    const run = await readRun(app, key, patientId);
    return run.status === 'waiting' ? run : undefined;
  }, 10_000);
  expect(waiting.waiting).toMatchObject({ reason: 'provider_http_429', seq: 0 });

  const hurriedEnd = await until(async () => {
    const run = await readRun(app, key, hurriedId);
    return run.ended_at === null ? undefined : run;
  }, 30_000);
  expect(hurriedEnd).toMatchObject({
    status: 'failed',
    stop_reason: 'deadline',
    error: {
      code: 'deadline_exceeded',
      details: { deadlineMs: 12_000, cause: { code: 'provider_http_429', details: { retryAfterMs: 5_000 } } },
    },
  });

  const patientEnd = await until(async () => {
    const run = await readRun(app, key, patientId);
    return run.ended_at === null ? undefined : run;
  }, 45_000);
  expect(patientEnd).toMatchObject({ status: 'completed', output: 'The storm is over.' });
  const [step] = await readSteps(app, key, patientId);
  const retries = step?.meta?.retries as { code: string; waitMs: number; released: boolean }[];
  expect(step?.attempt).toBe(retries.length + 1);
  expect(retries.length).toBeGreaterThanOrEqual(5);
  for (const retry of retries) {
    // Each wait honoured the upstream's Retry-After, and released the run rather than a worker.
    expect(retry).toMatchObject({ code: 'provider_http_429', released: true });
    expect(retry.waitMs).toBeGreaterThanOrEqual(5_000);
  }
  // 429s are a quota signal, not a fault: the breaker never opened.
  expect(app.gateway.service!.gateway.breakers()[0]).toMatchObject({
    state: 'closed',
    consecutiveFailures: 0,
  });
}, 70_000);
