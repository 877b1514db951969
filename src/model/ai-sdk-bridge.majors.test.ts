/**
 * fromAiSdk with the real provider packages of two AI SDK majors: AI SDK 6 (`@ai-sdk/openai` 3,
 * specification v3) and AI SDK 7 (`@ai-sdk/openai` 4, installed as `ai-sdk-openai-v4`,
 * specification v4), each talking to Keel's fake OpenAI server at the wire.
 */
import { createOpenAI as createOpenAIv3 } from '@ai-sdk/openai';
import { createOpenAI as createOpenAIv4 } from 'ai-sdk-openai-v4';
import type { LanguageModelV4, LanguageModelV4StreamPart } from 'ai-sdk-provider-v4';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelOutputError } from '../errors/model-errors.js';
import { createFakeOpenAIServer } from '../testing/fake-openai-server.js';
import { collect, collectUntilError, failure, startFakeServer } from '../testing/provider-test-harness.js';
import { fromAiSdk, type AiSdkLanguageModel, type AiSdkWarning } from './ai-sdk-bridge.js';
import type { ModelRequest } from './model.js';

const hello: ModelRequest = { messages: [{ role: 'user', content: 'Hello' }] };
const weatherTool = {
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  },
};

const server = await startFakeServer(createFakeOpenAIServer);
afterAll(() => server.close());

// Each major's own `createOpenAI(...).chat(...)`, typed by its own `@ai-sdk/provider`: both must
// be accepted by fromAiSdk's structural type as they are.
const majors: { name: string; specification: string; make: () => AiSdkLanguageModel }[] = [
  {
    name: 'AI SDK 6 (@ai-sdk/openai 3)',
    specification: 'v3',
    make: () => createOpenAIv3({ baseURL: server.url, apiKey: 'sk-six' }).chat('gpt-4o-mini'),
  },
  {
    name: 'AI SDK 7 (@ai-sdk/openai 4)',
    specification: 'v4',
    make: () => createOpenAIv4({ baseURL: server.url, apiKey: 'sk-seven' }).chat('gpt-4o-mini'),
  },
];

