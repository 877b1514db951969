import { afterEach, describe, expect, it } from 'vitest';
import { costOf } from '../model/prices.js';
import { resolveModel } from '../model/resolve-model.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../testing/fake-openai-server.js';
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
    // The agent loop prices with the model's provider and id: the first deployment's (documented limitation).
    expect(
      costOf({ provider: model.provider, modelId: model.modelId, usage: response.usage }),
    ).toBeGreaterThan(0);
    // A cached answer cost nothing.
    expect((await model.generate(request)).usage).toEqual({
      inputTokens: 0,
      outputTokens: 0,
      source: 'reported',
    });
  });

  it('streams through the gateway', async () => {
    const model = createGatewayModel({ gateway: await setup(), route: 'strong' });
    const types: string[] = [];
    for await (const event of model.stream(request)) types.push(event.type);
    expect(types.at(-1)).toBe('finish');
    expect(types).toContain('text-delta');
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
});
