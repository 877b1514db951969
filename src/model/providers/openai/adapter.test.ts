import { describe, expect, it } from 'vitest';
import { KeelError } from '../../../errors/keel-error.js';
import { ModelConfigError, ModelOutputError, ProviderError } from '../../../errors/model-errors.js';
import { createFakeOpenAIServer, fakeEmbedding } from '../../../testing/fake-openai-server.js';
import {
  collect,
  collectUntilAbort,
  collectUntilError,
  failure,
  startFakeServer,
} from '../../../testing/provider-test-harness.js';
import type { LanguageModel, ModelRequest } from '../../model.js';
import {
  createOpenAICompatibleModel,
  createOpenAIEmbeddingModel,
  type OpenAICompatibleModelOptions,
  type OpenAIEmbeddingModelOptions,
} from './adapter.js';
import { estimateAnswerTokens, estimateRequestTokens, estimateTextTokens } from '../../token-estimate.js';

const API_KEY = 'sk-test-1234567890abcdef';
const hello: ModelRequest = { messages: [{ role: 'user', content: 'Hello' }] };

const server = await startFakeServer(createFakeOpenAIServer);

function model(options: Partial<OpenAICompatibleModelOptions> = {}): LanguageModel {
  return createOpenAICompatibleModel({
    model: 'gpt-4o-mini',
    apiKey: API_KEY,
    baseURL: server.url,
    env: {},
    ...options,
  });
}

const lastRequestBody = () => server.requests.at(-1)?.body as Record<string, unknown>;