describe.each(majors)('fromAiSdk with $name', ({ specification, make }) => {
  const source = make();
  const model = fromAiSdk(source);

  it('is the specification it claims', () => {
    expect(source.specificationVersion).toBe(specification);
    expect(model).toMatchObject({ provider: 'openai', modelId: 'gpt-4o-mini' });
  });

  it('generates text with the reported usage', async () => {
    server.enqueue({
      content: 'Hi there.',
      model: 'gpt-4o-mini-2024-07-18',
      usage: { promptTokens: 21, completionTokens: 3, cachedTokens: 16, reasoningTokens: 0 },
    });
    const response = await model.generate({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hello' },
      ],
      temperature: 0.2,
      maxOutputTokens: 50,
    });
    expect(response).toEqual({
      message: { role: 'assistant', content: 'Hi there.' },
      finishReason: 'stop',
      usage: {
        inputTokens: 21,
        outputTokens: 3,
        cachedInputTokens: 16,
        reasoningTokens: 0,
        source: 'reported',
      },
      modelId: 'gpt-4o-mini-2024-07-18',
    });
    expect(server.requests.at(-1)?.body).toMatchObject({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hello' },
      ],
      temperature: 0.2,
      max_tokens: 50,
    });
  });

  it('sends an image, inline and by URL, in the wire form of chat completions', async () => {
    server.enqueue({ content: 'Two cats.' });
    await model.generate({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What are these?' },
            { type: 'image', data: 'iVBORw0KGgo=', mediaType: 'image/png' },
            { type: 'image', url: 'https://example.test/cat.jpg', mediaType: 'image/jpeg' },
          ],
        },
      ],
    });
    const body = server.requests.at(-1)?.body as { messages: { content: unknown[] }[] };
    expect(body.messages[0]?.content).toEqual([
      { type: 'text', text: 'What are these?' },
      expect.objectContaining({
        type: 'image_url',
        image_url: expect.objectContaining({ url: 'data:image/png;base64,iVBORw0KGgo=' }),
      }),
      expect.objectContaining({
        type: 'image_url',
        image_url: expect.objectContaining({ url: 'https://example.test/cat.jpg' }),
      }),
    ]);
  });

  it('generates tool calls and sends their results back', async () => {
    server.enqueue({
      content: null,
      toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: { city: 'Paris' } }],
    });
    const first = await model.generate({ ...hello, tools: [weatherTool] });
    expect(first.finishReason).toBe('tool_calls');
    expect(first.message).toEqual({
      role: 'assistant',
      content: '',
      toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }],
    });
    expect(server.requests.at(-1)?.body).toMatchObject({
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: weatherTool.parameters } }],
    });

    server.enqueue({ content: 'It is 21°C in Paris.' });
    const second = await model.generate({
      messages: [
        ...hello.messages,
        first.message,
        { role: 'tool', toolCallId: 'call_1', name: 'get_weather', content: '{"celsius":21}' },
      ],
      tools: [weatherTool],
    });
    expect(second.message.content).toBe('It is 21°C in Paris.');
    expect(server.requests.at(-1)?.body).toMatchObject({
      messages: [
        { role: 'user', content: 'Hello' },
        {
          role: 'assistant',
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"celsius":21}' },
      ],
    });
  });

  it('streams text and tool calls, then one finish', async () => {
    const args = { city: 'Paris' };
    server.enqueue({
      content: 'Checking.',
      toolCalls: [{ id: 'call_s', name: 'get_weather', arguments: args }],
      chunkSize: 3,
      usage: { promptTokens: 30, completionTokens: 12, cachedTokens: 0, reasoningTokens: 0 },
    });
    const events = await collect(model.stream({ ...hello, tools: [weatherTool] }));
    const text = events.flatMap((event) => (event.type === 'text-delta' ? [event.text] : [])).join('');
    expect(text).toBe('Checking.');
    const argumentsText = events
      .flatMap((event) => (event.type === 'tool-call-delta' ? [event.argumentsDelta] : []))
      .join('');
    expect(JSON.parse(argumentsText)).toEqual(args);
    expect(events.filter((event) => event.type === 'finish')).toHaveLength(1);
    expect(events.at(-1)).toEqual({
      type: 'finish',
      response: {
        message: {
          role: 'assistant',
          content: 'Checking.',
          toolCalls: [{ id: 'call_s', name: 'get_weather', arguments: JSON.stringify(args) }],
        },
        finishReason: 'tool_calls',
        usage: {
          inputTokens: 30,
          outputTokens: 12,
          cachedInputTokens: 0,
          reasoningTokens: 0,
          source: 'reported',
        },
        modelId: 'gpt-4o-mini',
      },
    });
  });

  it('turns a stream cut before its finish chunk into a ModelOutputError', async () => {
    server.enqueue({ kind: 'truncated', reply: { content: 'This answer will be cut off', chunkSize: 5 } });
    const { events, error } = await collectUntilError(model.stream(hello));
    expect(error).toBeInstanceOf(ModelOutputError);
    expect(error).toMatchObject({ details: { reason: 'stream_truncated' } });
    expect(events.some((event) => event.type === 'finish')).toBe(false);
  });

  it('maps HTTP errors to ProviderErrors', async () => {
    server.enqueue({ kind: 'error', status: 429, retryAfter: 2 });
    expect(await failure(model.generate(hello))).toMatchObject({
      status: 429,
      retryable: true,
      retryAfterMs: 2000,
    });
  });
});

/** A hand-made v4 model, for what the OpenAI package does not send (typed by `@ai-sdk/provider` 4). */
function v4Model({
  generate,
  parts = [],
}: {
  generate?: Partial<Awaited<ReturnType<LanguageModelV4['doGenerate']>>>;
  parts?: LanguageModelV4StreamPart[];
}): LanguageModelV4 {
  return {
    specificationVersion: 'v4',
    provider: 'acme.chat',
    modelId: 'acme-7',
    supportedUrls: {},
    doGenerate: () =>
      Promise.resolve({
        content: [],
        finishReason: { unified: 'stop', raw: 'stop' },
        usage: {
          inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
          outputTokens: { total: 4, text: 4, reasoning: undefined },
        },
        warnings: [],
        ...generate,
      }),
    doStream: () =>
      Promise.resolve({
        stream: new ReadableStream<LanguageModelV4StreamPart>({
          start(controller) {
            for (const part of parts) controller.enqueue(part);
            controller.close();
          },
        }),
      }),
  };
}

const finish = (unified: 'stop' | 'tool-calls' | 'interrupted'): LanguageModelV4StreamPart => ({
  type: 'finish',
  finishReason: { unified, raw: unified === 'interrupted' ? undefined : unified },
  usage: {
    inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
    outputTokens: { total: 4, text: 4, reasoning: undefined },
  },
});

