/**
 * The gateway's HTTP endpoints end to end: a real listening server, the real gateway over PGlite
 * (rate limits, cache, call records, API keys), real upstream fakes speaking OpenAI's wire, and
 * the official `openai` and `@anthropic-ai/sdk` clients pointed at Keel.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import fc from 'fast-check';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../journal/open-store.js';
import type { SqlClient } from '../../journal/sql-client.js';
import type { JournalStore } from '../../journal/store.js';
import { createAnthropicModel } from '../../model/providers/anthropic/adapter.js';
import { estimateRequestTokens, estimateTextTokens } from '../../model/token-estimate.js';
import { createFakeAnthropicServer, type FakeAnthropicServer } from '../../testing/fake-anthropic-server.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../../testing/fake-openai-server.js';
import { createApiKeys, type ApiKeys, type ApiKeyScope } from '../api-keys.js';
import type { GatewayConfigInput } from '../gateway-config.js';
import { createGateway, type KeelGateway } from '../gateway.js';
import type { CallRecorder } from '../gateway-store.js';
import type { Gateway } from '../gateway-types.js';
import { createSqlCallRecorder } from '../sql-call-recorder.js';
import { createSqlRateLimiter } from '../sql-rate-limiter.js';
import { createSqlResponseCache } from '../sql-response-cache.js';
import { createGatewayHandler } from './gateway-handler.js';

let upstream: FakeOpenAIServer;
let claudeUpstream: FakeAnthropicServer;
let embeddingsUpstream: Server;
let store: JournalStore;
let client: SqlClient;
let apiKeys: ApiKeys;
let recorder: CallRecorder;
let gateway: KeelGateway;
let server: Server;
let baseUrl: string;
let key: string;

const MAX_BODY_BYTES = 64 * 1024;

async function listen(target: Server): Promise<string> {
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
}

async function newKey(
  options: { scopes?: ApiKeyScope[]; rpm?: number; tenantId?: string } = {},
): Promise<string> {
  const created = await apiKeys.create({
    tenantId: options.tenantId ?? 'acme',
    scopes: options.scopes ?? ['gateway'],
    ...(options.rpm === undefined ? {} : { rpm: options.rpm }),
  });
  return created.key;
}

function openai(apiKey = key): OpenAI {
  return new OpenAI({ apiKey, baseURL: `${baseUrl}/v1`, maxRetries: 0 });
}

function anthropic(options: { apiKey?: string; headerKey?: string } = {}): Anthropic {
  return options.headerKey === undefined
    ? new Anthropic({ apiKey: options.apiKey ?? key, baseURL: baseUrl, maxRetries: 0 })
    : new Anthropic({
        apiKey: null,
        authToken: null,
        baseURL: baseUrl,
        maxRetries: 0,
        defaultHeaders: { 'x-api-key': options.headerKey },
      });
}

async function post(
  path: string,
  body: string,
  headers: Record<string, string> = { authorization: `Bearer ${key}` },
): Promise<{ status: number; headers: Headers; text: string; json: unknown }> {
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

beforeAll(async () => {
  upstream = await createFakeOpenAIServer({ handler: () => ({ content: 'Hello from upstream' }) });
  // The fake OpenAI server speaks chat completions only: a minimal embeddings endpoint beside it.
  embeddingsUpstream = createServer((request, response) => {
    const parts: Buffer[] = [];
    request.on('data', (part: Buffer) => parts.push(part));
    request.on('end', () => {
      if (request.url !== '/v1/embeddings') {
        response.writeHead(404, { 'content-type': 'application/json' });
        response.end('{"error":{"message":"not found","type":"invalid_request_error"}}');
        return;
      }
      const { input } = JSON.parse(Buffer.concat(parts).toString('utf8')) as { input: string[] };
      const vectors = [
        [0.5, -0.25, 1],
        [0, 0.125, -1],
      ];
      const body = JSON.stringify({
        object: 'list',
        data: input.map((_text, index) => ({ object: 'embedding', index, embedding: vectors[index % 2] })),
        model: 'text-embedding-3-small',
        usage: { prompt_tokens: 4, total_tokens: 4 },
      });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(body);
    });
  });
  const embeddingsUrl = await listen(embeddingsUpstream);

  claudeUpstream = await createFakeAnthropicServer({ handler: () => ({ text: 'Hello from Claude' }) });

  ({ store, client } = await openStore({ dataDir: 'memory://' }));
  apiKeys = createApiKeys({ client });
  recorder = createSqlCallRecorder({ client });
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
        name: 'fake-embeddings',
        provider: 'openai-compatible',
        model: 'text-embedding-3-small',
        baseURL: `${embeddingsUrl}/v1`,
      },
      {
        name: 'fake-claude',
        provider: 'anthropic',
        model: 'claude-sonnet-4-5',
        // A ready model: provider adapters are registered by name elsewhere.
        languageModel: createAnthropicModel({
          model: 'claude-sonnet-4-5',
          apiKey: 'sk-ant-upstream-secret',
          baseURL: claudeUpstream.url,
        }),
      },
    ],
    routes: [
      // Callers may opt in to the cache (x-keel-cache: true); gateway-cache-scope.test.ts has the rest.
      { name: 'fast', deployments: ['fake-openai'], cache: { enabled: false, callerOptIn: true } },
      { name: 'embed', deployments: ['fake-embeddings'] },
      { name: 'claude', deployments: ['fake-claude'] },
    ],
    retry: { attemptsPerDeployment: 1 },
  };
  gateway = createGateway({
    config: config as GatewayConfigInput,
    limiter: createSqlRateLimiter({ client }),
    cache: createSqlResponseCache({ client }),
    recorder,
    env: { FAKE_OPENAI_KEY: 'sk-upstream-secret' },
  });
  const handler = createGatewayHandler({ gateway, apiKeys, maxBodyBytes: MAX_BODY_BYTES });
  server = createServer((request, response) => {
    if (!handler(request, response)) {
      response.writeHead(404);
      response.end();
    }
  });
  baseUrl = await listen(server);
  key = await newKey();
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await gateway?.close();
  await recorder?.close();
  await store?.close();
  await upstream?.close();
  await claudeUpstream?.close();
  embeddingsUpstream?.closeAllConnections();
  await new Promise((resolve) => embeddingsUpstream?.close(resolve));
});

describe('OpenAI chat completions', () => {
  it('caches exact repeats when the request asks with x-keel-cache: true (route with callerOptIn)', async () => {
    const before = upstream.requests.length;
    const body = { model: 'fast', messages: [{ role: 'user' as const, content: `cache me ${Date.now()}` }] };
    const first = await openai()
      .chat.completions.create(body, { headers: { 'x-keel-cache': 'true' } })
      .withResponse();
    const second = await openai()
      .chat.completions.create(body, { headers: { 'x-keel-cache': 'true' } })
      .withResponse();
    expect(first.response.headers.get('x-keel-cache')).toBe('miss');
    expect(second.response.headers.get('x-keel-cache')).toBe('hit');
    expect(second.response.headers.get('x-keel-attempts')).toBe('0');
    expect(second.data.choices[0]?.message.content).toBe(first.data.choices[0]?.message.content);
    expect(upstream.requests.length - before).toBe(1);
  });

  it('answers through the official client, with x-keel headers and the route as model', async () => {
    const { data, response } = await openai()
      .chat.completions.create({
        model: 'fast',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hi' },
        ],
        max_completion_tokens: 50,
        temperature: 0.3,
      })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.id).toMatch(/^chatcmpl-/);
    expect(data.model).toBe('fast');
    expect(data.choices[0]?.message.content).toBe('Hello from upstream');
    expect(data.choices[0]?.finish_reason).toBe('stop');
    expect(data.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(data.usage?.prompt_tokens_details?.cached_tokens).toBe(0);
    expect(response.headers.get('x-keel-deployment')).toBe('fake-openai');
    expect(response.headers.get('x-keel-attempts')).toBe('1');
    expect(Number(response.headers.get('x-keel-overhead-ms'))).toBeGreaterThanOrEqual(0);
    expect(Number(response.headers.get('x-keel-cost-usd'))).toBeGreaterThan(0);
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);

    const sent = upstream.requests.at(-1);
    expect(sent?.headers.authorization).toBe('Bearer sk-upstream-secret');
    expect(sent?.body).toMatchObject({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
      temperature: 0.3,
    });
  });

  it('streams tool calls that the client accumulates, with usage and headers at first byte', async () => {
    upstream.enqueue({
      content: 'Checking both.',
      toolCalls: [
        { id: 'call_paris', name: 'weather', arguments: { city: 'Paris' } },
        { id: 'call_rome', name: 'weather', arguments: { city: 'Rome' } },
      ],
      interleaveToolCalls: true,
      usage: { promptTokens: 30, completionTokens: 12 },
    });
    const { data: stream, response } = await openai()
      .chat.completions.create({
        model: 'fast',
        messages: [{ role: 'user', content: 'Weather in Paris and Rome?' }],
        tools: [
          {
            type: 'function',
            function: {
              name: 'weather',
              parameters: { type: 'object', properties: { city: { type: 'string' } } },
            },
          },
        ],
        stream: true,
        stream_options: { include_usage: true },
      })
      .withResponse();
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    expect(response.headers.get('x-keel-deployment')).toBe('fake-openai');
    expect(response.headers.get('x-keel-attempts')).toBe('1');
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);

    let content = '';
    const calls: { id?: string; name?: string; arguments: string }[] = [];
    let finishReason: string | null | undefined;
    let usage: OpenAI.CompletionUsage | null | undefined;
    let first = true;
    for await (const chunk of stream) {
      if (first) expect(chunk.choices[0]?.delta.role).toBe('assistant');
      first = false;
      expect(chunk.model).toBe('fast');
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      content += choice.delta.content ?? '';
      for (const call of choice.delta.tool_calls ?? []) {
        const entry = (calls[call.index] ??= { arguments: '' });
        if (call.id) entry.id = call.id;
        if (call.function?.name) entry.name = call.function.name;
        entry.arguments += call.function?.arguments ?? '';
      }
      finishReason = choice.finish_reason ?? finishReason;
    }
    expect(content).toBe('Checking both.');
    expect(calls).toEqual([
      { id: 'call_paris', name: 'weather', arguments: '{"city":"Paris"}' },
      { id: 'call_rome', name: 'weather', arguments: '{"city":"Rome"}' },
    ]);
    expect(finishReason).toBe('tool_calls');
    expect(usage).toMatchObject({ prompt_tokens: 30, completion_tokens: 12, total_tokens: 42 });
  });

  it('works with the client stream helper and a tool conversation', async () => {
    upstream.enqueue({ content: 'It is 21°C in Paris.' });
    const runner = openai().chat.completions.stream({
      model: 'fast',
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
      ],
    });
    const completion = await runner.finalChatCompletion();
    expect(completion.choices[0]?.message.content).toBe('It is 21°C in Paris.');
    expect(upstream.requests.at(-1)?.body).toMatchObject({
      messages: [
        { role: 'user' },
        { role: 'assistant', tool_calls: [{ id: 'call_1', function: { name: 'weather' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
      ],
    });
  });

  it('reports errors as the client error classes', async () => {
    const unknown = await openai()
      .chat.completions.create({ model: 'gpt-9', messages: [{ role: 'user', content: 'Hi' }] })
      .catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect(unknown).toMatchObject({ status: 404, code: 'model_not_found', param: 'model' });

    const empty = await openai()
      .chat.completions.create({ model: 'fast', messages: [] })
      .catch((error: unknown) => error);
    expect(empty).toBeInstanceOf(OpenAI.BadRequestError);
    expect(empty).toMatchObject({ status: 400, type: 'invalid_request_error', param: 'messages' });

    const unknownField = await openai()
      .chat.completions.create({
        model: 'fast',
        messages: [{ role: 'user', content: 'Hi' }],
        logit_bias: { '50256': -100 },
      })
      .catch((error: unknown) => error);
    expect(unknownField).toBeInstanceOf(OpenAI.BadRequestError);
    expect(unknownField).toMatchObject({ status: 400, code: 'unsupported_field', param: 'logit_bias' });

    upstream.enqueue({ kind: 'error', status: 500, message: 'upstream exploded' });
    const upstreamError = await openai()
      .chat.completions.create({ model: 'fast', messages: [{ role: 'user', content: 'Hi' }] })
      .catch((error: unknown) => error);
    expect(upstreamError).toBeInstanceOf(OpenAI.InternalServerError);
    expect(upstreamError).toMatchObject({ status: 502, type: 'server_error' });
    expect((upstreamError as Error).message).toContain('upstream exploded');
    expect((upstreamError as InstanceType<typeof OpenAI.APIError>).headers?.get('x-keel-attempts')).toBe('1');
  });

  it('lists and retrieves the routes as models', async () => {
    const models = [];
    for await (const model of openai().models.list()) models.push(model.id);
    expect(models).toEqual(['fast', 'embed', 'claude']);
    expect(await openai().models.retrieve('fast')).toMatchObject({ id: 'fast', object: 'model' });
    await expect(openai().models.retrieve('nope')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('serves embeddings, as floats and as the base64 the client asks for by default', async () => {
    const { data, response } = await openai()
      .embeddings.create({ model: 'embed', input: ['a', 'b'] })
      .withResponse();
    expect(data.data.map((entry) => entry.embedding)).toEqual([
      [0.5, -0.25, 1],
      [0, 0.125, -1],
    ]);
    expect(data.model).toBe('embed');
    expect(data.usage.prompt_tokens).toBe(4);
    expect(response.headers.get('x-keel-deployment')).toBe('fake-embeddings');
    const floats = await openai().embeddings.create({ model: 'embed', input: 'a', encoding_format: 'float' });
    expect(floats.data[0]?.embedding).toEqual([0.5, -0.25, 1]);
  });
});

describe('Anthropic messages', () => {
  it('answers through the official client with a bearer key', async () => {
    const { data, response } = await anthropic()
      .messages.create({
        model: 'fast',
        max_tokens: 100,
        system: 'Be brief.',
        messages: [{ role: 'user', content: 'Hi' }],
      })
      .withResponse();
    expect(data).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'fast',
      content: [{ type: 'text', text: 'Hello from upstream' }],
      stop_reason: 'end_turn',
    });
    expect(data.usage.input_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-keel-deployment')).toBe('fake-openai');
    expect(upstream.requests.at(-1)?.body).toMatchObject({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
      max_completion_tokens: 100,
    });
  });

  it('accepts x-api-key and answers tool use', async () => {
    upstream.enqueue({ toolCalls: [{ id: 'call_1', name: 'weather', arguments: { city: 'Paris' } }] });
    const message = await anthropic({ headerKey: key }).messages.create({
      model: 'fast',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [
        { name: 'weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
      ],
    });
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content).toEqual([
      { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } },
    ]);
  });

  it('streams text and tool use that the client stream helper accumulates', async () => {
    upstream.enqueue({
      content: 'Checking.',
      toolCalls: [
        { id: 'call_paris', name: 'weather', arguments: { city: 'Paris' } },
        { id: 'call_rome', name: 'weather', arguments: { city: 'Rome' } },
      ],
      usage: { promptTokens: 30, completionTokens: 12 },
    });
    const stream = anthropic().messages.stream({
      model: 'fast',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Weather in Paris and Rome?' }],
      tools: [{ name: 'weather', input_schema: { type: 'object' } }],
    });
    const texts: string[] = [];
    stream.on('text', (text) => texts.push(text));
    const message = await stream.finalMessage();
    expect(texts.join('')).toBe('Checking.');
    expect(message.content).toEqual([
      { type: 'text', text: 'Checking.' },
      { type: 'tool_use', id: 'call_paris', name: 'weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'call_rome', name: 'weather', input: { city: 'Rome' } },
    ]);
    expect(message.stop_reason).toBe('tool_use');
    expect(message.usage).toMatchObject({ input_tokens: 30, output_tokens: 12 });
  });

  it('reports errors in Anthropic format as the client error classes', async () => {
    const unknown = await anthropic()
      .messages.create({ model: 'claude-9', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] })
      .catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(Anthropic.NotFoundError);
    expect((unknown as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: 'error',
      error: { type: 'not_found_error' },
    });
    const invalid = await anthropic({ headerKey: 'keel_sk_wrong' })
      .messages.create({ model: 'fast', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] })
      .catch((error: unknown) => error);
    expect(invalid).toBeInstanceOf(Anthropic.AuthenticationError);
  });
});

describe('an Anthropic upstream', () => {
  it('serves the Anthropic client, streaming tool use, without the caller key reaching upstream', async () => {
    claudeUpstream.enqueue({
      text: 'Let me look.',
      toolUses: [{ id: 'toolu_up_1', name: 'weather', input: { city: 'Oslo' } }],
      usage: { inputTokens: 40, outputTokens: 9, cacheReadInputTokens: 10 },
    });
    const stream = anthropic().messages.stream({
      model: 'claude',
      max_tokens: 200,
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'Weather in Oslo?' }],
      tools: [
        { name: 'weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
      ],
    });
    const message = await stream.finalMessage();
    expect(message.model).toBe('claude');
    expect(message.content).toEqual([
      { type: 'text', text: 'Let me look.' },
      { type: 'tool_use', id: 'toolu_up_1', name: 'weather', input: { city: 'Oslo' } },
    ]);
    expect(message.usage).toMatchObject({ input_tokens: 40, output_tokens: 9, cache_read_input_tokens: 10 });
    const sent = claudeUpstream.requests.at(-1);
    expect(sent?.headers['x-api-key']).toBe('sk-ant-upstream-secret');
    expect(JSON.stringify(sent?.headers)).not.toContain(key);
    expect(sent?.body).toMatchObject({ model: 'claude-sonnet-4-5', system: 'Be brief.', max_tokens: 200 });
  });

  it('serves the OpenAI client from a Claude route', async () => {
    const completion = await openai().chat.completions.create({
      model: 'claude',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(completion.choices[0]?.message.content).toBe('Hello from Claude');
    expect(completion.model).toBe('claude');
  });

  it('turns an upstream error event after the first byte into an explicit error', async () => {
    claudeUpstream.enqueue({ kind: 'stream-error', reply: { text: 'This answer will be interrupted' } });
    const response = await post(
      '/v1/messages',
      JSON.stringify({
        model: 'claude',
        stream: true,
        max_tokens: 50,
        messages: [{ role: 'user', content: 'Hi' }],
      }),
      { 'x-api-key': key },
    );
    expect(response.status).toBe(200);
    expect(response.text).toContain('text_delta');
    expect(response.text).not.toContain('message_stop');
    expect(response.text.trim().split('\n\n').at(-1)).toMatch(
      /^event: error\ndata: \{"type":"error","error":\{"type":"overloaded_error"/,
    );

    claudeUpstream.enqueue({ kind: 'stream-error', reply: { text: 'This answer will be interrupted' } });
    const chat = await post(
      '/v1/chat/completions',
      JSON.stringify({ model: 'claude', stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
    );
    expect(chat.text).not.toContain('data: [DONE]');
    expect(chat.text.trim().split('\n\n').at(-1)).toMatch(/^data: \{"error":/);
  });

  it('aborts the upstream request when the client disconnects mid-stream', async () => {
    claudeUpstream.enqueue({
      kind: 'hang',
      afterEvents: 4,
      reply: { text: 'A long answer that never ends' },
    });
    const controller = new AbortController();
    const response = await fetch(`${baseUrl}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'claude',
        stream: true,
        max_tokens: 50,
        messages: [{ role: 'user', content: 'Hi' }],
      }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('message_start');
    const record = claudeUpstream.requests.at(-1);
    controller.abort();
    await until(() => record?.outcome === 'client-closed');
  });
});

describe('bad requests', () => {
  const chat = '/v1/chat/completions';
  const messages = '/v1/messages';

  it.each([
    ['malformed JSON', '{"model": "fast", "messages": [', 400, 'invalid_json'],
    ['an empty body', '', 400, 'invalid_json'],
    ['a JSON array', '[]', 400, 'invalid_request'],
    ['no messages', '{"model":"fast","messages":[]}', 400, 'invalid_request'],
    ['a wrong type', '{"model":"fast","messages":[{"role":"user","content":42}]}', 400, 'invalid_request'],
    [
      'an unknown model',
      '{"model":"gpt-9","messages":[{"role":"user","content":"Hi"}]}',
      404,
      'model_not_found',
    ],
  ])('OpenAI format: %s, %s → %i %s', async (_name, body, status, code) => {
    const response = await post(chat, body);
    expect(response.status).toBe(status);
    expect(response.json).toMatchObject({ error: { type: 'invalid_request_error', code } });
    expect(response.json).toHaveProperty('error.message');
    expect(response.json).toHaveProperty('error.param');
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
  });

  it.each([
    ['malformed JSON', '{"model":', 400, 'invalid_request_error'],
    [
      'no max_tokens',
      '{"model":"fast","messages":[{"role":"user","content":"Hi"}]}',
      400,
      'invalid_request_error',
    ],
    ['no messages', '{"model":"fast","max_tokens":5,"messages":[]}', 400, 'invalid_request_error'],
    [
      'an unknown model',
      '{"model":"x","max_tokens":5,"messages":[{"role":"user","content":"Hi"}]}',
      404,
      'not_found_error',
    ],
  ])('Anthropic format: %s, %s → %i %s', async (_name, body, status, type) => {
    const response = await post(messages, body, { 'x-api-key': key, 'anthropic-version': '2023-06-01' });
    expect(response.status).toBe(status);
    expect(response.json).toMatchObject({ type: 'error', error: { type } });
  });

  it('answers an oversized body with 413 in each format', async () => {
    const big = JSON.stringify({
      model: 'fast',
      max_tokens: 5,
      messages: [{ role: 'user', content: 'x'.repeat(MAX_BODY_BYTES) }],
    });
    const openAIResponse = await post(chat, big);
    expect(openAIResponse.status).toBe(413);
    expect(openAIResponse.json).toMatchObject({
      error: { type: 'invalid_request_error', code: 'payload_too_large' },
    });
    const anthropicResponse = await post(messages, big, { 'x-api-key': key });
    expect(anthropicResponse.status).toBe(413);
    expect(anthropicResponse.json).toMatchObject({ type: 'error', error: { type: 'request_too_large' } });

    // Without a content-length the limit holds while the body streams in.
    const chunked = await fetch(`${baseUrl}${chat}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: new Blob([big]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    await chunked.text();
  });

  it('answers a wrong method with 405', async () => {
    const response = await fetch(`${baseUrl}/v1/chat/completions`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(response.status).toBe(405);
    expect(await response.json()).toMatchObject({ error: { code: 'method_not_allowed' } });
  });
});

describe('keys', () => {
  const body = JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'Hi' }] });

  it('refuses missing, unknown and revoked keys with 401 and keys without the gateway scope with 403', async () => {
    const missing = await post('/v1/chat/completions', body, {});
    expect(missing.status).toBe(401);
    expect(missing.json).toMatchObject({ error: { type: 'invalid_request_error', code: 'invalid_api_key' } });

    const unknown = await post('/v1/chat/completions', body, { authorization: 'Bearer keel_sk_unknown' });
    expect(unknown.status).toBe(401);

    const revokedKey = await apiKeys.create({ tenantId: 'acme', scopes: ['gateway'] });
    expect(
      (await post('/v1/chat/completions', body, { authorization: `Bearer ${revokedKey.key}` })).status,
    ).toBe(200);
    await apiKeys.revoke(revokedKey.record.id);
    expect(
      (await post('/v1/chat/completions', body, { authorization: `Bearer ${revokedKey.key}` })).status,
    ).toBe(401);

    const readOnly = await newKey({ scopes: ['runs:read'] });
    const forbidden = await post('/v1/chat/completions', body, { authorization: `Bearer ${readOnly}` });
    expect(forbidden.status).toBe(403);
    expect(forbidden.json).toMatchObject({ error: { type: 'permission_error', code: 'insufficient_scope' } });
    await expect(openai(readOnly).models.list()).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);

    const admin = await newKey({ scopes: ['admin'] });
    expect((await post('/v1/chat/completions', body, { authorization: `Bearer ${admin}` })).status).toBe(200);

    // x-api-key is Anthropic's header, not OpenAI's.
    expect((await post('/v1/chat/completions', body, { 'x-api-key': key })).status).toBe(401);
    const anthropicMissing = await post(
      '/v1/messages',
      JSON.stringify({ model: 'fast', max_tokens: 5, messages: [{ role: 'user', content: 'Hi' }] }),
      {},
    );
    expect(anthropicMissing.status).toBe(401);
    expect(anthropicMissing.json).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
  });

  it('answers 429 with Retry-After once a key has used its requests per minute', async () => {
    const limited = await newKey({ rpm: 2, tenantId: 'small-tenant' });
    for (let i = 0; i < 2; i++)
      expect((await post('/v1/chat/completions', body, { authorization: `Bearer ${limited}` })).status).toBe(
        200,
      );
    const refused = await openai(limited)
      .chat.completions.create({ model: 'fast', messages: [{ role: 'user', content: 'Hi' }] })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    const headers = (refused as InstanceType<typeof OpenAI.APIError>).headers;
    const retryAfter = Number(headers?.get('retry-after'));
    const retryAfterMs = Number(headers?.get('retry-after-ms'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    // The limiter's windows slide over two minutes at most.
    expect(retryAfter).toBeLessThanOrEqual(120);
    expect(retryAfter).toBe(Math.ceil(retryAfterMs / 1000));
    expect(refused).toMatchObject({ code: 'rate_limit_exceeded' });

    const anthropicRefused = await post(
      '/v1/messages',
      JSON.stringify({ model: 'fast', max_tokens: 5, messages: [{ role: 'user', content: 'Hi' }] }),
      { 'x-api-key': limited },
    );
    expect(anthropicRefused.status).toBe(429);
    expect(anthropicRefused.json).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    expect(anthropicRefused.headers.get('retry-after')).toMatch(/^\d+$/);

    await recorder.flush();
    const { rows } = await client.query<{ key_id: string; endpoint: string; outcome: string }>(
      `SELECT key_id, endpoint, outcome FROM keel.gateway_calls WHERE tenant_id = 'small-tenant' ORDER BY started_at`,
    );
    expect(new Set(rows.map((row) => row.key_id)).size).toBe(1);
    expect(rows.map((row) => [row.endpoint, row.outcome])).toEqual([
      ['chat', 'ok'],
      ['chat', 'ok'],
      ['chat', 'error'],
      ['messages', 'error'],
    ]);
  });
});

describe('streams that fail', () => {
  it('ends an OpenAI stream truncated upstream with an error chunk, never [DONE]', async () => {
    upstream.enqueue({ kind: 'truncated', reply: { content: 'This answer is cut off somewhere' } });
    const response = await post(
      '/v1/chat/completions',
      JSON.stringify({ model: 'fast', stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
    );
    expect(response.status).toBe(200);
    expect(response.text).toContain('"content":"This"');
    expect(response.text).not.toContain('data: [DONE]');
    expect(response.text).not.toContain('finish_reason":"stop"');
    const last = response.text.trim().split('\n\n').at(-1) ?? '';
    expect(JSON.parse(last.slice('data: '.length))).toMatchObject({ error: { type: 'server_error' } });

    upstream.enqueue({ kind: 'truncated', reply: { content: 'This answer is cut off somewhere' } });
    const stream = await openai().chat.completions.create({
      model: 'fast',
      stream: true,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    const read = async () => {
      for await (const _chunk of stream) {
        // consume
      }
    };
    await expect(read()).rejects.toBeInstanceOf(OpenAI.APIError);
  });

  it('ends an Anthropic stream truncated upstream with event: error, never message_stop', async () => {
    upstream.enqueue({ kind: 'truncated', reply: { content: 'This answer is cut off somewhere' } });
    const response = await post(
      '/v1/messages',
      JSON.stringify({
        model: 'fast',
        stream: true,
        max_tokens: 50,
        messages: [{ role: 'user', content: 'Hi' }],
      }),
      { 'x-api-key': key },
    );
    expect(response.status).toBe(200);
    expect(response.text).toContain('event: message_start');
    expect(response.text).not.toContain('message_stop');
    expect(response.text.trim().split('\n\n').at(-1)).toMatch(/^event: error\ndata: \{"type":"error"/);

    upstream.enqueue({ kind: 'truncated', reply: { content: 'This answer is cut off somewhere' } });
    const stream = anthropic().messages.stream({
      model: 'fast',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    await expect(stream.finalMessage()).rejects.toBeInstanceOf(Anthropic.APIError);
  });

  it('aborts the upstream request when the client disconnects mid-stream', async () => {
    upstream.enqueue({ kind: 'hang', afterChunks: 3, reply: { content: 'A long answer that never ends' } });
    const controller = new AbortController();
    const response = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('chat.completion.chunk');
    const record = upstream.requests.at(-1);
    expect(record?.outcome).toBe('pending');
    controller.abort();
    await until(() => record?.outcome === 'client-closed');
  });

  it('aborts the upstream request when the client of a plain call disconnects', async () => {
    upstream.enqueue({ kind: 'hang' });
    const controller = new AbortController();
    const pending = fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'Hi' }] }),
      signal: controller.signal,
    }).catch((error: unknown) => error);
    const before = upstream.requests.length;
    await until(() => upstream.requests.length > before);
    const record = upstream.requests.at(-1);
    controller.abort();
    await pending;
    await until(() => record?.outcome === 'client-closed');
  });
});

describe('a gateway that misbehaves', () => {
  // A stub gateway for what the real one promises never to do: the edge must hold anyway.
  const broken: Gateway = {
    generate: () => Promise.reject(new TypeError("Cannot read properties of undefined (reading 'x')")),
    countTokens: () => Promise.reject(new TypeError("Cannot read properties of undefined (reading 'x')")),
    stream: () =>
      Promise.resolve({
        meta: {
          route: 'fast',
          deployment: 'stub',
          provider: 'stub',
          model: 'stub',
          attempts: 1,
          cached: false,
        },
        events: (async function* () {
          await Promise.resolve();
          yield { type: 'text-delta' as const, text: 'half an ans' };
        })(),
        done: Promise.reject(new Error('never awaited by anyone')),
      }),
    embed: () => Promise.reject(new Error('no')),
    routes: () => ['fast'],
    breakers: () => [],
    close: () => Promise.resolve(),
  };
  let brokenServer: Server;
  let brokenUrl: string;

  beforeAll(async () => {
    const handler = createGatewayHandler({ gateway: broken, apiKeys });
    brokenServer = createServer((request, response) => void handler(request, response));
    brokenUrl = await listen(brokenServer);
  });
  afterAll(async () => {
    brokenServer.closeAllConnections();
    await new Promise((resolve) => brokenServer.close(resolve));
  });

  it('answers a bug with a 500 that has a body, in each format', async () => {
    const chat = await fetch(`${brokenUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect(chat.status).toBe(500);
    expect(await chat.json()).toEqual({
      error: {
        message: 'Internal error in the gateway.',
        type: 'server_error',
        param: null,
        code: 'internal_error',
      },
    });
    const messages = await fetch(`${brokenUrl}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': key },
      body: JSON.stringify({ model: 'fast', max_tokens: 5, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect(messages.status).toBe(500);
    expect(await messages.json()).toEqual({
      type: 'error',
      error: { type: 'api_error', message: 'Internal error in the gateway.' },
    });
  });

  it('never ends a stream that stopped without its finish as a clean answer', async () => {
    const chat = await fetch(`${brokenUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: JSON.stringify({ model: 'fast', stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    const text = await chat.text();
    expect(text).toContain('half an ans');
    expect(text).not.toContain('data: [DONE]');
    expect(text.trim().split('\n\n').at(-1)).toMatch(/^data: \{"error":\{.*"code":"model_output_invalid"/);
  });
});

describe('fuzz', () => {
  const value = fc.jsonValue({ maxDepth: 3 });
  const message = fc.record(
    {
      role: fc.oneof(fc.constantFrom('system', 'developer', 'user', 'assistant', 'tool'), fc.string()),
      content: fc.oneof(
        fc.string(),
        fc.constant(null),
        fc.array(
          fc.record({
            type: fc.constantFrom('text', 'image_url', 'image', 'tool_result', 'tool_use'),
            text: fc.string(),
          }),
          {
            maxLength: 3,
          },
        ),
        value,
      ),
      tool_call_id: fc.string(),
      tool_use_id: fc.string(),
    },
    { requiredKeys: [] },
  );
  // Bodies that pass validation, and ones with a single field replaced by anything.
  const valid = fc.record({
    model: fc.constantFrom('fast', 'claude', 'nope'),
    messages: fc.array(
      fc.record({ role: fc.constantFrom('user', 'assistant'), content: fc.string({ minLength: 1 }) }),
      {
        minLength: 1,
        maxLength: 3,
      },
    ),
    max_tokens: fc.integer({ min: 1, max: 50 }),
    stream: fc.boolean(),
  });
  const mutated = fc
    .tuple(
      valid,
      fc.constantFrom(
        'model',
        'messages',
        'max_tokens',
        'stream',
        'temperature',
        'tools',
        'tool_choice',
        'system',
        'stop',
        'n',
      ),
      value,
    )
    .map(([base, field, replacement]) => ({ ...base, [field]: replacement }));
  const body = fc.oneof(
    valid,
    mutated,
    value,
    fc.record(
      {
        model: fc.oneof(fc.constantFrom('fast', 'embed'), fc.string(), value),
        messages: fc.oneof(fc.array(message, { maxLength: 4 }), value),
        max_tokens: fc.oneof(fc.integer({ min: -5, max: 50 }), value),
        temperature: fc.oneof(fc.double({ min: -1, max: 3, noNaN: true }), value),
        stream: fc.oneof(fc.boolean(), value),
        n: fc.oneof(fc.integer({ min: 0, max: 3 }), value),
        tools: fc.oneof(
          fc.array(fc.record({ type: fc.string(), name: fc.string(), function: value }), { maxLength: 2 }),
          value,
        ),
        stop: fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 2 }), value),
        system: fc.oneof(fc.string(), value),
      },
      { requiredKeys: [] },
    ),
  );

  it('never answers random bodies with a 5xx', async () => {
    const fuzzKey = await newKey({ tenantId: 'fuzz' });
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/v1/chat/completions', '/v1/messages'), body, async (path, input) => {
        const response = await post(path, JSON.stringify(input), { authorization: `Bearer ${fuzzKey}` });
        statuses.add(response.status);
        expect(response.status, response.text).toBeLessThan(500);
        expect(response.status === 200 || response.json !== undefined, response.text).toBe(true);
      }),
      { numRuns: 200 },
    );
    // The property reached the gateway, not only the validation in front of it.
    expect([...statuses]).toEqual(expect.arrayContaining([200, 400, 404]));
  });
});

describe('an upstream that reports no usage', () => {
  const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
    { role: 'user', content: 'Count the words of this sentence, which no upstream counted.' },
  ];
  const estimate = estimateRequestTokens({
    messages: [{ role: 'user', content: 'Count the words of this sentence, which no upstream counted.' }],
  });

  it('answers with the estimate as usage, priced, and says so in x-keel-usage', async () => {
    upstream.enqueue({ content: 'Ten words.', usage: 'omit' });
    const { data, response } = await openai()
      .chat.completions.create({ model: 'fast', messages })
      .withResponse();
    expect(data.usage).toMatchObject({
      prompt_tokens: estimate,
      completion_tokens: estimateTextTokens('Ten words.'),
    });
    expect(response.headers.get('x-keel-usage')).toBe('estimated');
    expect(Number(response.headers.get('x-keel-cost-usd'))).toBeGreaterThan(0);

    upstream.enqueue({ content: 'Counted.', usage: { promptTokens: 20, completionTokens: 2 } });
    const reported = await openai().chat.completions.create({ model: 'fast', messages }).withResponse();
    expect(reported.data.usage).toMatchObject({ prompt_tokens: 20, completion_tokens: 2 });
    expect(reported.response.headers.get('x-keel-usage')).toBeNull();
  });

  it('sends the estimate in the usage chunk a streaming caller asked for', async () => {
    upstream.enqueue({ content: 'Ten words.', usage: 'omit' });
    const stream = await openai().chat.completions.create({
      model: 'fast',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    expect(usage).toMatchObject({
      prompt_tokens: estimate,
      completion_tokens: estimateTextTokens('Ten words.'),
    });
    // Keel asked the upstream for usage; the upstream did not send it.
    expect(upstream.requests.at(-1)?.body).toMatchObject({ stream_options: { include_usage: true } });
  });
});