describe('generate', () => {
  it('sends a chat completion and reads the answer', async () => {
    server.enqueue({
      content: 'Hi there!',
      model: 'gpt-4o-mini-2024-07-18',
      usage: { promptTokens: 9, completionTokens: 3 },
    });
    const response = await model().generate(hello);
    expect(response).toEqual({
      message: { role: 'assistant', content: 'Hi there!' },
      finishReason: 'stop',
      usage: {
        inputTokens: 9,
        outputTokens: 3,
        cachedInputTokens: 0,
        reasoningTokens: 0,
        source: 'reported',
      },
      modelId: 'gpt-4o-mini-2024-07-18',
    });
    const [request] = server.requests;
    expect(request).toMatchObject({ method: 'POST', path: '/v1/chat/completions' });
    expect(request?.headers).toMatchObject({
      authorization: `Bearer ${API_KEY}`,
      'content-type': 'application/json',
      accept: 'application/json',
    });
    expect(request?.body).toEqual({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] });
  });

  it('translates every part of the request to the wire format', async () => {
    server.enqueue({ content: '{"city":"Paris"}' });
    const schema = {
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
      additionalProperties: false,
    };
    await model().generate({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather in Paris?' },
        {
          role: 'assistant',
          content: '',
          toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }],
        },
        { role: 'tool', toolCallId: 'call_1', name: 'get_weather', content: '{"celsius":21}' },
        { role: 'assistant', content: 'It is 21°C.' },
        { role: 'user', content: 'As JSON please.' },
      ],
      tools: [
        {
          name: 'get_weather',
          description: 'Current weather',
          parameters: { type: 'object', properties: {} },
        },
      ],
      toolChoice: { name: 'get_weather' },
      responseFormat: { type: 'json', schema, name: 'city_answer' },
      maxOutputTokens: 256,
      temperature: 0.2,
      topP: 0.9,
      stop: ['END'],
      seed: 42,
    });
    expect(lastRequestBody()).toEqual({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather in Paris?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"celsius":21}' },
        { role: 'assistant', content: 'It is 21°C.' },
        { role: 'user', content: 'As JSON please.' },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather',
            parameters: { type: 'object', properties: {} },
          },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      response_format: { type: 'json_schema', json_schema: { name: 'city_answer', schema, strict: true } },
      max_completion_tokens: 256,
      temperature: 0.2,
      top_p: 0.9,
      stop: ['END'],
      seed: 42,
    });
  });

  it('translates tool choices and response formats', async () => {
    const cases: [Partial<ModelRequest>, Record<string, unknown>][] = [
      [{ toolChoice: 'auto' }, { tool_choice: 'auto' }],
      [{ toolChoice: 'none' }, { tool_choice: 'none' }],
      [{ toolChoice: 'required' }, { tool_choice: 'required' }],
      [{ responseFormat: { type: 'json' } }, { response_format: { type: 'json_object' } }],
      [
        { responseFormat: { type: 'json', schema: { type: 'object' } } },
        {
          response_format: {
            type: 'json_schema',
            json_schema: { name: 'response', schema: { type: 'object' }, strict: true },
          },
        },
      ],
    ];
    for (const [request, expected] of cases) {
      server.enqueue({ content: 'ok' });
      await model().generate({ ...hello, ...request });
      expect(lastRequestBody()).toMatchObject(expected);
    }
    server.enqueue({ content: 'ok' });
    await model().generate({ ...hello, responseFormat: { type: 'text' }, tools: [], stop: [] });
    expect(Object.keys(lastRequestBody()).sort()).toEqual(['messages', 'model']);
  });

  it("puts tool results' images and files in a user message after the tool messages (a tool message takes text)", async () => {
    server.enqueue({ content: 'ok' });
    await model().generate({
      messages: [
        { role: 'user', content: 'Look at both.' },
        {
          role: 'assistant',
          content: '',
          toolCalls: [
            { id: 'call_a', name: 'screenshot', arguments: '{}' },
            { id: 'call_b', name: 'read', arguments: '{}' },
          ],
        },
        {
          role: 'tool',
          toolCallId: 'call_a',
          name: 'screenshot',
          content: [{ type: 'image', data: 'iVBORw0KGgo=', mediaType: 'image/png' }],
        },
        {
          role: 'tool',
          toolCallId: 'call_b',
          name: 'read',
          content: [
            { type: 'text', text: 'a.pdf:' },
            { type: 'file', data: 'JVBERi0=', mediaType: 'application/pdf', filename: 'a.pdf' },
          ],
        },
        { role: 'user', content: 'Well?' },
      ],
    });
    // The fake refuses a tool message with media, or any message between the calls and their results.
    expect((lastRequestBody().messages as unknown[]).slice(2)).toEqual([
      { role: 'tool', tool_call_id: 'call_a', content: 'The result is attached in the next message.' },
      { role: 'tool', tool_call_id: 'call_b', content: 'a.pdf:' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Attached to the result of screenshot (call_a):' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'text', text: 'Attached to the result of read (call_b):' },
          { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'a.pdf' } },
        ],
      },
      { role: 'user', content: 'Well?' },
    ]);
  });

  it('sends one assistant turn split in two (reasoning dropped between its calls) as one, before its results', async () => {
    server.enqueue({ content: 'ok' });
    await model().generate({
      messages: [
        { role: 'user', content: 'Look up a and b' },
        {
          role: 'assistant',
          content: '',
          reasoning: [
            { type: 'openai_item', item: { type: 'reasoning', id: 'rs_1', encrypted_content: 'x' } },
          ],
          toolCalls: [{ id: 'c1', name: 'lookup', arguments: '{"q":"a"}' }],
        },
        {
          role: 'assistant',
          content: '',
          reasoning: [
            { type: 'openai_item', item: { type: 'reasoning', id: 'rs_2', encrypted_content: 'y' } },
          ],
          toolCalls: [{ id: 'c2', name: 'lookup', arguments: '{"q":"b"}' }],
        },
        { role: 'tool', toolCallId: 'c1', name: 'lookup', content: 'A' },
        { role: 'tool', toolCallId: 'c2', name: 'lookup', content: 'B' },
      ],
    });
    expect(lastRequestBody().messages).toEqual([
      { role: 'user', content: 'Look up a and b' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'lookup', arguments: '{"q":"a"}' } },
          { id: 'c2', type: 'function', function: { name: 'lookup', arguments: '{"q":"b"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'c1', content: 'A' },
      { role: 'tool', tool_call_id: 'c2', content: 'B' },
    ]);
  });

  it('can send max_tokens for servers that only know it', async () => {
    server.enqueue({ content: 'ok' });
    await model({ maxTokensField: 'max_tokens' }).generate({ ...hello, maxOutputTokens: 10 });
    expect(lastRequestBody()).toMatchObject({ max_tokens: 10 });
    expect(lastRequestBody()).not.toHaveProperty('max_completion_tokens');
  });

  it('reads tool calls', async () => {
    server.enqueue({
      content: null,
      toolCalls: [
        { id: 'call_a', name: 'get_weather', arguments: { city: 'Paris' } },
        { id: 'call_b', name: 'get_time', arguments: '{"zone":"CET"}' },
      ],
    });
    const response = await model().generate(hello);
    expect(response.finishReason).toBe('tool_calls');
    expect(response.message).toEqual({
      role: 'assistant',
      content: '',
      toolCalls: [
        { id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { id: 'call_b', name: 'get_time', arguments: '{"zone":"CET"}' },
      ],
    });
  });

  it('reads cached and reasoning tokens', async () => {
    server.enqueue({
      content: 'ok',
      usage: { promptTokens: 2_000, completionTokens: 700, cachedTokens: 1_536, reasoningTokens: 640 },
    });
    const { usage } = await model().generate(hello);
    expect(usage).toEqual({
      inputTokens: 2_000,
      outputTokens: 700,
      cachedInputTokens: 1_536,
      reasoningTokens: 640,
      source: 'reported',
    });
  });

  it('maps finish reasons', async () => {
    const cases: [string, string][] = [
      ['stop', 'stop'],
      ['length', 'length'],
      ['content_filter', 'content_filter'],
      ['function_call', 'tool_calls'],
      ['something_new', 'other'],
    ];
    for (const [wire, expected] of cases) {
      server.enqueue({ content: 'x', finishReason: wire });
      expect((await model().generate(hello)).finishReason).toBe(expected);
    }
  });

  it('reports a refusal as content_filter with its text', async () => {
    server.enqueue({ refusal: "I can't help with that." });
    const response = await model().generate(hello);
    expect(response.finishReason).toBe('content_filter');
    expect(response.message.content).toBe("I can't help with that.");
  });

  it('sends the organization and custom headers, and uses the injected fetch', async () => {
    server.enqueue({ content: 'ok' });
    const urls: string[] = [];
    const fetchSpy: typeof fetch = (input, init) => {
      urls.push(String(input));
      return fetch(input, init);
    };
    await model({ organization: 'org-42', headers: { 'X-Trace': 'abc' }, fetch: fetchSpy }).generate(hello);
    expect(urls).toEqual([`${server.url}/chat/completions`]);
    expect(server.requests[0]?.headers).toMatchObject({ 'openai-organization': 'org-42', 'x-trace': 'abc' });
  });

  it('needs no API key for a compatible server', async () => {
    server.enqueue({ content: 'ok' });
    await model({ apiKey: undefined }).generate(hello);
    expect(server.requests[0]?.headers).not.toHaveProperty('authorization');
  });
});