describe('fromAiSdk with specification v4 parts', () => {
  it('skips custom parts and approval requests, and reads the JSON answer from structuredOutputText', async () => {
    const model = fromAiSdk(
      v4Model({
        generate: {
          content: [
            { type: 'text', text: 'Draft: maybe 20.' },
            { type: 'custom', kind: 'acme.note', providerMetadata: {} },
            { type: 'tool-approval-request', approvalId: 'a1', toolCallId: 'mcp_1' },
            { type: 'text', text: '{"celsius":21}' },
          ],
          structuredOutputText: '{"celsius":21}',
        },
      }),
    );
    const json = await model.generate({ ...hello, responseFormat: { type: 'json' } });
    expect(json.message).toEqual({ role: 'assistant', content: '{"celsius":21}' });
    expect(json.usage).toMatchObject({ inputTokens: 10, outputTokens: 4, source: 'reported' });
    const plain = await model.generate(hello);
    expect(plain.message.content).toBe('Draft: maybe 20.{"celsius":21}');
  });

  it('streams text-encoded tool input as the JSON of the tool call, and ignores pings', async () => {
    const model = fromAiSdk(
      v4Model({
        parts: [
          { type: 'stream-start', warnings: [] },
          { type: 'ping' },
          { type: 'tool-input-start', id: 'c1', toolName: 'shell', inputEncoding: 'text' },
          { type: 'tool-input-delta', id: 'c1', delta: 'ls -' },
          { type: 'tool-input-delta', id: 'c1', delta: 'la' },
          { type: 'tool-input-end', id: 'c1' },
          { type: 'tool-call', toolCallId: 'c1', toolName: 'shell', input: '"ls -la"' },
          finish('tool-calls'),
        ],
      }),
    );
    const events = await collect(model.stream(hello));
    expect(events.filter((event) => event.type === 'tool-call-delta')).toEqual([
      { type: 'tool-call-delta', index: 0, id: 'c1', name: 'shell', argumentsDelta: '' },
      { type: 'tool-call-delta', index: 0, argumentsDelta: '"ls -la"' },
    ]);
    expect(events.at(-1)).toMatchObject({
      type: 'finish',
      response: {
        message: { toolCalls: [{ id: 'c1', name: 'shell', arguments: '"ls -la"' }] },
        finishReason: 'tool_calls',
      },
    });
  });

  it('treats an interrupted answer as cut off, even when missing finish reasons are accepted', async () => {
    const streamed = fromAiSdk(
      v4Model({ parts: [{ type: 'text-delta', id: 't', delta: 'Half' }, finish('interrupted')] }),
      { acceptMissingFinishReason: true },
    );
    const { error } = await collectUntilError(streamed.stream(hello));
    expect(error).toBeInstanceOf(ModelOutputError);
    expect(error).toMatchObject({ details: { reason: 'stream_truncated' } });
    const generated = fromAiSdk(
      v4Model({ generate: { finishReason: { unified: 'interrupted', raw: undefined } } }),
    );
    expect(await failure(generated.generate(hello))).toMatchObject({
      code: 'model_output_invalid',
      details: { reason: 'response_truncated' },
    });
  });

  it('reports the warnings of every specification in one shape', async () => {
    const warnings: AiSdkWarning[] = [];
    const onWarning = (warning: AiSdkWarning) => warnings.push(warning);
    await fromAiSdk(
      v4Model({
        generate: {
          warnings: [
            { type: 'unsupported', feature: 'temperature', details: 'reasoning models ignore it' },
            { type: 'deprecated', setting: 'maxTokens', message: 'use maxOutputTokens' },
            { type: 'other', message: 'something else' },
          ],
        },
      }),
      { onWarning },
    ).generate(hello);
    await collect(
      fromAiSdk(
        v4Model({
          parts: [
            { type: 'stream-start', warnings: [{ type: 'compatibility', feature: 'seed' }] },
            finish('stop'),
          ],
        }),
        { onWarning },
      ).stream(hello),
    );
    // v2's own shapes.
    const v2 = {
      ...v4Model({}),
      specificationVersion: 'v2',
      doGenerate: () =>
        Promise.resolve({
          content: [],
          finishReason: 'stop',
          usage: { inputTokens: 1, outputTokens: 1 },
          warnings: [{ type: 'unsupported-setting', setting: 'topK' }],
        }),
    } as AiSdkLanguageModel;
    await fromAiSdk(v2, { onWarning }).generate(hello);
    expect(warnings).toEqual([
      { kind: 'unsupported', feature: 'temperature', message: 'reasoning models ignore it' },
      { kind: 'deprecated', feature: 'maxTokens', message: 'use maxOutputTokens' },
      { kind: 'other', message: 'something else' },
      { kind: 'compatibility', feature: 'seed', message: 'compatibility: seed' },
      { kind: 'unsupported', feature: 'topK', message: 'unsupported: topK' },
    ]);
  });
});
