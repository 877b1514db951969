import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createFakeAnthropicServer, type FakeAnthropicServer } from './fake-anthropic-server.js';

let server: FakeAnthropicServer;
let client: Anthropic;
beforeAll(async () => {
  server = await createFakeAnthropicServer();
  // Retries off: the fake's scripted replies must map one to one onto requests.
  client = new Anthropic({ apiKey: 'sk-ant-fake-client', baseURL: server.url, maxRetries: 0 });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

const tools: Anthropic.Messages.Tool[] = [
  { name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
  { name: 'get_time', input_schema: { type: 'object', properties: { zone: { type: 'string' } } } },
];

describe('the official @anthropic-ai/sdk client against the fake', () => {
  it('reads a plain message with text, tool use and usage', async () => {
    server.enqueue({
      text: 'Let me check.',
      toolUses: [{ id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }],
      usage: { inputTokens: 20, outputTokens: 9, cacheReadInputTokens: 5 },
    });
    const message = await client.messages.create({
      model: 'claude-opus-4-5',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools,
    });
    expect(message.content).toEqual([
      { type: 'text', text: 'Let me check.' },
      { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
    ]);
    expect(message.stop_reason).toBe('tool_use');
    expect(message.usage).toMatchObject({ input_tokens: 20, output_tokens: 9, cache_read_input_tokens: 5 });
    // SDK 1.x sends the key as a bearer token; the fake accepts it like `x-api-key`.
    const { authorization, 'x-api-key': apiKey } = server.requests[0]?.headers ?? {};
    expect([authorization, apiKey]).toContain(
      apiKey === undefined ? 'Bearer sk-ant-fake-client' : 'sk-ant-fake-client',
    );
    expect(server.requests[0]?.headers['anthropic-version']).toBeDefined();
  });

  it('assembles a streamed answer with thinking, text and two tool uses', async () => {
    server.enqueue({
      thinking: 'Both tools are needed.',
      text: 'Checking both.',
      toolUses: [
        { id: 'toolu_weather', name: 'get_weather', input: { city: 'Paris', days: 3 } },
        { id: 'toolu_time', name: 'get_time', input: { zone: 'Europe/Paris' } },
      ],
      chunkSize: 3,
      usage: { inputTokens: 40, outputTokens: 25 },
    });
    const stream = client.messages.stream({
      model: 'claude-opus-4-5',
      max_tokens: 200,
      messages: [{ role: 'user', content: 'Weather and time in Paris?' }],
      tools,
    });
    const texts: string[] = [];
    stream.on('text', (text) => texts.push(text));
    const message = await stream.finalMessage();
    expect(texts.join('')).toBe('Checking both.');
    expect(texts.length).toBeGreaterThan(2);
    expect(message.content).toEqual([
      {
        type: 'thinking',
        thinking: 'Both tools are needed.',
        signature: expect.stringMatching(/^sig_fake_/) as unknown,
      },
      { type: 'text', text: 'Checking both.' },
      { type: 'tool_use', id: 'toolu_weather', name: 'get_weather', input: { city: 'Paris', days: 3 } },
      { type: 'tool_use', id: 'toolu_time', name: 'get_time', input: { zone: 'Europe/Paris' } },
    ]);
    expect(message.stop_reason).toBe('tool_use');
    expect(message.usage).toMatchObject({ input_tokens: 40, output_tokens: 25 });
    expect(server.requests[0]?.body).toMatchObject({ stream: true });
  });

  it('gives the SDK the right error classes for 429 and 529', async () => {
    server.enqueue({ kind: 'error', status: 429, retryAfter: 2 });
    const rateLimited = await client.messages
      .create({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] })
      .catch((error: unknown) => error);
    expect(rateLimited).toBeInstanceOf(Anthropic.RateLimitError);
    expect(rateLimited).toMatchObject({
      status: 429,
      type: 'rate_limit_error',
      requestID: expect.stringMatching(/^req_fake_/) as unknown,
    });
    expect((rateLimited as InstanceType<typeof Anthropic.APIError>).headers?.get('retry-after')).toBe('2');

    server.enqueue({ kind: 'error', status: 529 });
    const overloaded = await client.messages
      .create({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] })
      .catch((error: unknown) => error);
    expect(overloaded).toBeInstanceOf(Anthropic.OverloadedError);
    expect(overloaded).toMatchObject({ status: 529, type: 'overloaded_error' });
  });

  it('raises an error event mid-stream as an APIError of its type', async () => {
    server.enqueue({ kind: 'stream-error', reply: { text: 'Hello there' } });
    const stream = client.messages.stream({
      model: 'claude-haiku-4-5',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    const error = await stream.finalMessage().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect(error).toMatchObject({ type: 'overloaded_error' });
  });

  it('lets the SDK notice a stream cut before message_stop', async () => {
    server.enqueue({ kind: 'truncated', reply: { text: 'cut short' } });
    const stream = client.messages.stream({
      model: 'claude-haiku-4-5',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    await expect(stream.finalMessage()).rejects.toThrow(/message_stop|ended without/i);
  });
});

describe('the fake itself', () => {
  it('refuses requests without anthropic-version, credentials or max_tokens, like the API', async () => {
    const post = (headers: Record<string, string>, body: object) =>
      fetch(`${server.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    const valid = { model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'Hi' }] };
    const noVersion = await post({ 'x-api-key': 'k' }, valid);
    expect(noVersion.status).toBe(400);
    expect(await noVersion.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    const noKey = await post({ 'anthropic-version': '2023-06-01' }, valid);
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toMatchObject({ error: { type: 'authentication_error' } });
    const { max_tokens: _omitted, ...withoutMaxTokens } = valid;
    const noMax = await post({ 'anthropic-version': '2023-06-01', 'x-api-key': 'k' }, withoutMaxTokens);
    expect(noMax.status).toBe(400);
    expect((await noMax.json()) as unknown).toMatchObject({
      error: { message: 'max_tokens: Field required' },
    });
  });

  it('refuses a system message inside messages unless a mid-conversation-system beta allows it', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(`${server.url}/v1/messages`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'anthropic-version': '2023-06-01',
          'x-api-key': 'k',
          ...headers,
        },
        body: JSON.stringify({
          model: 'claude-haiku-4-5',
          max_tokens: 5,
          messages: [
            { role: 'user', content: 'Hi' },
            { role: 'system', content: 'Be brief.' },
          ],
        }),
      });
    const refused = await post({});
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({
      error: { message: "messages.1.role: Input should be 'user' or 'assistant'" },
    });
    server.enqueue({ text: 'ok' });
    expect((await post({ 'anthropic-beta': 'mid-conversation-system-2026-04-07' })).status).toBe(200);
  });

  it('records the outcome: finished, reset or client-closed', async () => {
    server.enqueue({ text: 'ok' });
    server.enqueue({ kind: 'reset' });
    server.enqueue({ kind: 'hang' });
    const post = (signal?: AbortSignal) =>
      fetch(`${server.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'k' },
        body: JSON.stringify({ model: 'm', max_tokens: 5, messages: [] }),
        signal,
      });
    await (await post()).text();
    await post().catch(() => undefined);
    const controller = new AbortController();
    const hanging = post(controller.signal).catch(() => undefined);
    await expect.poll(() => server.requests.length).toBe(3);
    controller.abort();
    await hanging;
    await expect
      .poll(() => server.requests.map((request) => request.outcome))
      .toEqual(['finished', 'reset', 'client-closed']);
  });

  it('answers unknown paths with a 404 in Anthropic’s error shape', async () => {
    const response = await fetch(`${server.url}/v1/complete`, { method: 'POST' });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });
});
