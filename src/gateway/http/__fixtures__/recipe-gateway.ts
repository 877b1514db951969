/**
 * A whole gateway for the client-recipe tests (docs/gateway.md): a listening server over PGlite,
 * an OpenAI-wire fake behind routes `fast` and `gpt-*` and an Anthropic-wire fake behind route
 * `claude`, and a
 * Keel API key with the gateway scope. Only the tests use it.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openStore } from '../../../journal/open-store.js';
import { createAnthropicModel } from '../../../model/providers/anthropic/adapter.js';
import { createFakeAnthropicServer, type FakeAnthropicServer } from '../../../testing/fake-anthropic-server.js';
import {
  createFakeOpenAIServer,
  type FakeOpenAIReply,
  type FakeOpenAIRequest,
  type FakeOpenAIServer,
} from '../../../testing/fake-openai-server.js';
import { createApiKeys } from '../../api-keys.js';
import type { GatewayConfigInput } from '../../gateway-config.js';
import { createGateway } from '../../gateway.js';
import { createSqlCallRecorder } from '../../sql-call-recorder.js';
import { createSqlRateLimiter } from '../../sql-rate-limiter.js';
import { createSqlResponseCache } from '../../sql-response-cache.js';
import { createGatewayHandler } from '../gateway-handler.js';

export interface RecipeGateway {
  /** The gateway's origin, e.g. `http://127.0.0.1:4321` (OpenAI clients take `${url}/v1`). */
  url: string;
  /** A Keel API key with the `gateway` scope. */
  key: string;
  upstream: FakeOpenAIServer;
  claudeUpstream: FakeAnthropicServer;
  /** The endpoints of the calls recorded so far, oldest first. */
  recordedEndpoints(): Promise<string[]>;
  /** The calls recorded so far, oldest first: endpoint, and the user and session attributed. */
  recordedCalls(): Promise<RecordedCall[]>;
  close(): Promise<void>;
}

/** A recorded call, as `gateway_calls` holds it. */
export interface RecordedCall {
  endpoint: string;
  userId: string | null;
  sessionId: string | null;
}

export interface RecipeGatewayOptions {
  /** Answers the OpenAI-wire upstream's unscripted requests; default: a fixed greeting. */
  openAIHandler?: (request: FakeOpenAIRequest) => FakeOpenAIReply;
}

export async function startRecipeGateway(options: RecipeGatewayOptions = {}): Promise<RecipeGateway> {
  const upstream = await createFakeOpenAIServer({
    handler: options.openAIHandler ?? (() => ({ content: 'Hello from upstream' })),
  });
  const claudeUpstream = await createFakeAnthropicServer({ handler: () => ({ text: 'Hello from Claude' }) });
  const { store, client } = await openStore({ dataDir: 'memory://' });
  const apiKeys = createApiKeys({ client });
  const recorder = createSqlCallRecorder({ client });
  const config = {
    deployments: [
      {
        name: 'fake-openai',
        provider: 'openai',
        model: 'gpt-4o-mini',
        apiKeyEnv: 'FAKE_OPENAI_KEY',
        baseURL: upstream.url,
      },
      {
        name: 'fake-claude',
        provider: 'anthropic',
        model: 'claude-sonnet-4-5',
        languageModel: createAnthropicModel({
          model: 'claude-sonnet-4-5',
          apiKey: 'sk-ant-upstream-secret',
          baseURL: claudeUpstream.url,
        }),
      },
    ],
    routes: [
      { name: 'fast', deployments: ['fake-openai'] },
      // The Codex CLI's own model names (its default mode runs its default model).
      { name: 'gpt-*', deployments: ['fake-openai'] },
      { name: 'claude', deployments: ['fake-claude'] },
    ],
    retry: { attemptsPerDeployment: 1 },
  };
  const gateway = createGateway({
    config: config as GatewayConfigInput,
    limiter: createSqlRateLimiter({ client }),
    cache: createSqlResponseCache({ client }),
    recorder,
    env: { FAKE_OPENAI_KEY: 'sk-upstream-secret' },
  });
  const handler = createGatewayHandler({ gateway, apiKeys });
  const server = createServer((request, response) => {
    if (!handler(request, response)) {
      response.writeHead(404);
      response.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { key } = await apiKeys.create({ tenantId: 'acme', scopes: ['gateway'] });
  async function recordedCalls(): Promise<RecordedCall[]> {
    await recorder.flush();
    const { rows } = await client.query<{ endpoint: string; user_id: string | null; session_id: string | null }>(
      'SELECT endpoint, user_id, session_id FROM keel.gateway_calls ORDER BY started_at',
    );
    return rows.map((row) => ({ endpoint: row.endpoint, userId: row.user_id, sessionId: row.session_id }));
  }
  return {
    url,
    key,
    upstream,
    claudeUpstream,
    async recordedEndpoints() {
      return (await recordedCalls()).map((call) => call.endpoint);
    },
    recordedCalls,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await gateway.close();
      await recorder.close();
      await store.close();
      await upstream.close();
      await claudeUpstream.close();
    },
  };
}
