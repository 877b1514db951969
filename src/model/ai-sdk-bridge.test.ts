import { createOpenAI } from '@ai-sdk/openai';
import type { LanguageModelV2, LanguageModelV2StreamPart } from '@ai-sdk/provider';
import { describe, expect, it } from 'vitest';
import { ModelConfigError, ModelOutputError, ProviderError } from '../errors/model-errors.js';
import { createFakeOpenAIServer } from '../testing/fake-openai-server.js';
import {
  collect,
  collectUntilAbort,
  collectUntilError,
  failure,
  startFakeServer,
} from '../testing/provider-test-harness.js';
import { fromAiSdk, type AiSdkLanguageModel } from './ai-sdk-bridge.js';
import type { LanguageModel, ModelRequest } from './model.js';
import { estimateRequestTokens, estimateTextTokens } from './token-estimate.js';

const hello: ModelRequest = { messages: [{ role: 'user', content: 'Hello' }] };

const server = await startFakeServer(createFakeOpenAIServer);
// The real AI SDK provider package, speaking to a local server that speaks OpenAI's wire format.
const model: LanguageModel = fromAiSdk(
  createOpenAI({ baseURL: server.url, apiKey: 'sk-ai-sdk-test' }).chat('gpt-4o-mini'),
);

const lastRequestBody = () => server.requests.at(-1)?.body as Record<string, unknown>;