describe('defaults from the environment', () => {
  it('reads OPENAI_API_KEY, OPENAI_BASE_URL and OPENAI_ORG_ID like the official SDK', async () => {
    server.enqueue({ content: 'ok' });
    const fromEnv = createOpenAICompatibleModel({
      model: 'gpt-4o',
      env: {
        OPENAI_API_KEY: ' sk-from-env-123456 ',
        OPENAI_BASE_URL: `${server.url}/`,
        OPENAI_ORG_ID: 'org-env',
      },
    });
    expect(fromEnv).toMatchObject({ provider: 'openai', modelId: 'gpt-4o' });
    await fromEnv.generate(hello);
    expect(server.requests[0]?.path).toBe('/v1/chat/completions');
    expect(server.requests[0]?.headers).toMatchObject({
      authorization: 'Bearer sk-from-env-123456',
      'openai-organization': 'org-env',
    });
  });

  it('explicit options win over the environment', async () => {
    server.enqueue({ content: 'ok' });
    await createOpenAICompatibleModel({
      model: 'gpt-4o',
      apiKey: 'sk-explicit-123456',
      baseURL: server.url,
      env: { OPENAI_API_KEY: 'sk-from-env-123456', OPENAI_BASE_URL: 'http://127.0.0.1:1/v1' },
    }).generate(hello);
    expect(server.requests[0]?.headers.authorization).toBe('Bearer sk-explicit-123456');
  });

  it('defaults to the official API, which needs a key', () => {
    const error = (() => {
      try {
        createOpenAICompatibleModel({ model: 'gpt-4o', env: { OPENAI_API_KEY: '  ' } });
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(ModelConfigError);
    expect(error).toMatchObject({ code: 'model_config_invalid' });
    expect((error as Error).message).toContain('OPENAI_API_KEY');
    expect(createOpenAICompatibleModel({ model: 'gpt-4o', env: { OPENAI_API_KEY: 'sk-x' } })).toBeDefined();
  });

  it('rejects an invalid base URL', () => {
    expect(() => createOpenAICompatibleModel({ model: 'gpt-4o', baseURL: 'not a url', env: {} })).toThrow(
      ModelConfigError,
    );
  });
});

describe('stream', () => {
  it('streams content deltas and ends with exactly one finish event', async () => {
    server.enqueue({
      content: 'The quick brown fox jumps.',
      chunkSize: 3,
      usage: { promptTokens: 12, completionTokens: 6 },
    });
    const events = await collect(model().stream(hello));
    const deltas = events.filter((event) => event.type === 'text-delta');
    expect(deltas.length).toBe(9);
    expect(deltas.map((event) => event.text).join('')).toBe('The quick brown fox jumps.');
    expect(events.filter((event) => event.type === 'finish')).toHaveLength(1);
    expect(events.at(-1)).toEqual({
      type: 'finish',
      response: {
        message: { role: 'assistant', content: 'The quick brown fox jumps.' },
        finishReason: 'stop',
        usage: {
          inputTokens: 12,
          outputTokens: 6,
          cachedInputTokens: 0,
          reasoningTokens: 0,
          source: 'reported',
        },
        modelId: 'gpt-4o-mini',
      },
    });
    expect(lastRequestBody()).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(server.requests[0]?.headers.accept).toBe('text/event-stream');
  });

  for (const interleaveToolCalls of [false, true]) {
    it(`assembles two parallel tool calls from many deltas${interleaveToolCalls ? ', interleaved' : ''}`, async () => {
      const first = { city: 'Paris', units: 'metric', detail: ['wind', 'rain'] };
      const second = { zone: 'Europe/Paris' };
      server.enqueue({
        content: 'Checking.',
        toolCalls: [
          { id: 'call_weather', name: 'get_weather', arguments: first },
          { id: 'call_time', name: 'get_time', arguments: second },
        ],
        chunkSize: 2,
        interleaveToolCalls,
        usage: { promptTokens: 50, completionTokens: 30 },
      });
      const events = await collect(model().stream(hello));
      const toolDeltas = events.filter((event) => event.type === 'tool-call-delta');
      expect(toolDeltas.length).toBeGreaterThan(20);
      // The first delta of each index carries its id and name; the rest only argument fragments.
      expect(toolDeltas.filter((event) => event.id !== undefined)).toEqual([
        { type: 'tool-call-delta', index: 0, id: 'call_weather', name: 'get_weather', argumentsDelta: '' },
        { type: 'tool-call-delta', index: 1, id: 'call_time', name: 'get_time', argumentsDelta: '' },
      ]);
      const byIndex = (index: number) =>
        toolDeltas
          .filter((event) => event.index === index)
          .map((event) => event.argumentsDelta)
          .join('');
      expect(JSON.parse(byIndex(0))).toEqual(first);
      expect(JSON.parse(byIndex(1))).toEqual(second);
      const finish = events.at(-1);
      expect(finish?.type).toBe('finish');
      if (finish?.type !== 'finish') return;
      expect(finish.response.finishReason).toBe('tool_calls');
      expect(finish.response.message).toEqual({
        role: 'assistant',
        content: 'Checking.',
        toolCalls: [
          { id: 'call_weather', name: 'get_weather', arguments: JSON.stringify(first) },
          { id: 'call_time', name: 'get_time', arguments: JSON.stringify(second) },
        ],
      });
      expect(finish.response.usage).toMatchObject({ inputTokens: 50, outputTokens: 30 });
    });
  }

  it('takes cached and reasoning tokens from the final usage chunk', async () => {
    server.enqueue({
      content: 'ok',
      usage: { promptTokens: 3_000, completionTokens: 900, cachedTokens: 2_048, reasoningTokens: 512 },
    });
    const finish = (await collect(model().stream(hello))).at(-1);
    expect(finish).toMatchObject({
      type: 'finish',
      response: {
        usage: {
          inputTokens: 3_000,
          outputTokens: 900,
          cachedInputTokens: 2_048,
          reasoningTokens: 512,
          source: 'reported',
        },
      },
    });
  });

  it('maps streamed finish reasons', async () => {
    server.enqueue({ content: 'cut', finishReason: 'length' });
    expect((await collect(model().stream(hello))).at(-1)).toMatchObject({
      response: { finishReason: 'length' },
    });
  });

  it('accepts a stream that ends after its finish reason without [DONE]', async () => {
    const chunk = (delta: object, finish: string | null = null) =>
      `data: ${JSON.stringify({ model: 'local', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    server.enqueue({
      kind: 'raw',
      body: [chunk({ role: 'assistant' }), chunk({ content: 'Hi' }), chunk({}, 'stop')],
    });
    const events = await collect(model().stream(hello));
    expect(events.at(-1)).toMatchObject({
      type: 'finish',
      response: { message: { content: 'Hi' }, finishReason: 'stop' },
    });
  });

  it('turns a truncated stream into a ModelOutputError, never a finish', async () => {
    server.enqueue({ kind: 'truncated', reply: { content: 'This answer will be cut off', chunkSize: 5 } });
    const { events, error } = await collectUntilError(model().stream(hello));
    expect(error).toBeInstanceOf(ModelOutputError);
    expect(error).toMatchObject({
      code: 'model_output_invalid',
      retryable: true,
      details: { reason: 'stream_truncated' },
    });
    expect((error as Error).message).toContain('truncated');
    expect(events.some((event) => event.type === 'finish')).toBe(false);
    expect(events.filter((event) => event.type === 'text-delta').length).toBeGreaterThan(0);
  });

  it('turns a malformed chunk into a ModelOutputError', async () => {
    server.enqueue({ kind: 'malformed-json' });
    const { error } = await collectUntilError(model().stream(hello));
    expect(error).toBeInstanceOf(ModelOutputError);
    expect(error).toMatchObject({ details: { reason: 'stream_chunk_invalid' } });
  });

  it('turns an error event in the stream into a ProviderError', async () => {
    server.enqueue({
      kind: 'raw',
      body: [
        `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'Hi' } }] })}\n\n`,
        `data: ${JSON.stringify({ error: { message: 'The server had an error', type: 'server_error' } })}\n\n`,
      ],
    });
    const { error } = await collectUntilError(model().stream(hello));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: 'provider_stream_error', retryable: true });
    expect((error as Error).message).toContain('The server had an error');
  });

  it('turns a connection reset mid-stream into a retryable ProviderError', async () => {
    server.enqueue({ kind: 'reset', afterChunks: 3, reply: { content: 'Hello there, friend' } });
    const { events, error } = await collectUntilError(model().stream(hello));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ status: undefined, retryable: true, code: 'provider_unreachable' });
    expect(events.some((event) => event.type === 'finish')).toBe(false);
  });

  it('aborts mid-stream: rejects with the signal reason and closes the connection', async () => {
    server.enqueue({ kind: 'hang', afterChunks: 3, reply: { content: 'Hello there, friend', chunkSize: 4 } });
    const controller = new AbortController();
    const reason = new Error('run cancelled');
    const { events, error } = await collectUntilAbort({
      events: model().stream(hello, { signal: controller.signal }),
      controller,
      after: 2,
      reason,
    });
    expect(error).toBe(reason);
    expect(events).toHaveLength(2);
    await expect.poll(() => server.requests[0]?.outcome).toBe('client-closed');
  });

  it('aborts with an AbortError when the signal has no reason of its own', async () => {
    server.enqueue({ kind: 'hang', afterChunks: 2 });
    const controller = new AbortController();
    const { error } = await collectUntilAbort({
      events: model().stream(hello, { signal: controller.signal }),
      controller,
      after: 1,
    });
    expect(error).toMatchObject({ name: 'AbortError' });
    await expect.poll(() => server.requests[0]?.outcome).toBe('client-closed');
  });

  it('yields no event already buffered once the signal aborts', async () => {
    const chunk = (delta: object, finish: string | null = null) =>
      `data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    // One write, so the whole answer arrives in one read and is parsed before the consumer aborts.
    server.enqueue({
      kind: 'raw',
      body: [
        chunk({ content: 'One' }) +
          chunk({ content: 'Two' }) +
          chunk({ content: 'Three' }) +
          chunk({}, 'stop') +
          'data: [DONE]\n\n',
      ],
    });
    const controller = new AbortController();
    const reason = new Error('run cancelled');
    const { events, error } = await collectUntilAbort({
      events: model().stream(hello, { signal: controller.signal }),
      controller,
      after: 1,
      reason,
    });
    expect(error).toBe(reason);
    expect(events).toEqual([{ type: 'text-delta', text: 'One' }]);
  });

  it('releases the connection when the consumer stops early', async () => {
    server.enqueue({ kind: 'hang', afterChunks: 3 });
    for await (const event of model().stream(hello)) {
      expect(event.type).toBe('text-delta');
      break;
    }
    await expect.poll(() => server.requests[0]?.outcome).toBe('client-closed');
  });

  it('fails with a ProviderError when the stream request is refused', async () => {
    server.enqueue({ kind: 'error', status: 429, retryAfter: 3 });
    const { events, error } = await collectUntilError(model().stream(hello));
    expect(events).toEqual([]);
    expect(error).toMatchObject({ status: 429, retryAfterMs: 3_000, retryable: true });
  });
});

