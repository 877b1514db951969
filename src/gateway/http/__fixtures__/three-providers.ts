/**
 * A gateway in front of the three provider fakes (OpenAI, Anthropic, Gemini), over HTTP, for the
 * pass-through tests of every endpoint: routes `gpt`, `claude`, `gemini`, and `gemini-then-claude`
 * (Gemini first, falling back to Claude: what Gemini cannot honour goes to Claude). The OpenAI fake
 * also serves `gpt-responses`, through OpenAI's Responses API, and `claude-then-responses` falls
 * back to it.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openStore } from '../../../journal/open-store.js';
import { createAnthropicModel } from '../../../model/providers/anthropic/adapter.js';
import { createGeminiModel } from '../../../model/providers/gemini/adapter.js';
import { createOpenAICompatibleModel } from '../../../model/providers/openai/adapter.js';
import { createOpenAIResponsesModel } from '../../../model/providers/openai/responses-adapter.js';
import { createFakeAnthropicServer, type FakeAnthropicServer } from '../../../testing/fake-anthropic-server.js';
import { createFakeGeminiServer, type FakeGeminiServer } from '../../../testing/fake-gemini-server.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../../../testing/fake-openai-server.js';
import { createApiKeys } from '../../api-keys.js';
import type { GatewayConfigInput } from '../../gateway-config.js';
import { createGateway, type KeelGateway } from '../../gateway.js';
import { createGatewayHandler } from '../gateway-handler.js';

export interface ThreeProviderGateway {
  openaiUpstream: FakeOpenAIServer;
  claudeUpstream: FakeAnthropicServer;
  geminiUpstream: FakeGeminiServer;
  gateway: KeelGateway;
  /** The gateway's config, to build another gateway over the same fakes. */
  config: GatewayConfigInput;
  baseUrl: string;
  /** A key of tenant `acme` with the `gateway` scope. */
  key: string;
  /** Forgets what the fakes recorded. */
  clearRequests(): void;
  close(): Promise<void>;
}

export async function startThreeProviderGateway(): Promise<ThreeProviderGateway> {
  const openaiUpstream = await createFakeOpenAIServer({ handler: () => ({ content: 'from OpenAI' }) });
  const claudeUpstream = await createFakeAnthropicServer({ handler: () => ({ text: 'from Claude' }) });
  const geminiUpstream = await createFakeGeminiServer({ handler: () => ({ text: 'from Gemini' }) });
  const { store, client } = await openStore({ dataDir: 'memory://' });
  const apiKeys = createApiKeys({ client });
  const config = {
    deployments: [
      {
        name: 'up-openai',
        provider: 'openai',
        model: 'gpt-5-mini',
        languageModel: createOpenAICompatibleModel({
          model: 'gpt-5-mini',
          apiKey: 'sk-up',
          baseURL: openaiUpstream.url,
          env: {},
        }),
      },
      {
        name: 'up-openai-responses',
        provider: 'openai',
        model: 'gpt-5-mini',
        languageModel: createOpenAIResponsesModel({
          model: 'gpt-5-mini',
          apiKey: 'sk-up',
          baseURL: openaiUpstream.url,
          env: {},
        }),
      },
      {
        name: 'up-claude',
        provider: 'anthropic',
        model: 'claude-sonnet-4-5',
        languageModel: createAnthropicModel({
          model: 'claude-sonnet-4-5',
          apiKey: 'sk-ant-up',
          baseURL: claudeUpstream.url,
          env: {},
        }),
      },
      {
        name: 'up-gemini',
        provider: 'gemini',
        model: 'gemini-2.5-flash',
        languageModel: createGeminiModel({
          model: 'gemini-2.5-flash',
          apiKey: 'AIzaTestKey1234567890abcdef',
          baseURL: geminiUpstream.url,
          env: {},
        }),
      },
    ],
    routes: [
      { name: 'gpt', deployments: ['up-openai'] },
      { name: 'claude', deployments: ['up-claude'] },
      { name: 'gemini', deployments: ['up-gemini'] },
      { name: 'gemini-then-claude', deployments: ['up-gemini'], fallbacks: ['claude'] },
      { name: 'gpt-responses', deployments: ['up-openai-responses'] },
      { name: 'claude-then-responses', deployments: ['up-claude'], fallbacks: ['gpt-responses'] },
    ],
    retry: { attemptsPerDeployment: 1 },
  } as unknown as GatewayConfigInput;
  const gateway = createGateway({ config });
  const handler = createGatewayHandler({ gateway, apiKeys });
  const server = createServer((request, response) => {
    if (!handler(request, response)) {
      response.writeHead(404);
      response.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const key = (await apiKeys.create({ tenantId: 'acme', scopes: ['gateway'] })).key;
  return {
    openaiUpstream,
    claudeUpstream,
    geminiUpstream,
    gateway,
    config,
    baseUrl,
    key,
    clearRequests() {
      openaiUpstream.requests.length = 0;
      claudeUpstream.requests.length = 0;
      geminiUpstream.requests.length = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await gateway.close();
      await store.close();
      await openaiUpstream.close();
      await claudeUpstream.close();
      await geminiUpstream.close();
    },
  };
}
