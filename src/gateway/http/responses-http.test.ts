/**
 * `POST /v1/responses` end to end: a real listening gateway over PGlite (call records, API keys),
 * upstream fakes speaking OpenAI's chat completions and Anthropic's messages, and the official
 * `openai` client's `responses.create` / `responses.stream` pointed at Keel.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../journal/open-store.js';
import type { SqlClient } from '../../journal/sql-client.js';
import type { JournalStore } from '../../journal/store.js';
import { createAnthropicModel } from '../../model/providers/anthropic/adapter.js';
import { createFakeAnthropicServer, type FakeAnthropicServer } from '../../testing/fake-anthropic-server.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../../testing/fake-openai-server.js';
import { createApiKeys, type ApiKeys } from '../api-keys.js';
import type { GatewayConfigInput } from '../gateway-config.js';
import { createGateway, type KeelGateway } from '../gateway.js';
import type { CallRecorder } from '../gateway-store.js';
import { createSqlCallRecorder } from '../sql-call-recorder.js';
import { createSqlRateLimiter } from '../sql-rate-limiter.js';
import { createSqlResponseCache } from '../sql-response-cache.js';
import { createGatewayHandler } from './gateway-handler.js';

let upstream: FakeOpenAIServer;
let claudeUpstream: FakeAnthropicServer;
let store: JournalStore;
let client: SqlClient;
let apiKeys: ApiKeys;
let recorder: CallRecorder;
let gateway: KeelGateway;
let server: Server;
let baseUrl: string;
let key: string;

function openai(): OpenAI {
  return new OpenAI({ apiKey: key, baseURL: `${baseUrl}/v1`, maxRetries: 0 });
}

async function post(body: unknown): Promise<{ status: number; json: { error?: Record<string, unknown> } }> {
  const response = await fetch(`${baseUrl}/v1/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as { error?: Record<string, unknown> } };
}

const weatherTool = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  },
  strict: true,
};

beforeAll(async () => {
  upstream = await createFakeOpenAIServer({ handler: () => ({ content: 'Hello from upstream' }) });
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
      { name: 'fast', deployments: ['fake-openai'], cache: { enabled: false, callerOptIn: true } },
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
  const handler = createGatewayHandler({ gateway, apiKeys });
  server = createServer((request, response) => {
    if (!handler(request, response)) {
      response.writeHead(404);
      response.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  key = (await apiKeys.create({ tenantId: 'acme', scopes: ['gateway'] })).key;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await gateway?.close();
  await recorder?.close();
  await store?.close();
  await upstream?.close();
  await claudeUpstream?.close();
});

describe('POST /v1/responses with the official openai client', () => {
  it('answers responses.create with a Responses object, its usage, and records the call', async () => {
    upstream.enqueue({
      content: 'Paris.',
      usage: { promptTokens: 21, completionTokens: 3, cachedTokens: 5, reasoningTokens: 1 },
    });
    const response = await openai().responses.create({
      model: 'fast',
      instructions: 'Answer in one word.',
      input: 'Capital of France?',
      max_output_tokens: 50,
      temperature: 0.2,
      store: false,
      metadata: { ticket: 't-1' },
    });
    expect(response.id).toMatch(/^resp_/);
    expect(response.object).toBe('response');
    expect(response.status).toBe('completed');
    expect(response.model).toBe('fast');
    expect(response.output_text).toBe('Paris.');
    expect(response.output).toEqual([
      {
        id: expect.stringMatching(/^msg_/) as unknown,
        type: 'message',
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text: 'Paris.', annotations: [], logprobs: [] }],
      },
    ]);
    expect(response.usage).toEqual({
      input_tokens: 21,
      input_tokens_details: { cached_tokens: 5 },
      output_tokens: 3,
      output_tokens_details: { reasoning_tokens: 1 },
      total_tokens: 24,
    });
    expect(response.metadata).toEqual({ ticket: 't-1' });
    expect((response as unknown as { store: boolean }).store).toBe(false);
    // What reached the provider: the instructions as a system message, the input as the user's.
    const sent = upstream.requests.at(-1)!.body as Record<string, unknown>;
    expect(sent.messages).toEqual([
      { role: 'system', content: 'Answer in one word.' },
      { role: 'user', content: 'Capital of France?' },
    ]);
    expect(sent.max_completion_tokens ?? sent.max_tokens).toBe(50);
    expect(sent.temperature).toBe(0.2);

    await recorder.flush();
    const { rows } = await client.query<{ endpoint: string; outcome: string }>(
      `SELECT endpoint, outcome FROM keel.gateway_calls WHERE route = 'fast' ORDER BY started_at DESC LIMIT 1`,
    );
    expect(rows).toEqual([{ endpoint: 'responses', outcome: 'ok' }]);
  });

  it('reports a cut answer as incomplete with its reason', async () => {
    upstream.enqueue({ content: 'Once upon a', finishReason: 'length' });
    const response = await openai().responses.create({ model: 'fast', input: 'Tell a story' });
    expect(response.status).toBe('incomplete');
    expect(response.incomplete_details).toEqual({ reason: 'max_output_tokens' });
  });

  it('streams with the Responses event types, in sequence', async () => {
    upstream.enqueue({ content: 'Hello there, streaming world', chunkSize: 5 });
    const stream = await openai().responses.create({ model: 'fast', input: 'Hi', stream: true });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const types = [...new Set(events.map((event) => event.type))];
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events.map((event) => event.sequence_number)).toEqual(events.map((_event, index) => index));
    const deltas = events.filter((event) => event.type === 'response.output_text.delta');
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.map((event) => event.delta).join('')).toBe('Hello there, streaming world');
    const completed = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    expect(completed.response.status).toBe('completed');
    expect(completed.response.output[0]).toMatchObject({
      type: 'message',
      content: [{ type: 'output_text', text: 'Hello there, streaming world' }],
    });
    expect(completed.response.usage?.output_tokens).toBeGreaterThan(0);
  });

  it('serves the client.responses.stream helper', async () => {
    upstream.enqueue({ content: 'Helper text', chunkSize: 3 });
    const stream = openai().responses.stream({ model: 'fast', input: 'Hi' });
    let text = '';
    stream.on('response.output_text.delta', (event) => {
      text += event.delta;
    });
    const final = await stream.finalResponse();
    expect(text).toBe('Helper text');
    expect(final.output_text).toBe('Helper text');
  });

  it('round-trips a function tool: function_call, then function_call_output, then the final text', async () => {
    upstream.enqueue({ toolCalls: [{ id: 'call_w1', name: 'get_weather', arguments: { city: 'Oslo' } }] });
    const first = await openai().responses.create({
      model: 'fast',
      input: [{ role: 'user', content: 'Weather in Oslo?' }],
      tools: [weatherTool],
      tool_choice: 'auto',
    });
    const call = first.output.find((item) => item.type === 'function_call');
    expect(call).toMatchObject({
      type: 'function_call',
      call_id: 'call_w1',
      name: 'get_weather',
      arguments: '{"city":"Oslo"}',
      status: 'completed',
    });
    const sentTools = (upstream.requests.at(-1)!.body as { tools: unknown[] }).tools;
    expect(sentTools).toEqual([
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'The weather in a city',
          parameters: weatherTool.parameters,
          strict: true,
        },
      },
    ]);

    upstream.enqueue({ content: 'It is 4°C in Oslo.' });
    const second = await openai().responses.create({
      model: 'fast',
      input: [
        { role: 'user', content: 'Weather in Oslo?' },
        ...(first.output as OpenAI.Responses.ResponseInputItem[]),
        { type: 'function_call_output', call_id: 'call_w1', output: '{"celsius":4}' },
      ],
      tools: [weatherTool],
    });
    expect(second.output_text).toBe('It is 4°C in Oslo.');
    expect((upstream.requests.at(-1)!.body as { messages: unknown[] }).messages).toEqual([
      { role: 'user', content: 'Weather in Oslo?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_w1',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_w1', content: '{"celsius":4}' },
    ]);
  });

  it('streams a function call as a function_call item with argument deltas', async () => {
    upstream.enqueue({
      toolCalls: [{ id: 'call_s1', name: 'get_weather', arguments: { city: 'Lisbon' } }],
      chunkSize: 4,
    });
    const stream = openai().responses.stream({ model: 'fast', input: 'Weather?', tools: [weatherTool] });
    const deltas: string[] = [];
    stream.on('response.function_call_arguments.delta', (event) => deltas.push(event.delta));
    const final = await stream.finalResponse();
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe('{"city":"Lisbon"}');
    expect(final.output).toEqual([
      expect.objectContaining({
        type: 'function_call',
        call_id: 'call_s1',
        name: 'get_weather',
        arguments: '{"city":"Lisbon"}',
      }),
    ]);
  });

  it('maps text.format json_schema to the provider as structured output', async () => {
    upstream.enqueue({ content: '{"answer":42}' });
    const schema = { type: 'object', properties: { answer: { type: 'number' } }, required: ['answer'] };
    const response = await openai().responses.create({
      model: 'fast',
      input: 'The answer?',
      text: { format: { type: 'json_schema', name: 'answer', schema, strict: true } },
    });
    expect(JSON.parse(response.output_text)).toEqual({ answer: 42 });
    expect((upstream.requests.at(-1)!.body as { response_format: unknown }).response_format).toMatchObject({
      type: 'json_schema',
      json_schema: { name: 'answer', schema },
    });
  });

  it('serves a route to an Anthropic deployment, plain and streamed', async () => {
    claudeUpstream.enqueue({ text: 'Bonjour from Claude' });
    const plain = await openai().responses.create({
      model: 'claude',
      instructions: 'Be brief.',
      input: 'Hi',
    });
    expect(plain.output_text).toBe('Bonjour from Claude');
    const sent = claudeUpstream.requests.at(-1)!.body as Record<string, unknown>;
    expect(sent.system).toBeDefined();
    expect(JSON.stringify(sent.system)).toContain('Be brief.');

    claudeUpstream.enqueue({ toolUses: [{ id: 'toolu_1', name: 'get_weather', input: { city: 'Nice' } }] });
    const streamed = await openai()
      .responses.stream({ model: 'claude', input: 'Weather?', tools: [weatherTool] })
      .finalResponse();
    expect(streamed.output).toEqual([
      expect.objectContaining({ type: 'function_call', call_id: 'toolu_1', arguments: '{"city":"Nice"}' }),
    ]);
  });

  it('replays a cached answer as a whole Responses stream (x-keel-cache: true)', async () => {
    upstream.enqueue({
      content: 'Cached words',
      toolCalls: [{ id: 'call_c', name: 'get_weather', arguments: {} }],
    });
    const body = { model: 'fast', input: 'Cache me', tools: [weatherTool] };
    const options = { headers: { 'x-keel-cache': 'true' } };
    const first = await openai().responses.create(body, options);
    const before = upstream.requests.length;
    const stream = openai().responses.stream(body, options);
    const types: string[] = [];
    stream.on('event', (event) => types.push(event.type));
    const replayed = await stream.finalResponse();
    expect(upstream.requests.length).toBe(before);
    expect(replayed.output_text).toBe('Cached words');
    expect(replayed.output.map((item) => item.type)).toEqual(first.output.map((item) => item.type));
    expect(replayed.output[1]).toMatchObject({ type: 'function_call', call_id: 'call_c', arguments: '{}' });
    expect(types).toContain('response.output_text.delta');
    expect(types).toContain('response.function_call_arguments.done');
    expect(types.at(-1)).toBe('response.completed');
  });

  it('ends a stream that fails after its first byte with error and response.failed events', async () => {
    upstream.enqueue({ kind: 'truncated', reply: { content: 'Half an answ' } });
    const stream = await openai().responses.create({ model: 'fast', input: 'Hi', stream: true });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types.slice(0, 2)).toEqual(['response.created', 'response.in_progress']);
    expect(types.slice(-2)).toEqual(['error', 'response.failed']);
    expect(types).not.toContain('response.completed');
  });

  it("applies the key's rate limit: a 429 in the OpenAI error shape with Retry-After", async () => {
    const limited = (await apiKeys.create({ tenantId: 'acme', scopes: ['gateway'], rpm: 1 })).key;
    const limitedClient = new OpenAI({ apiKey: limited, baseURL: `${baseUrl}/v1`, maxRetries: 0 });
    await limitedClient.responses.create({ model: 'fast', input: 'One' });
    const error = await limitedClient.responses
      .create({ model: 'fast', input: 'Two' })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const rateLimit = error as InstanceType<typeof OpenAI.RateLimitError>;
    expect(rateLimit.code).toBe('rate_limit_exceeded');
    expect(Number(rateLimit.headers?.get('retry-after'))).toBeGreaterThan(0);
  });

  it('answers upstream failures in the OpenAI error shape', async () => {
    upstream.enqueue({ kind: 'error', status: 500, message: 'boom' });
    const error = await openai()
      .responses.create({ model: 'fast', input: 'Hi' })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(502);

    const unknown = await post({ model: 'no-such-route', input: 'Hi' });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toMatchObject({ code: 'model_not_found', param: 'model' });
  });
});

describe('POST /v1/responses refuses what it cannot honour, naming the field', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['an unknown item type', { input: [{ type: 'computer_call_output', call_id: 'x' }] }, 'input.0.type'],
    [
      'an item only a stored response has',
      { input: [{ type: 'item_reference', id: 'msg_1' }] },
      'input.0.type',
    ],
    ['previous_response_id', { input: 'Hi', previous_response_id: 'resp_123' }, 'previous_response_id'],
    [
      'a hosted tool no deployment of the route can run',
      { input: 'Hi', tools: [{ type: 'file_search', vector_store_ids: ['vs_1'] }] },
      'tools',
    ],
    [
      'a function tool without a name',
      { input: 'Hi', tools: [{ type: 'function', parameters: {} }] },
      'tools.0.name',
    ],
    ['reasoning summaries', { input: 'Hi', reasoning: { summary: 'detailed' } }, 'reasoning.summary'],
    ['an effort with no counterpart', { input: 'Hi', reasoning: { effort: 'xhigh' } }, 'reasoning.effort'],
    ['a prompt_cache_key that is not a string', { input: 'Hi', prompt_cache_key: 7 }, 'prompt_cache_key'],
    ['include values', { input: 'Hi', include: ['message.output_text.logprobs'] }, 'include'],
    [
      'an image by file_id',
      { input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file_1' }] }] },
      'input.0.content.0.image_url',
    ],
    [
      'a file by file_id',
      { input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'file_1' }] }] },
      'input.0.content.0.file_id',
    ],
    [
      'an audio part',
      {
        input: [
          { role: 'user', content: [{ type: 'input_audio', input_audio: { data: '', format: 'wav' } }] },
        ],
      },
      'input.0.content.0',
    ],
    [
      'a function_call without call_id',
      { input: [{ type: 'function_call', name: 'f', arguments: '{}' }] },
      'input.0.call_id',
    ],
    ['a bad role', { input: [{ role: 'robot', content: 'Hi' }] }, 'input.0.role'],
    ['a missing input', {}, 'input'],
    ['a bad tool_choice', { input: 'Hi', tool_choice: { type: 'file_search' } }, 'tool_choice.type'],
  ];
  for (const [name, body, param] of cases)
    it(`refuses ${name} (${param})`, async () => {
      const before = upstream.requests.length;
      const { status, json } = await post({ model: 'fast', ...body });
      expect(status).toBe(400);
      expect(json.error).toMatchObject({ type: 'invalid_request_error', param });
      expect(String(json.error?.message)).toContain(param);
      expect(upstream.requests.length).toBe(before);
    });

  it('accepts the harmless defaults of those fields', async () => {
    const { status } = await post({
      model: 'fast',
      input: 'Hi',
      parallel_tool_calls: true,
      truncation: 'disabled',
      include: [],
      store: true,
      reasoning: null,
      background: false,
    });
    expect(status).toBe(200);
  });
});