describe('errors', () => {
  it('cuts a long error body that is not JSON without splitting a surrogate pair', async () => {
    server.enqueue({
      kind: 'raw',
      status: 503,
      headers: { 'content-type': 'text/plain' },
      body: 'a'.repeat(299) + '😀 more',
    });
    const error = await failure(model().generate(hello));
    expect(error).toMatchObject({ status: 503, retryable: true });
    const message = (error as Error).message;
    expect(message).toContain('a'.repeat(299));
    expect(message).not.toContain('\ud83d');
    expect(/[\ud800-\udbff](?![\udc00-\udfff])/.test(message)).toBe(false);
  });

  const cases = [
    { status: 400, retryable: false },
    { status: 401, retryable: false },
    { status: 404, retryable: false },
    { status: 429, retryable: true },
    { status: 500, retryable: true },
    { status: 503, retryable: true },
  ];
  for (const { status, retryable } of cases) {
    it(`maps HTTP ${status} to a ProviderError (retryable: ${retryable})`, async () => {
      server.enqueue({ kind: 'error', status, message: `Problem number ${status}` });
      const error = await failure(model().generate(hello));
      expect(error).toBeInstanceOf(ProviderError);
      expect(error).toBeInstanceOf(KeelError);
      expect(error).toMatchObject({
        status,
        retryable,
        code: `provider_http_${status}`,
        fault: 'provider',
        retryAfterMs: undefined,
      });
      expect((error as Error).message).toContain(`Problem number ${status}`);
      expect((error as Error).message).toContain('req_fake_');
    });
  }

  it('reads retry-after in seconds', async () => {
    server.enqueue({ kind: 'error', status: 429, retryAfter: 2 });
    expect(await failure(model().generate(hello))).toMatchObject({
      status: 429,
      retryAfterMs: 2_000,
      retryable: true,
    });
  });

  it('prefers retry-after-ms', async () => {
    server.enqueue({ kind: 'error', status: 429, retryAfter: 20, retryAfterMs: 150 });
    expect(await failure(model().generate(hello))).toMatchObject({ retryAfterMs: 150 });
  });

  it('reads retry-after as an HTTP date against the injected clock', async () => {
    const at = 'Wed, 21 Oct 2015 07:28:00 GMT';
    server.enqueue({ kind: 'error', status: 503, retryAfter: at });
    const clock = { now: () => Date.parse(at) - 30_000 };
    expect(await failure(model({ clock }).generate(hello))).toMatchObject({
      status: 503,
      retryAfterMs: 30_000,
    });
  });

  it('ignores an unreadable retry-after', async () => {
    server.enqueue({ kind: 'error', status: 503, retryAfter: 'soon' });
    expect(await failure(model().generate(hello))).toMatchObject({ status: 503, retryAfterMs: undefined });
  });

  it('keeps the API key out of errors, even a masked one echoed by the provider', async () => {
    server.enqueue({
      kind: 'error',
      status: 401,
      message: `Incorrect API key provided: ${API_KEY}. Also sk-test-12**********cdef.`,
      code: 'invalid_api_key',
    });
    const error = await failure(model().generate(hello));
    expect(error).toMatchObject({ status: 401, retryable: false });
    const everything = `${(error as Error).message} ${JSON.stringify(error)} ${String((error as Error).stack)}`;
    expect(everything).not.toContain(API_KEY);
    expect(everything).not.toContain('sk-test-12');
    expect((error as Error).message).toContain('invalid_api_key');
  });

  it('uses the body text when the error body is not OpenAI-shaped', async () => {
    server.enqueue({
      kind: 'raw',
      status: 502,
      headers: { 'content-type': 'text/html' },
      body: '<html>Bad gateway</html>',
    });
    const error = await failure(model().generate(hello));
    expect(error).toMatchObject({ status: 502, retryable: true });
    expect((error as Error).message).toContain('Bad gateway');
  });

  it('maps a refused connection to a retryable ProviderError without status', async () => {
    const closed = await createFakeOpenAIServer();
    await closed.close();
    const error = await failure(model({ baseURL: closed.url }).generate(hello));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ status: undefined, retryable: true, code: 'provider_unreachable' });
    expect((error as Error).message).toContain('ECONNREFUSED');
  });

  it('maps a connection reset to a retryable ProviderError without status', async () => {
    server.enqueue({ kind: 'reset' });
    expect(await failure(model().generate(hello))).toMatchObject({ status: undefined, retryable: true });
  });

  it('maps a malformed JSON body to a ModelOutputError', async () => {
    server.enqueue({ kind: 'malformed-json' });
    const error = await failure(model().generate(hello));
    expect(error).toBeInstanceOf(ModelOutputError);
    expect(error).toMatchObject({ code: 'model_output_invalid', fault: 'model' });
  });

  it('maps a body that is not a chat completion to a ModelOutputError', async () => {
    server.enqueue({
      kind: 'raw',
      headers: { 'content-type': 'application/json' },
      body: '{"choices":"nope"}',
    });
    expect(await failure(model().generate(hello))).toBeInstanceOf(ModelOutputError);
    server.enqueue({ kind: 'raw', headers: { 'content-type': 'application/json' }, body: '{"choices":[]}' });
    expect(await failure(model().generate(hello))).toBeInstanceOf(ModelOutputError);
  });

  it('aborts a hanging call with the signal reason', async () => {
    server.enqueue({ kind: 'hang' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const error = await failure(model().generate(hello, { signal: controller.signal }));
    expect(error).toMatchObject({ name: 'AbortError' });
    await expect.poll(() => server.requests[0]?.outcome).toBe('client-closed');
  });

  it('does not retry on its own', async () => {
    server.enqueue({ kind: 'error', status: 503 });
    server.enqueue({ content: 'would succeed' });
    await failure(model().generate(hello));
    expect(server.requests).toHaveLength(1);
    await model().generate(hello);
  });
});

