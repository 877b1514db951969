import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createFakeOpenAIServer, fakeEmbedding, type FakeOpenAIServer } from './fake-openai-server.js';

let server: FakeOpenAIServer;
let client: OpenAI;
beforeAll(async () => {
  server = await createFakeOpenAIServer();
  // Retries off: the fake's scripted replies must map one to one onto requests.
  client = new OpenAI({ apiKey: 'sk-fake-client', baseURL: server.url, maxRetries: 0 });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      parameters: { type: 'object', properties: { city: { type: 'string' } } },
    },
  },
  {
    type: 'function',
    function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'string' } } } },
  },
];

describe('the official openai client against the fake', () => {
  it('assembles a streamed answer with two parallel tool calls', async () => {
    server.enqueue({
      content: 'Let me check.',
      toolCalls: [
        { id: 'call_weather', name: 'get_weather', arguments: { city: 'Paris', days: 3 } },
        { id: 'call_time', name: 'get_time', arguments: { zone: 'Europe/Paris' } },
      ],
      chunkSize: 3,
      usage: { promptTokens: 40, completionTokens: 25, cachedTokens: 16, reasoningTokens: 0 },
    });
    const stream = client.chat.completions.stream({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Weather and time in Paris?' }],
      tools,
      stream_options: { include_usage: true },
    });
    const argumentsDone: string[] = [];
    stream.on('tool_calls.function.arguments.done', (event) => argumentsDone.push(event.name));
    const completion = await stream.finalChatCompletion();
    const message = completion.choices[0]?.message;
    expect(message?.content).toBe('Let me check.');
    const calls = (message?.tool_calls ?? []).map((call) =>
      call.type === 'function'
        ? { id: call.id, name: call.function.name, arguments: call.function.arguments }
        : call,
    );
    expect(calls).toEqual([
      { id: 'call_weather', name: 'get_weather', arguments: '{"city":"Paris","days":3}' },
      { id: 'call_time', name: 'get_time', arguments: '{"zone":"Europe/Paris"}' },
    ]);
    expect(completion.choices[0]?.finish_reason).toBe('tool_calls');
    expect(completion.usage).toMatchObject({
      prompt_tokens: 40,
      completion_tokens: 25,
      prompt_tokens_details: { cached_tokens: 16 },
    });
    expect(argumentsDone).toEqual(['get_weather', 'get_time']);
    expect(server.requests[0]?.body).toMatchObject({ stream: true, model: 'gpt-4o-mini' });
    expect(server.requests[0]?.headers.authorization).toBe('Bearer sk-fake-client');
  });

  it('streams raw chunks in OpenAI order: role first, finish reason, then usage with no choices', async () => {
    server.enqueue({ content: 'Hello world', chunkSize: 5 });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe('Hello world');
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks.at(-1)?.choices).toEqual([]);
    expect(chunks.at(-1)?.usage?.total_tokens).toBeGreaterThan(0);
    expect(
      chunks.every((chunk) => chunk.object === 'chat.completion.chunk' && chunk.model === 'gpt-4o'),
    ).toBe(true);
  });

  it('sends no usage chunk unless asked, like OpenAI', async () => {
    server.enqueue({ content: 'Hi' });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
    });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks.every((chunk) => chunk.usage === undefined)).toBe(true);
  });

  it("omits usage entirely when a reply says 'omit', even on a stream that asked for it", async () => {
    server.enqueue({ content: 'No counts here', usage: 'omit' });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe('No counts here');
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks.every((chunk) => !('usage' in chunk))).toBe(true);

    server.enqueue({ content: 'No counts either', usage: 'omit' });
    const completion = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(completion.choices[0]?.message.content).toBe('No counts either');
    expect('usage' in completion).toBe(false);
  });

  it('sends negative and absurd counts as scripted, plain and streamed', async () => {
    server.enqueue({ content: 'Refund?', usage: { promptTokens: -1_000_000, completionTokens: -5 } });
    const completion = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(completion.usage).toMatchObject({
      prompt_tokens: -1_000_000,
      completion_tokens: -5,
      total_tokens: -1_000_005,
    });

    server.enqueue({ content: 'Big', usage: { promptTokens: 1e15, completionTokens: 3 } });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.at(-1)?.usage).toMatchObject({ prompt_tokens: 1e15, completion_tokens: 3 });
  });

  it('answers a plain request', async () => {
    server.enqueue({ content: 'Plain answer', usage: { promptTokens: 5, completionTokens: 2 } });
    const completion = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(completion.choices[0]?.message).toMatchObject({ role: 'assistant', content: 'Plain answer' });
    expect(completion.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 });
  });

  it('raises the client error class for a scripted 429, with its headers', async () => {
    server.enqueue({ kind: 'error', status: 429, retryAfter: 7, message: 'Slow down' });
    const error = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error).toMatchObject({ status: 429, code: 'rate_limit_exceeded', type: 'requests' });
    expect((error as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toBe('7');
    expect((error as Error).message).toContain('Slow down');
  });
});

