/**
 * A request that can never fit a tokens-per-minute limit answers 400 `request_exceeds_limit`
 * naming the limit, never a 429 whose Retry-After a client would follow forever: over HTTP, with
 * the real SQL rate limiter and API keys on PGlite, and a fake upstream on the OpenAI wire.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../journal/migrations.js';
import { createPgliteClient } from '../../journal/pglite-client.js';
import type { SqlClient } from '../../journal/sql-client.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../../testing/fake-openai-server.js';
import { createApiKeys } from '../api-keys.js';
import { createGateway, type KeelGateway } from '../gateway.js';
import { createSqlRateLimiter } from '../sql-rate-limiter.js';
import { createGatewayHandler } from './gateway-handler.js';

let client: SqlClient;
let upstream: FakeOpenAIServer;
let gateway: KeelGateway;
let server: Server;
let baseUrl: string;
/** A key with tpm 200. */
let smallKey: string;
/** A key without limits. */
let freeKey: string;
/** A developer's key with tpm 60,000, as a team would give a coding agent. */
let devKey: string;

beforeAll(async () => {
  client = await createPgliteClient();
  await migrate(client);
  upstream = await createFakeOpenAIServer({
    handler: () => ({ content: 'Short.', usage: { promptTokens: 8, completionTokens: 2 } }),
  });
  const apiKeys = createApiKeys({ client });
  smallKey = (await apiKeys.create({ tenantId: 'acme', scopes: ['gateway'], tpm: 200 })).key;
  freeKey = (await apiKeys.create({ tenantId: 'acme', scopes: ['gateway'] })).key;
  devKey = (await apiKeys.create({ tenantId: 'acme', scopes: ['gateway'], tpm: 60_000 })).key;
  gateway = createGateway({
    config: {
      deployments: [
        { name: 'up', provider: 'openai', model: 'gpt-4o-mini', baseURL: upstream.url, apiKeyEnv: 'UP_KEY' },
        {
          name: 'tiny-a',
          provider: 'openai',
          model: 'gpt-4o-mini',
          baseURL: upstream.url,
          apiKeyEnv: 'UP_KEY',
          tpm: 300,
        },
        {
          name: 'tiny-b',
          provider: 'openai',
          model: 'gpt-4o-mini',
          baseURL: upstream.url,
          apiKeyEnv: 'UP_KEY',
          tpm: 400,
        },
      ],
      routes: [
        { name: 'fast', deployments: ['up'] },
        { name: 'tiny', deployments: ['tiny-a', 'tiny-b'] },
      ],
      retry: { attemptsPerDeployment: 1 },
    },
    limiter: createSqlRateLimiter({ client }),
    env: { UP_KEY: 'sk-upstream-0123456789' },
  });
  const handler = createGatewayHandler({ gateway, apiKeys });
  server = createServer((request, response) => {
    if (!handler(request, response)) {
      response.writeHead(404);
      response.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await gateway?.close();
  await upstream?.close();
  await client?.close();
});

async function post(path: string, body: unknown, headers: Record<string, string>) {
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, json: (await response.json()) as unknown };
}

const chat = (model: string, maxTokens: number, stream = false) => ({
  model,
  max_tokens: maxTokens,
  messages: [{ role: 'user', content: 'Summarize the plot of Hamlet.' }],
  ...(stream ? { stream: true } : {}),
});

/** The reserved figure the message names: "reserves N tokens". */
function requestedOf(message: string): number {
  const match = /reserves (\d+) tokens/.exec(message);
  if (match?.[1] === undefined) throw new Error(`no requested figure in: ${message}`);
  return Number(match[1]);
}

describe("a coding agent's calls", () => {
  it("are served under a 60,000 tpm key though each asks 64,000 max_tokens (Claude Code's)", async () => {
    const claude = new Anthropic({ apiKey: devKey, baseURL: baseUrl, maxRetries: 0 });
    for (let call = 0; call < 3; call++) {
      // Streamed, as Claude Code calls (the SDK refuses such a max_tokens without a stream).
      const answer = await claude.messages
        .stream({
          model: 'fast',
          max_tokens: 64_000,
          messages: [{ role: 'user', content: 'Read src/index.ts' }],
        })
        .finalMessage();
      expect(answer.content).toMatchObject([{ type: 'text', text: 'Short.' }]);
    }
  });
});

describe('a request larger than a whole tpm', () => {
  it("answers 400 request_exceeds_limit naming the key's tpm, without Retry-After, every time", async () => {
    const before = upstream.requests.length;
    for (let attempt = 0; attempt < 3; attempt++) {
      const refused = await post('/v1/chat/completions', chat('fast', 1_000), {
        authorization: `Bearer ${smallKey}`,
      });
      expect(refused.status).toBe(400);
      expect(refused.headers.get('retry-after')).toBeNull();
      expect(refused.headers.get('retry-after-ms')).toBeNull();
      const { error } = refused.json as { error: { code: string; type: string; message: string } };
      expect(error).toMatchObject({ code: 'request_exceeds_limit', type: 'invalid_request_error' });
      expect(error.message).toContain("the API key's limit of 200 tokens per minute (tpm)");
      expect(requestedOf(error.message)).toBeGreaterThan(1_000);
    }
    expect(upstream.requests.length).toBe(before);
    // The official client gets a BadRequestError (which it does not retry), not a RateLimitError.
    const thrown = await new OpenAI({
      apiKey: smallKey,
      baseURL: `${baseUrl}/v1`,
      maxRetries: 0,
    }).chat.completions
      .create({ model: 'fast', max_tokens: 1_000, messages: [{ role: 'user', content: 'Hi' }] })
      .catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(OpenAI.BadRequestError);
    expect(thrown).toMatchObject({ code: 'request_exceeds_limit' });
    // A request that fits the same key is served: the refusals reserved nothing.
    const served = await post('/v1/chat/completions', chat('fast', 20), {
      authorization: `Bearer ${smallKey}`,
    });
    expect(served.status).toBe(200);
  });

  it('answers 400 in the Anthropic format too', async () => {
    const refused = await post(
      '/v1/messages',
      { model: 'fast', max_tokens: 1_000, messages: [{ role: 'user', content: 'Hi' }] },
      { 'x-api-key': smallKey },
    );
    expect(refused.status).toBe(400);
    expect(refused.headers.get('retry-after')).toBeNull();
    expect(refused.json).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect((refused.json as { error: { message: string } }).error.message).toContain('200 tokens per minute');
    const thrown = await new Anthropic({ apiKey: smallKey, baseURL: baseUrl, maxRetries: 0 }).messages
      .create({ model: 'fast', max_tokens: 1_000, messages: [{ role: 'user', content: 'Hi' }] })
      .catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(Anthropic.BadRequestError);
  });

  it("answers 400 naming the largest deployment tpm when every deployment's tpm is smaller, streams too", async () => {
    const before = upstream.requests.length;
    for (const stream of [false, true]) {
      const refused = await post('/v1/chat/completions', chat('tiny', 1_000, stream), {
        authorization: `Bearer ${freeKey}`,
      });
      expect(refused.status).toBe(400);
      expect(refused.headers.get('retry-after')).toBeNull();
      const { error } = refused.json as { error: { code: string; message: string } };
      expect(error.code).toBe('request_exceeds_limit');
      expect(error.message).toContain('400 tokens per minute (tpm), the largest limit of the deployments');
      expect(error.message).toContain('deployment:tiny-b');
    }
    expect(upstream.requests.length).toBe(before);
    // One deployment large enough serves it; the smaller one is skipped.
    const served = await post('/v1/chat/completions', chat('tiny', 320), {
      authorization: `Bearer ${freeKey}`,
    });
    expect(served.status).toBe(200);
    expect(served.headers.get('x-keel-deployment')).toBe('tiny-b');
  });
});