describe('fromAiSdk with @ai-sdk/openai', () => {
  it('names the provider for pricing and passes the model id through', () => {
    expect(model).toMatchObject({ provider: 'openai', modelId: 'gpt-4o-mini' });
    const named = fromAiSdk(createOpenAI({ baseURL: server.url, apiKey: 'x' }).chat('gpt-4o'), {
      provider: 'azure',
    });
    expect(named.provider).toBe('azure');
  });

  it('generates: translates the request and reads text, usage and the answering model', async () => {
    server.enqueue({
      content: 'It is 21°C.',
      model: 'gpt-4o-mini-2024-07-18',
      usage: { promptTokens: 120, completionTokens: 7, cachedTokens: 64, reasoningTokens: 0 },
    });
    const schema = {
      type: 'object',
      properties: { answer: { type: 'string' } },
      required: ['answer'],
      additionalProperties: false,
    };
    const response = await model.generate({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather and time in Paris?' },
        {
          role: 'assistant',
          content: '',
          toolCalls: [
            { id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
            { id: 'call_2', name: 'get_time', arguments: '{"zone":"CET"}' },
          ],
        },
        { role: 'tool', toolCallId: 'call_1', name: 'get_weather', content: '{"celsius":21}' },
        { role: 'tool', toolCallId: 'call_2', name: 'get_time', content: 'no such zone', isError: true },
      ],
      tools: [
        {
          name: 'get_weather',
          description: 'Current weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      ],
      toolChoice: { name: 'get_weather' },
      responseFormat: { type: 'json', schema, name: 'reply' },
      maxOutputTokens: 200,
      temperature: 0.3,
      topP: 0.8,
      stop: ['END'],
      seed: 7,
    });
    expect(response).toEqual({
      message: { role: 'assistant', content: 'It is 21°C.' },
      finishReason: 'stop',
      usage: {
        inputTokens: 120,
        outputTokens: 7,
        cachedInputTokens: 64,
        reasoningTokens: 0,
        source: 'reported',
      },
      modelId: 'gpt-4o-mini-2024-07-18',
    });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.headers.authorization).toBe('Bearer sk-ai-sdk-test');
    expect(lastRequestBody()).toMatchObject({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather and time in Paris?' },
        {
          role: 'assistant',
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{"zone":"CET"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"celsius":21}' },
        { role: 'tool', tool_call_id: 'call_2', content: 'no such zone' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Current weather' } }],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      response_format: { type: 'json_schema', json_schema: { name: 'reply', schema } },
      max_tokens: 200,
      temperature: 0.3,
      top_p: 0.8,
      stop: ['END'],
      seed: 7,
    });
  });

  it("sends a tool result's images after the tool messages, in a user message", async () => {
    server.enqueue({ content: 'A cat.' });
    await model.generate({
      messages: [
        { role: 'user', content: 'What is on screen?' },
        {
          role: 'assistant',
          content: '',
          toolCalls: [{ id: 'call_1', name: 'screenshot', arguments: '{}' }],
        },
        {
          role: 'tool',
          toolCallId: 'call_1',
          name: 'screenshot',
          content: [
            { type: 'text', text: 'screen:' },
            { type: 'image', data: 'iVBORw0KGgo=', mediaType: 'image/png' },
          ],
        },
      ],
    });
    expect((lastRequestBody().messages as unknown[]).slice(2)).toEqual([
      { role: 'tool', tool_call_id: 'call_1', content: 'screen:' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Attached to the result of screenshot (call_1):' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
        ],
      },
    ]);
  });

  it('generates tool calls', async () => {
    server.enqueue({
      content: null,
      toolCalls: [
        { id: 'call_a', name: 'get_weather', arguments: { city: 'Paris' } },
        { id: 'call_b', name: 'get_time', arguments: {} },
      ],
    });
    const response = await model.generate(hello);
    expect(response.finishReason).toBe('tool_calls');
    expect(response.message).toEqual({
      role: 'assistant',
      content: '',
      toolCalls: [
        { id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { id: 'call_b', name: 'get_time', arguments: '{}' },
      ],
    });
  });

  it('maps finish reasons', async () => {
    for (const [wire, expected] of [
      ['length', 'length'],
      ['content_filter', 'content_filter'],
    ] as const) {
      server.enqueue({ content: 'x', finishReason: wire });
      expect((await model.generate(hello)).finishReason).toBe(expected);
    }
  });

  it('streams text and tool-call deltas, then one finish', async () => {
    const first = { city: 'Paris', units: 'metric', detail: ['wind', 'rain'] };
    const second = { zone: 'Europe/Paris' };
    server.enqueue({
      content: 'Checking.',
      toolCalls: [
        { id: 'call_weather', name: 'get_weather', arguments: first },
        { id: 'call_time', name: 'get_time', arguments: second },
      ],
      chunkSize: 3,
      usage: { promptTokens: 50, completionTokens: 30, cachedTokens: 0, reasoningTokens: 0 },
    });
    const events = await collect(model.stream(hello));
    expect(lastRequestBody()).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(
      events
        .filter((event) => event.type === 'text-delta')
        .map((event) => event.text)
        .join(''),
    ).toBe('Checking.');
    const toolDeltas = events.filter((event) => event.type === 'tool-call-delta');
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
    expect(toolDeltas.length).toBeGreaterThan(10);
    expect(events.filter((event) => event.type === 'finish')).toHaveLength(1);
    expect(events.at(-1)).toEqual({
      type: 'finish',
      response: {
        message: {
          role: 'assistant',
          content: 'Checking.',
          toolCalls: [
            { id: 'call_weather', name: 'get_weather', arguments: JSON.stringify(first) },
            { id: 'call_time', name: 'get_time', arguments: JSON.stringify(second) },
          ],
        },
        finishReason: 'tool_calls',
        usage: {
          inputTokens: 50,
          outputTokens: 30,
          cachedInputTokens: 0,
          reasoningTokens: 0,
          source: 'reported',
        },
        modelId: 'gpt-4o-mini',
      },
    });
  });

  it('makes one request per call: the bridge never retries', async () => {
    server.enqueue({ kind: 'error', status: 503 });
    server.enqueue({ kind: 'error', status: 503 });
    server.enqueue({ content: 'would succeed' });
    expect(await failure(model.generate(hello))).toMatchObject({ status: 503, retryable: true });
    expect(server.requests).toHaveLength(1);
    expect((await collectUntilError(model.stream(hello))).error).toMatchObject({ status: 503 });
    expect(server.requests).toHaveLength(2);
    await model.generate(hello);
  });
});

describe('errors through the bridge', () => {
  it('maps HTTP errors to ProviderErrors with status, retryability and retry-after', async () => {
    server.enqueue({ kind: 'error', status: 429, retryAfter: 2, message: 'Slow down' });
    const limited = await failure(model.generate(hello));
    expect(limited).toBeInstanceOf(ProviderError);
    expect(limited).toMatchObject({
      status: 429,
      retryable: true,
      retryAfterMs: 2_000,
      code: 'provider_http_429',
    });
    expect((limited as Error).message).toContain('Slow down');
    server.enqueue({ kind: 'error', status: 400, message: 'Bad request' });
    expect(await failure(model.generate(hello))).toMatchObject({ status: 400, retryable: false });
    server.enqueue({ kind: 'error', status: 429, retryAfterMs: 250 });
    expect((await collectUntilError(model.stream(hello))).error).toMatchObject({
      status: 429,
      retryAfterMs: 250,
    });
  });

  it('masks API keys the provider echoes back', async () => {
    server.enqueue({ kind: 'error', status: 401, message: 'Incorrect API key provided: sk-ai-sdk-test.' });
    const error = await failure(model.generate(hello));
    expect(error).toMatchObject({ status: 401, retryable: false });
    expect((error as Error).message).not.toContain('sk-ai-sdk-test');
    expect(JSON.stringify(error)).not.toContain('sk-ai-sdk-test');
  });

  it('maps an unreadable answer to a ModelOutputError', async () => {
    server.enqueue({ kind: 'malformed-json' });
    const error = await failure(model.generate(hello));
    expect(error).toBeInstanceOf(ModelOutputError);
    expect(error).toMatchObject({ code: 'model_output_invalid', retryable: true });
  });

  it('maps a refused or reset connection to a retryable ProviderError without status', async () => {
    server.enqueue({ kind: 'reset' });
    expect(await failure(model.generate(hello))).toMatchObject({ status: undefined, retryable: true });
  });

  it('turns an error chunk after the first output into a ProviderError, never a finish', async () => {
    server.enqueue({
      kind: 'raw',
      body: [
        `data: ${JSON.stringify({ id: 'c', model: 'gpt-4o-mini', choices: [{ index: 0, delta: { content: 'Hi' } }] })}\n\n`,
        `data: ${JSON.stringify({ error: { message: 'The server had an error', type: 'server_error' } })}\n\n`,
      ],
    });
    const { events, error } = await collectUntilError(model.stream(hello));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: 'provider_stream_error', retryable: true });
    expect((error as Error).message).toContain('The server had an error');
    expect(events).toEqual([{ type: 'text-delta', text: 'Hi' }]);
  });

  it('turns a truncated stream into a ModelOutputError, never a finish', async () => {
    server.enqueue({ kind: 'truncated', reply: { content: 'This answer will be cut off', chunkSize: 5 } });
    const { events, error } = await collectUntilError(model.stream(hello));
    expect(error).toBeInstanceOf(ModelOutputError);
    expect(error).toMatchObject({ details: { reason: 'stream_truncated' } });
    expect(events.filter((event) => event.type === 'text-delta').length).toBeGreaterThan(0);
    expect(events.some((event) => event.type === 'finish')).toBe(false);
  });

  it('turns a reset mid-stream into a retryable ProviderError without status', async () => {
    for (const afterChunks of [1, 3, 6]) {
      server.enqueue({
        kind: 'reset',
        afterChunks,
        reply: { content: 'Hello there, my friend, how are you?' },
      });
      const { events, error } = await collectUntilError(model.stream(hello));
      expect(error).toBeInstanceOf(ProviderError);
      expect(error).toMatchObject({ status: undefined, retryable: true, code: 'provider_unreachable' });
      expect((error as Error).message).toContain('other side closed');
      expect(events.some((event) => event.type === 'finish')).toBe(false);
    }
  });

  it('aborts mid-stream: rejects with the signal reason and closes the upstream connection', async () => {
    server.enqueue({ kind: 'hang', afterChunks: 4, reply: { content: 'Hello there, friend', chunkSize: 4 } });
    const controller = new AbortController();
    const reason = new Error('run cancelled');
    const { events, error } = await collectUntilAbort({
      events: model.stream(hello, { signal: controller.signal }),
      controller,
      after: 2,
      reason,
    });
    expect(error).toBe(reason);
    expect(events).toHaveLength(2);
    await expect.poll(() => server.requests[0]?.outcome).toBe('client-closed');
  });

  it('aborts a hanging generate with the signal reason', async () => {
    server.enqueue({ kind: 'hang' });
    const controller = new AbortController();
    const reason = new Error('deadline');
    setTimeout(() => controller.abort(reason), 20);
    expect(await failure(model.generate(hello, { signal: controller.signal }))).toBe(reason);
    await expect.poll(() => server.requests[0]?.outcome).toBe('client-closed');
  });
});

/** A hand-written specification-v2 model (AI SDK 5): flat usage, string finish reasons. */
function v2Model({
  content = [],
  parts = [],
  error,
}: {
  content?: Awaited<ReturnType<LanguageModelV2['doGenerate']>>['content'];
  parts?: LanguageModelV2StreamPart[];
  error?: unknown;
}): LanguageModelV2 & { calls: unknown[] } {
  const calls: unknown[] = [];
  return {
    specificationVersion: 'v2',
    provider: 'acme.chat',
    modelId: 'acme-1',
    supportedUrls: {},
    calls,
    doGenerate(options) {
      calls.push(options);
      if (error !== undefined) return Promise.reject(error as Error);
      return Promise.resolve({
        content,
        finishReason: 'tool-calls',
        usage: {
          inputTokens: 11,
          outputTokens: 5,
          totalTokens: 16,
          cachedInputTokens: 3,
          reasoningTokens: 2,
        },
        warnings: [],
      });
    },
    doStream(options) {
      calls.push(options);
      return Promise.resolve({
        stream: new ReadableStream<LanguageModelV2StreamPart>({
          start(controller) {
            for (const part of parts) controller.enqueue(part);
            controller.close();
          },
        }),
      });
    },
  };
}

describe('fromAiSdk with a specification-v2 model', () => {
  it('reads flat usage and string finish reasons, and passes call options', async () => {
    const source = v2Model({
      content: [
        { type: 'reasoning', text: 'hmm' },
        { type: 'text', text: 'Calling.' },
        { type: 'tool-call', toolCallId: 't1', toolName: 'lookup', input: '{"q":"x"}' },
      ],
    });
    const bridged = fromAiSdk(source);
    expect(bridged.provider).toBe('acme');
    const controller = new AbortController();
    const response = await bridged.generate(
      {
        ...hello,
        tools: [{ name: 'lookup', description: 'Look up', parameters: { type: 'object' } }],
        toolChoice: 'required',
      },
      { signal: controller.signal },
    );
    expect(response).toEqual({
      message: {
        role: 'assistant',
        content: 'Calling.',
        toolCalls: [{ id: 't1', name: 'lookup', arguments: '{"q":"x"}' }],
      },
      finishReason: 'tool_calls',
      usage: {
        inputTokens: 11,
        outputTokens: 5,
        cachedInputTokens: 3,
        reasoningTokens: 2,
        source: 'reported',
      },
      modelId: 'acme-1',
    });
    expect(source.calls[0]).toEqual({
      prompt: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }],
      tools: [{ type: 'function', name: 'lookup', description: 'Look up', inputSchema: { type: 'object' } }],
      toolChoice: { type: 'required' },
      abortSignal: controller.signal,
    });
  });

  it('streams whole tool-call parts and takes the finish part', async () => {
    const bridged = fromAiSdk(
      v2Model({
        parts: [
          { type: 'stream-start', warnings: [] },
          { type: 'response-metadata', modelId: 'acme-1-2025' },
          { type: 'text-start', id: '0' },
          { type: 'text-delta', id: '0', delta: 'Hi' },
          { type: 'text-end', id: '0' },
          { type: 'tool-call', toolCallId: 't1', toolName: 'lookup', input: '{"q":"x"}' },
          {
            type: 'finish',
            finishReason: 'tool-calls',
            usage: { inputTokens: 4, outputTokens: 2, totalTokens: 6 },
          },
        ],
      }),
    );
    expect(await collect(bridged.stream(hello))).toEqual([
      { type: 'text-delta', text: 'Hi' },
      { type: 'tool-call-delta', index: 0, id: 't1', name: 'lookup', argumentsDelta: '{"q":"x"}' },
      {
        type: 'finish',
        response: {
          message: {
            role: 'assistant',
            content: 'Hi',
            toolCalls: [{ id: 't1', name: 'lookup', arguments: '{"q":"x"}' }],
          },
          finishReason: 'tool_calls',
          usage: { inputTokens: 4, outputTokens: 2, source: 'reported' },
          modelId: 'acme-1-2025',
        },
      },
    ]);
  });

  it('treats a stream without a finish reason as truncated, unless told otherwise', async () => {
    const parts: LanguageModelV2StreamPart[] = [
      { type: 'text-delta', id: '0', delta: 'Hi' },
      { type: 'finish', finishReason: 'unknown', usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } },
    ];
    const { error } = await collectUntilError(fromAiSdk(v2Model({ parts })).stream(hello));
    expect(error).toMatchObject({ details: { reason: 'stream_truncated' } });
    const events = await collect(
      fromAiSdk(v2Model({ parts }), { acceptMissingFinishReason: true }).stream(hello),
    );
    expect(events.at(-1)).toMatchObject({ type: 'finish', response: { finishReason: 'other' } });
    const noFinish = await collectUntilError(fromAiSdk(v2Model({ parts: parts.slice(0, 1) })).stream(hello));
    expect(noFinish.error).toBeInstanceOf(ModelOutputError);
  });

  it('turns an error part into a ProviderError and passes unknown errors through', async () => {
    const { error } = await collectUntilError(
      fromAiSdk(
        v2Model({ parts: [{ type: 'error', error: { message: 'Overloaded', type: 'overloaded_error' } }] }),
      ).stream(hello),
    );
    expect(error).toMatchObject({ code: 'provider_stream_error', retryable: true });
    expect((error as Error).message).toContain('Overloaded (overloaded_error)');
    const bug = new TypeError('a bug in the provider');
    expect(await failure(fromAiSdk(v2Model({ error: bug })).generate(hello))).toBe(bug);
  });

  it('refuses models of other specification versions', () => {
    const v1 = { ...v2Model({}), specificationVersion: 'v1' } as unknown as AiSdkLanguageModel;
    expect(() => fromAiSdk(v1)).toThrow(ModelConfigError);
  });
});