describe('createFakeOpenAIServer', () => {
  it('serves the script, then the handler, then a 500 naming the problem', async () => {
    const fake = await createFakeOpenAIServer({
      script: [{ content: 'scripted' }],
      handler: (request) => ({ content: `handled ${(request.body as { model: string }).model}` }),
    });
    try {
      const fakeClient = new OpenAI({ apiKey: 'sk-x', baseURL: fake.url, maxRetries: 0 });
      const ask = async () =>
        (
          await fakeClient.chat.completions.create({
            model: 'm1',
            messages: [{ role: 'user', content: 'Hi' }],
          })
        ).choices[0]?.message.content;
      expect(await ask()).toBe('scripted');
      expect(await ask()).toBe('handled m1');
    } finally {
      await fake.close();
    }
    const bare = await createFakeOpenAIServer();
    try {
      const response = await fetch(`${bare.url}/chat/completions`, { method: 'POST', body: '{}' });
      expect(response.status).toBe(500);
      expect(await response.json()).toMatchObject({
        error: { message: expect.stringContaining('no reply scripted') },
      });
    } finally {
      await bare.close();
    }
  });

  it('refuses messages as the API does: unknown roles, media in a tool message, tool messages answering no call', async () => {
    const send = (messages: unknown[]) =>
      fetch(`${server.url}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages }),
      });
    const call = {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
    };
    const image = { type: 'image_url', image_url: { url: 'data:image/png;base64,x' } };
    const cases: [unknown[], string][] = [
      [[{ role: 'model', content: 'Hi' }], 'messages[0].role'],
      [[call, { role: 'tool', tool_call_id: 'call_1', content: [image] }], 'messages[1].content[0].type'],
      [[{ role: 'tool', tool_call_id: 'call_1', content: 'x' }], 'messages[0].role'],
      [[call, { role: 'user', content: 'Hi' }], 'messages'],
    ];
    for (const [messages, param] of cases) {
      const response = await send(messages);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: { type: 'invalid_request_error', param } });
    }
    server.enqueue({ content: 'ok' });
    const answered = await send([
      call,
      { role: 'tool', tool_call_id: 'call_1', content: 'x' },
      { role: 'user', content: [image] },
    ]);
    expect(answered.status).toBe(200);
  });

  it('records requests and answers unknown routes with an OpenAI 404', async () => {
    const response = await fetch(`${server.url}/models/x?y=1`, { headers: { 'X-Custom': 'yes' } });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: {
        message: 'Invalid URL (GET /v1/models/x)',
        type: 'invalid_request_error',
        param: null,
        code: 'model_not_found',
      },
    });
    expect(server.requests).toEqual([
      expect.objectContaining({
        method: 'GET',
        path: '/v1/models/x?y=1',
        body: undefined,
        rawBody: '',
        outcome: 'finished',
      }),
    ]);
    expect(server.requests[0]?.headers['x-custom']).toBe('yes');
  });

  it('ends hanging responses on close', async () => {
    const fake = await createFakeOpenAIServer({ script: [{ kind: 'hang' }] });
    const pending = fetch(`${fake.url}/chat/completions`, { method: 'POST', body: '{}' });
    await expect.poll(() => fake.requests.length).toBe(1);
    await fake.close();
    await expect(pending).rejects.toThrow();
  });

  it('writes raw bodies piece by piece', async () => {
    server.enqueue({ kind: 'raw', body: ['data: {"a"', ':1}\n', '\n'] });
    const response = await fetch(`${server.url}/chat/completions`, { method: 'POST', body: '{}' });
    expect(await response.text()).toBe('data: {"a":1}\n\n');
  });
});

describe('embeddings', () => {
  it('answers the official client with deterministic unit vectors', async () => {
    const response = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['alpha', 'beta'],
      dimensions: 16,
    });
    expect(response.data.map((entry) => entry.index)).toEqual([0, 1]);
    const [alpha, beta] = response.data.map((entry) => entry.embedding);
    expect(alpha).toHaveLength(16);
    // Sent as base64 float32s, as the SDK asked: equal to the float vector up to float32 precision.
    expect(Math.hypot(...(alpha ?? []))).toBeCloseTo(1, 5);
    (alpha ?? []).forEach((value, index) =>
      expect(value).toBeCloseTo(fakeEmbedding('alpha', 16)[index] ?? NaN, 6),
    );
    expect(alpha).not.toEqual(beta);
    const again = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'alpha',
      dimensions: 16,
    });
    expect(again.data[0]?.embedding).toEqual(alpha);
    expect(response.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
  });

  it('fails the next embeddings request as scripted, without touching the chat script', async () => {
    server.enqueue({ content: 'chat answer' });
    server.enqueueEmbeddingFault({ kind: 'error', status: 429, retryAfter: 1 });
    const error = await client.embeddings
      .create({ model: 'text-embedding-3-small', input: 'x' })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const completion = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(completion.choices[0]?.message.content).toBe('chat answer');
  });
});