describe('usage you can trust', () => {
  const toolRequest: ModelRequest = {
    messages: [
      { role: 'system', content: 'You are a weather bot. '.repeat(50) },
      { role: 'user', content: 'Weather in Paris and Lyon?' },
    ],
    tools: [
      {
        name: 'get_weather',
        description: 'Current weather of a city.',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    ],
  };
  const calls = [
    { id: 'call_1', name: 'get_weather', arguments: { city: 'Paris' } },
    { id: 'call_2', name: 'get_weather', arguments: { city: 'Lyon' } },
  ];
  const expected = {
    inputTokens: estimateRequestTokens(toolRequest, { model: 'gpt-4o-mini' }),
    outputTokens: estimateAnswerTokens(
      {
        role: 'assistant',
        content: '',
        toolCalls: calls.map((call) => ({ ...call, arguments: JSON.stringify(call.arguments) })),
      },
      { model: 'gpt-4o-mini' },
    ),
    source: 'estimated',
  };

  it('estimates the usage of a JSON answer without usage, tool calls included', async () => {
    server.enqueue({ toolCalls: calls, usage: 'omit' });
    const response = await model().generate(toolRequest);
    expect(response.message.toolCalls).toHaveLength(2);
    expect(response.usage).toEqual(expected);
    expect(response.usage.inputTokens).toBeGreaterThan(300);
  });

  it('estimates the usage of a stream without its usage chunk', async () => {
    server.enqueue({ toolCalls: calls, usage: 'omit' });
    const finish = (await collect(model().stream(toolRequest))).at(-1);
    expect(finish).toMatchObject({ type: 'finish', response: { usage: expected } });
  });

  it('replaces negative and absurd counts by the estimate and flags them', async () => {
    server.enqueue({ toolCalls: calls, usage: { promptTokens: -1_000_000, completionTokens: 12 } });
    expect((await model().generate(toolRequest)).usage).toEqual({
      inputTokens: expected.inputTokens,
      outputTokens: 12,
      cachedInputTokens: 0,
      reasoningTokens: 0,
      source: 'estimated',
      invalid: 'negative',
    });
    server.enqueue({ toolCalls: calls, usage: { promptTokens: 40, completionTokens: 1e12 } });
    const finish = (await collect(model().stream(toolRequest))).at(-1);
    expect(finish).toMatchObject({
      response: { usage: { inputTokens: 40, outputTokens: expected.outputTokens, invalid: 'too_large' } },
    });
  });

  it('keeps the answer when a count is not a finite number (1e999, a string)', async () => {
    const body = (usage: string) =>
      `{"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":${usage}}`;
    server.enqueue({
      kind: 'raw',
      headers: { 'content-type': 'application/json' },
      body: body('{"prompt_tokens":1e999,"completion_tokens":"2"}'),
    });
    const response = await model().generate(hello);
    expect(response.message.content).toBe('Hi');
    expect(response.usage).toMatchObject({ source: 'estimated', invalid: 'not_finite' });
    expect(response.usage.inputTokens).toBe(estimateRequestTokens(hello));
    server.enqueue({ kind: 'raw', headers: { 'content-type': 'application/json' }, body: body('"lots"') });
    expect((await model().generate(hello)).usage).toEqual({
      inputTokens: estimateRequestTokens(hello),
      outputTokens: 1,
      source: 'estimated',
    });
  });

  it('asks for the usage chunk on streams unless streamUsage is off', async () => {
    server.enqueue({ content: 'Hi' });
    await collect(model().stream(hello));
    expect(lastRequestBody().stream_options).toEqual({ include_usage: true });
    server.enqueue({ content: 'Hi' });
    const finish = (await collect(model({ streamUsage: false }).stream(hello))).at(-1);
    expect(lastRequestBody()).not.toHaveProperty('stream_options');
    // Without the chunk, the fake (like OpenAI) sends no counts: they are estimated.
    expect(finish).toMatchObject({ response: { usage: { source: 'estimated' } } });
    server.enqueue({ content: 'Hi' });
    await model({ streamUsage: false }).generate(hello);
    expect(lastRequestBody()).not.toHaveProperty('stream_options');
  });

  it('estimates an embeddings answer without usage', async () => {
    const embedder = createOpenAIEmbeddingModel({
      model: 'text-embedding-3-small',
      apiKey: API_KEY,
      baseURL: server.url,
      env: {},
      fetch: async () =>
        new Response(JSON.stringify({ data: [{ index: 0, embedding: [0.1, 0.2] }] }), {
          headers: { 'content-type': 'application/json' },
        }),
    });
    const result = await embedder.embed({ input: ['Hello world'] });
    expect(result.usage).toEqual({
      inputTokens: estimateTextTokens('Hello world', { model: 'text-embedding-3-small' }),
    });
  });
});

describe('createOpenAIEmbeddingModel', () => {
  const embedder = (options: Partial<OpenAIEmbeddingModelOptions> = {}) =>
    createOpenAIEmbeddingModel({
      model: 'text-embedding-3-small',
      apiKey: API_KEY,
      baseURL: server.url,
      env: {},
      ...options,
    });

  it('embeds an input array in order, with usage', async () => {
    const result = await embedder().embed({ input: ['alpha', 'beta', 'alpha'] });
    expect(result.embeddings).toEqual([
      fakeEmbedding('alpha'),
      fakeEmbedding('beta'),
      fakeEmbedding('alpha'),
    ]);
    expect(result.usage).toEqual({ inputTokens: 5 });
    expect(server.requests[0]).toMatchObject({ method: 'POST', path: '/v1/embeddings' });
    expect(server.requests[0]?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(lastRequestBody()).toEqual({
      model: 'text-embedding-3-small',
      input: ['alpha', 'beta', 'alpha'],
      encoding_format: 'float',
    });
  });

  it('passes dimensions through', async () => {
    const result = await embedder().embed({ input: ['alpha'], dimensions: 32 });
    expect(result.embeddings[0]).toHaveLength(32);
    expect(lastRequestBody()).toMatchObject({ dimensions: 32 });
  });

  it('makes no call for an empty input', async () => {
    expect(await embedder().embed({ input: [] })).toEqual({ embeddings: [], usage: { inputTokens: 0 } });
    expect(server.requests).toHaveLength(0);
  });

  it('maps faults like the chat adapter', async () => {
    server.enqueueEmbeddingFault({ kind: 'error', status: 429, retryAfter: 3 });
    expect(await failure(embedder().embed({ input: ['x'] }))).toMatchObject({
      status: 429,
      retryable: true,
      retryAfterMs: 3_000,
    });
    server.enqueueEmbeddingFault({ kind: 'malformed-json' });
    expect(await failure(embedder().embed({ input: ['x'] }))).toBeInstanceOf(ModelOutputError);
    server.enqueueEmbeddingFault({ kind: 'reset' });
    expect(await failure(embedder().embed({ input: ['x'] }))).toMatchObject({
      status: undefined,
      retryable: true,
    });
    server.enqueueEmbeddingFault({ kind: 'hang' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    expect(await failure(embedder().embed({ input: ['x'] }, { signal: controller.signal }))).toMatchObject({
      name: 'AbortError',
    });
  });

  it('rejects an answer with the wrong number of vectors', async () => {
    const fetchOne: typeof fetch = () =>
      Promise.resolve(
        new Response(
          JSON.stringify({ data: [{ index: 0, embedding: [1, 0] }], usage: { prompt_tokens: 2 } }),
          {
            headers: { 'content-type': 'application/json' },
          },
        ),
      );
    expect(await failure(embedder({ fetch: fetchOne }).embed({ input: ['a', 'b'] }))).toBeInstanceOf(
      ModelOutputError,
    );
  });

  it('needs a key for the official API', () => {
    expect(() => createOpenAIEmbeddingModel({ model: 'text-embedding-3-small', env: {} })).toThrow(
      ModelConfigError,
    );
    expect(
      createOpenAIEmbeddingModel({ model: 'text-embedding-3-small', env: { OPENAI_API_KEY: 'sk-x' } }),
    ).toMatchObject({
      provider: 'openai',
      modelId: 'text-embedding-3-small',
    });
  });
});