describe('fromAiSdk: usage you can trust', () => {
  it('estimates what an upstream behind the AI SDK did not report, plain and streamed', async () => {
    server.enqueue({ content: 'No counts.', usage: 'omit' });
    expect((await model.generate(hello)).usage).toEqual({
      inputTokens: estimateRequestTokens(hello),
      outputTokens: estimateTextTokens('No counts.'),
      source: 'estimated',
    });
    server.enqueue({ content: 'No counts.', usage: 'omit' });
    expect((await collect(model.stream(hello))).at(-1)).toMatchObject({
      response: { usage: { inputTokens: estimateRequestTokens(hello), source: 'estimated' } },
    });
  });

  it('replaces negative counts of an AI SDK model by the estimate', async () => {
    const bridged = fromAiSdk(
      v2Model({
        parts: [
          { type: 'text-delta', id: '0', delta: 'Hi' },
          {
            type: 'finish',
            finishReason: 'stop',
            usage: { inputTokens: -900, outputTokens: 3, totalTokens: -897 },
          },
        ],
      }),
    );
    expect((await collect(bridged.stream(hello))).at(-1)).toMatchObject({
      response: {
        usage: {
          inputTokens: estimateRequestTokens(hello),
          outputTokens: 3,
          source: 'estimated',
          invalid: 'negative',
        },
      },
    });
  });
});

describe('provider-specific fields', () => {
  it('sends an image part through the AI SDK to the provider wire', async () => {
    server.enqueue({ content: 'A cat.' });
    await model.generate({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image', data: 'iVBORw0KGgo=', mediaType: 'image/png' },
          ],
        },
      ],
    });
    const body = server.requests.at(-1)?.body as { messages: { content: unknown[] }[] };
    expect(body.messages[0]?.content[1]).toMatchObject({
      type: 'image_url',
      image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' },
    });
  });

  it('refuses what the bridge cannot reach before calling the model', async () => {
    const error = await failure(
      model.generate({ messages: [{ role: 'user', content: 'Hi' }], reasoning: { effort: 'high' } }),
    );
    expect(error).toMatchObject({ code: 'unsupported_field', field: 'reasoning.effort' });
    expect(server.requests).toHaveLength(0);
  });
});
