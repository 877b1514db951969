import { afterEach, describe, expect, it } from 'vitest';
import { costOf } from '../model/prices.js';
import { resolveModel } from '../model/resolve-model.js';
import { defineAgent } from '../runtime/agent.js';
import { runAgent } from '../runtime/run-agent.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../testing/fake-openai-server.js';
import { createMemoryStore } from '../testing/memory-store.js';
import { silentLogger } from '../util/logger.js';
import type { CallRecord } from './gateway-store.js';
import { createGatewayModel, registerGatewayModels } from './gateway-model.js';
import { createGateway, type KeelGateway } from './gateway.js';

let servers: FakeOpenAIServer[] = [];
let gateway: KeelGateway | undefined;
afterEach(async () => {
  await gateway?.close();
  await Promise.all(servers.map((server) => server.close()));
  servers = [];
});

async function setup() {
  servers = [
    await createFakeOpenAIServer({ handler: () => ({ kind: 'error', status: 500 }) }),
    await createFakeOpenAIServer({
      handler: () => ({
        content: 'Through the gateway.',
        usage: { promptTokens: 1_000, completionTokens: 10 },
      }),
    }),
  ];
  gateway = createGateway({
    config: {
      deployments: [
        {
          name: 'primary',
          provider: 'openai',
          model: 'gpt-4o-mini',
          baseURL: servers[0]?.url,
          apiKeyEnv: 'KEY',
        },
        { name: 'backup', provider: 'openai', model: 'gpt-4o', baseURL: servers[1]?.url, apiKeyEnv: 'KEY' },
      ],
      routes: [
        { name: 'fast', deployments: ['primary'], fallbacks: ['strong'], cache: true },
        { name: 'strong', deployments: ['backup'] },
      ],
      retry: { attemptsPerDeployment: 1 },
    },
    env: { KEY: 'sk-test-model-0123456789' },
  });
  return gateway;
}

const request = { messages: [{ role: 'user' as const, content: 'Hi' }] };

describe('gateway model', () => {
  it("is a LanguageModel of the route, priced as the route's first deployment", async () => {
    const model = createGatewayModel({ gateway: await setup(), route: 'fast' });
    expect(model).toMatchObject({
      provider: 'openai',
      modelId: 'gpt-4o-mini',
      route: 'fast',
      retriesOwned: true,
    });
    const response = await model.generate(request);
    expect(response.message.content).toBe('Through the gateway.');
    // The answer names the deployment that gave it: the fallback's, the primary being down.
    expect(response.gateway).toEqual({ route: 'fast', deployment: 'backup', cached: false });
    // The agent loop prices with the model's provider and id: the first deployment's (documented limitation).
    expect(
      costOf({ provider: model.provider, modelId: model.modelId, usage: response.usage }),
    ).toBeGreaterThan(0);
    // A cached answer cost nothing.
    const cached = await model.generate(request);
    expect(cached.usage).toEqual({
      inputTokens: 0,
      outputTokens: 0,
      source: 'reported',
    });
    expect(cached.gateway).toEqual({ route: 'fast', deployment: null, cached: true });
  });

  it('streams through the gateway, the finish naming the deployment', async () => {
    const model = createGatewayModel({ gateway: await setup(), route: 'strong' });
    const types: string[] = [];
    let deployment: string | null | undefined;
    for await (const event of model.stream(request)) {
      types.push(event.type);
      if (event.type === 'finish') deployment = event.response.gateway?.deployment;
    }
    expect(types.at(-1)).toBe('finish');
    expect(types).toContain('text-delta');
    expect(deployment).toBe('backup');
  });

  it('refuses an unknown route', async () => {
    const known = await setup();
    expect(() => createGatewayModel({ gateway: known, route: 'nope' })).toThrow(/no model "nope"/);
  });

  it('registers the gateway: prefix with resolveModel, and unregisters it', async () => {
    const unregister = registerGatewayModels(await setup());
    try {
      const model = resolveModel('gateway:strong');
      expect(model).toMatchObject({ provider: 'openai', modelId: 'gpt-4o' });
      expect((await model.generate(request)).message.content).toBe('Through the gateway.');
      expect(() => resolveModel('gateway:unknown')).toThrow(/Known models: fast, strong/);
    } finally {
      unregister();
    }
    expect(() => resolveModel('gateway:strong')).toThrow(/unknown provider "gateway"/);
  });

  it("scopes an agent run's cached answers to the run's tenant and records the run and step", async () => {
    const upstream = await createFakeOpenAIServer({ handler: () => ({ content: 'The same answer.' }) });
    servers.push(upstream);
    const records: CallRecord[] = [];
    gateway = createGateway({
      config: {
        deployments: [
          { name: 'up', provider: 'openai', model: 'gpt-4o-mini', baseURL: upstream.url, apiKeyEnv: 'KEY' },
        ],
        routes: [{ name: 'cached', deployments: ['up'], cache: true }],
      },
      env: { KEY: 'sk-test-model-0123456789' },
      recorder: { record: (call) => void records.push(call), flush: async () => {}, close: async () => {} },
    });
    const agent = defineAgent({
      name: 'asker',
      instructions: 'Answer.',
      model: createGatewayModel({ gateway, route: 'cached' }),
    });
    const store = await createMemoryStore();
    try {
      const run = (tenantId: string, streamText = false) =>
        runAgent({
          store,
          agents: [agent],
          agent: 'asker',
          input: 'The same question',
          tenantId,
          logger: silentLogger,
          ...(streamText ? { onEvent: () => {}, streamText: true } : {}),
        });
      const first = await run('tenant-a');
      expect(first.output).toBe('The same answer.');
      expect(upstream.requests).toHaveLength(1);
      // Tenant B asks the identical question: its run goes upstream, never to A's entry.
      await run('tenant-b');
      expect(upstream.requests).toHaveLength(2);
      // A's and B's repeats are answered from their own entries, plain and streamed.
      await run('tenant-a');
      await run('tenant-b', true);
      expect(upstream.requests).toHaveLength(2);
      await run('tenant-c', true);
      expect(upstream.requests).toHaveLength(3);
      expect(
        records.map((record) => [record.tenantId, record.cached, record.endpoint, record.stepSeq]),
      ).toEqual([
        ['tenant-a', false, 'agent', 0],
        ['tenant-b', false, 'agent', 0],
        ['tenant-a', true, 'agent', 0],
        ['tenant-b', true, 'agent', 0],
        ['tenant-c', false, 'agent', 0],
      ]);
      expect(records[0]?.runId).toBe(first.id);
    } finally {
      await store.close();
    }
  });
});
