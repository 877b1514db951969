import { describe, expect, it } from 'vitest';
import { ModelConfigError, ModelOutputError, ProviderError } from '../../../errors/model-errors.js';
import { createFakeAnthropicServer, fakeSignature } from '../../../testing/fake-anthropic-server.js';
import {
  collect,
  collectUntilAbort,
  collectUntilError,
  failure,
  startFakeServer,
} from '../../../testing/provider-test-harness.js';
import { createAnthropicModel, type AnthropicModelOptions } from './adapter.js';
import type { AssistantMessage, LanguageModel, ModelRequest, ModelResponse } from '../../model.js';
import { estimateAnswerTokens, estimateRequestTokens, estimateTextTokens } from '../../token-estimate.js';

const API_KEY = 'sk-ant-test-1234567890abcdef';
const hello: ModelRequest = { messages: [{ role: 'user', content: 'Hello' }] };

const server = await startFakeServer(createFakeAnthropicServer);

function model(options: Partial<AnthropicModelOptions> = {}): LanguageModel {
  return createAnthropicModel({
    model: 'claude-sonnet-4-5',
    apiKey: API_KEY,
    baseURL: server.url,
    env: {},
    ...options,
  });
}

const lastRequestBody = () => server.requests.at(-1)?.body as Record<string, unknown>;

describe('generate', () => {
  it('sends a Messages request and reads the answer', async () => {
    server.enqueue({
      text: 'Hi there!',
      model: 'claude-sonnet-4-5-20250929',
      usage: { inputTokens: 9, outputTokens: 3 },
    });
    const response = await model().generate(hello);
    expect(response).toEqual({
      message: { role: 'assistant', content: 'Hi there!' },
      finishReason: 'stop',
      usage: { inputTokens: 9, outputTokens: 3, cachedInputTokens: 0, source: 'reported' },
      modelId: 'claude-sonnet-4-5-20250929',
    });
    const [request] = server.requests;
    expect(request).toMatchObject({ method: 'POST', path: '/v1/messages', outcome: 'finished' });
    expect(request?.headers).toMatchObject({
      'x-api-key': API_KEY,
      'anthropic-version': '2023-06-01',
      'content-type': 'application/json',
      accept: 'application/json',
    });
    expect(request?.headers).not.toHaveProperty('authorization');
    expect(request?.body).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      messages: [{ role: 'user', content: 'Hello' }],
    });
  });

  it('translates every part of the request to the wire format', async () => {
    server.enqueue({ text: 'ok' });
    await model().generate({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather and time in Paris?' },
        {
          role: 'assistant',
          content: 'Checking both.',
          toolCalls: [
            { id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
            { id: 'toolu_2', name: 'get_time', arguments: '{"zone":"CET"}' },
          ],
        },
        { role: 'tool', toolCallId: 'toolu_1', name: 'get_weather', content: '{"celsius":21}' },
        { role: 'tool', toolCallId: 'toolu_2', name: 'get_time', content: 'zone unknown', isError: true },
        {
          role: 'assistant',
          content: '',
          toolCalls: [{ id: 'toolu_3', name: 'get_time', arguments: 'not json' }],
        },
        { role: 'tool', toolCallId: 'toolu_3', name: 'get_time', content: '12:00' },
        { role: 'user', content: 'Thanks. Summarize.' },
        { role: 'system', content: 'Answer in French.' },
      ],
      tools: [
        {
          name: 'get_weather',
          description: 'Current weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
        },
      ],
      toolChoice: { name: 'get_weather' },
      maxOutputTokens: 256,
      temperature: 0.2,
      topP: 0.9,
      stop: ['END'],
      seed: 42,
    });
    expect(lastRequestBody()).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 256,
      // One block per system message; a later one joins them (no mid-conversation beta here).
      system: [
        { type: 'text', text: 'Be brief.' },
        { type: 'text', text: 'Answer in French.' },
      ],
      messages: [
        { role: 'user', content: 'Weather and time in Paris?' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Checking both.' },
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: { zone: 'CET' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: '{"celsius":21}' },
            { type: 'tool_result', tool_use_id: 'toolu_2', content: 'zone unknown', is_error: true },
          ],
        },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_3', name: 'get_time', input: {} }] },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_3', content: '12:00' },
            { type: 'text', text: 'Thanks. Summarize.' },
          ],
        },
      ],
      tools: [
        {
          name: 'get_weather',
          description: 'Current weather',
          input_schema: { type: 'object', properties: { city: { type: 'string' } } },
        },
      ],
      tool_choice: { type: 'tool', name: 'get_weather' },
      temperature: 0.2,
      top_p: 0.9,
      stop_sequences: ['END'],
    });
  });

  it('translates tool choices, and sends none without tools', async () => {
    const tools = [{ name: 't', description: 'd', parameters: { type: 'object' } }];
    const cases: [ModelRequest['toolChoice'], unknown][] = [
      ['auto', { type: 'auto' }],
      ['none', { type: 'none' }],
      ['required', { type: 'any' }],
      [{ name: 't' }, { type: 'tool', name: 't' }],
    ];
    for (const [toolChoice, expected] of cases) {
      server.enqueue({ text: 'ok' });
      await model().generate({ ...hello, tools, toolChoice });
      expect(lastRequestBody().tool_choice).toEqual(expected);
    }
    server.enqueue({ text: 'ok' });
    await model().generate({ ...hello, tools: [], toolChoice: 'required', stop: [] });
    expect(Object.keys(lastRequestBody()).sort()).toEqual(['max_tokens', 'messages', 'model']);
  });

  it('asks for JSON in the system prompt when there is no schema', async () => {
    server.enqueue({ text: '{"ok":true}' });
    const response = await model().generate({ ...hello, responseFormat: { type: 'json' } });
    expect(lastRequestBody().system).toMatch(/single JSON value/);
    expect(lastRequestBody()).not.toHaveProperty('tools');
    expect(response.message.content).toBe('{"ok":true}');
  });

  it('forces a schema tool for a JSON schema and returns its input as the text', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    server.enqueue({ toolUses: [{ name: 'city_answer', input: { city: 'Paris' } }] });
    const response = await model().generate({
      ...hello,
      responseFormat: { type: 'json', schema, name: 'city answer' },
    });
    expect(lastRequestBody()).toMatchObject({
      tools: [{ name: 'city_answer', input_schema: schema }],
      tool_choice: { type: 'tool', name: 'city_answer' },
    });
    expect(lastRequestBody().system).toMatch(/calling the city_answer tool/);
    expect(response.message).toEqual({ role: 'assistant', content: '{"city":"Paris"}' });
    expect(response.finishReason).toBe('stop');
  });

  it('offers the schema tool beside the caller’s tools without forcing it', async () => {
    server.enqueue({ toolUses: [{ id: 'toolu_w', name: 'get_weather', input: { city: 'Paris' } }] });
    const response = await model().generate({
      ...hello,
      tools: [{ name: 'get_weather', description: 'Weather', parameters: { type: 'object' } }],
      responseFormat: { type: 'json', schema: { type: 'object' } },
    });
    const body = lastRequestBody();
    expect((body.tools as { name: string }[]).map((tool) => tool.name)).toEqual([
      'get_weather',
      'json_response',
    ]);
    expect(body).not.toHaveProperty('tool_choice');
    expect(response.finishReason).toBe('tool_calls');
    expect(response.message.toolCalls).toEqual([
      { id: 'toolu_w', name: 'get_weather', arguments: '{"city":"Paris"}' },
    ]);
  });

  it('reads tool calls and keeps thinking blocks with their signatures', async () => {
    server.enqueue({
      thinking: 'The user wants weather and time.',
      text: 'Let me check.',
      toolUses: [
        { id: 'toolu_a', name: 'get_weather', input: { city: 'Paris', days: [1, 2] } },
        { id: 'toolu_b', name: 'get_time', input: {} },
      ],
    });
    const response = await model().generate(hello);
    expect(response.finishReason).toBe('tool_calls');
    expect(response.message).toEqual({
      role: 'assistant',
      content: 'Let me check.',
      toolCalls: [
        { id: 'toolu_a', name: 'get_weather', arguments: '{"city":"Paris","days":[1,2]}' },
        { id: 'toolu_b', name: 'get_time', arguments: '{}' },
      ],
      reasoning: [
        {
          type: 'thinking',
          text: 'The user wants weather and time.',
          signature: fakeSignature('The user wants weather and time.'),
        },
      ],
    });
  });

  it('hands thinking back first in a tool loop with thinking on, signatures intact', async () => {
    const thinkingOn = { ...hello, reasoning: { budgetTokens: 2048 }, maxOutputTokens: 4096 };
    for (const streamed of [false, true]) {
      server.enqueue({
        thinking: 'Need the weather.',
        toolUses: [{ id: 'toolu_w', name: 'get_weather', input: {} }],
      });
      server.enqueue({ text: 'Sunny.' });
      const first = streamed
        ? ((await collect(model().stream(thinkingOn))).at(-1) as { response: ModelResponse }).response
        : await model().generate(thinkingOn);
      const request = {
        ...thinkingOn,
        messages: [
          ...thinkingOn.messages,
          first.message,
          { role: 'tool' as const, toolCallId: 'toolu_w', name: 'get_weather', content: 'sun' },
        ],
      };
      // The fake refuses a changed signature, and an assistant tool turn not led by its thinking.
      const second = await model().generate(request);
      expect(second.message.content).toBe('Sunny.');
      expect((lastRequestBody().messages as { content: unknown }[])[1]?.content).toEqual([
        { type: 'thinking', thinking: 'Need the weather.', signature: fakeSignature('Need the weather.') },
        { type: 'tool_use', id: 'toolu_w', name: 'get_weather', input: {} },
      ]);
      // Refused before a reply is taken: nothing to enqueue for these two.
      const tampered = structuredClone(request);
      (tampered.messages[1] as AssistantMessage).reasoning = [
        { type: 'thinking', text: 'Edited.', signature: fakeSignature('Need the weather.') },
      ];
      await expect(model().generate(tampered)).rejects.toMatchObject({ status: 400 });
      const dropped = structuredClone(request);
      delete (dropped.messages[1] as AssistantMessage).reasoning;
      await expect(model().generate(dropped)).rejects.toMatchObject({ status: 400 });
    }
  });

  it('sends redacted thinking back as it came', async () => {
    server.enqueue({ text: 'ok' });
    await model().generate({
      messages: [
        { role: 'user', content: 'hi' },
        {
          role: 'assistant',
          content: 'hello',
          reasoning: [{ type: 'redacted_thinking', data: 'EncRypted==' }],
        },
        { role: 'user', content: 'again' },
      ],
    });
    expect((lastRequestBody().messages as { content: unknown }[])[1]?.content).toEqual([
      { type: 'redacted_thinking', data: 'EncRypted==' },
      { type: 'text', text: 'hello' },
    ]);
  });

  it('counts cache reads and writes into the input tokens', async () => {
    server.enqueue({
      text: 'ok',
      usage: {
        inputTokens: 50,
        outputTokens: 700,
        cacheReadInputTokens: 1_500,
        cacheCreationInputTokens: 200,
      },
    });
    const { usage } = await model().generate(hello);
    expect(usage).toEqual({
      inputTokens: 1_750,
      outputTokens: 700,
      cachedInputTokens: 1_500,
      source: 'reported',
    });
  });

  it('maps stop reasons', async () => {
    const cases: [string, string][] = [
      ['end_turn', 'stop'],
      ['stop_sequence', 'stop'],
      ['max_tokens', 'length'],
      ['model_context_window_exceeded', 'length'],
      ['refusal', 'content_filter'],
      ['pause_turn', 'other'],
      ['something_new', 'other'],
    ];
    for (const [wire, expected] of cases) {
      server.enqueue({ text: 'x', stopReason: wire });
      expect([wire, (await model().generate(hello)).finishReason]).toEqual([wire, expected]);
    }
  });

  it('sends custom headers and another anthropic-version, through the injected fetch', async () => {
    server.enqueue({ text: 'ok' });
    const urls: string[] = [];
    const fetchSpy: typeof fetch = (input, init) => {
      urls.push(String(input));
      return fetch(input, init);
    };
    await model({
      headers: { 'Anthropic-Beta': 'prompt-caching-2024-07-31' },
      anthropicVersion: '2024-01-01',
      fetch: fetchSpy,
    }).generate(hello);
    expect(urls).toEqual([`${server.url}/v1/messages`]);
    expect(server.requests[0]?.headers).toMatchObject({
      'anthropic-beta': 'prompt-caching-2024-07-31',
      'anthropic-version': '2024-01-01',
    });
  });

  it('uses maxTokensDefault when the request sets no limit', async () => {
    server.enqueue({ text: 'ok' });
    await model({ maxTokensDefault: 1000 }).generate(hello);
    expect(lastRequestBody().max_tokens).toBe(1000);
  });
});

describe('defaults from the environment', () => {
  it('reads ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL like the official SDK', async () => {
    server.enqueue({ text: 'ok' });
    const fromEnv = createAnthropicModel({
      model: 'claude-haiku-4-5',
      env: { ANTHROPIC_API_KEY: ' sk-ant-from-env-123456 ', ANTHROPIC_BASE_URL: `${server.url}/` },
    });
    expect(fromEnv).toMatchObject({ provider: 'anthropic', modelId: 'claude-haiku-4-5' });
    await fromEnv.generate(hello);
    expect(server.requests[0]?.path).toBe('/v1/messages');
    expect(server.requests[0]?.headers['x-api-key']).toBe('sk-ant-from-env-123456');
  });

  it('needs a key for the official API, and a valid base URL', () => {
    expect(() => createAnthropicModel({ model: 'claude-haiku-4-5', env: {} })).toThrow(ModelConfigError);
    expect(() => createAnthropicModel({ model: 'claude-haiku-4-5', env: {} })).toThrow(/ANTHROPIC_API_KEY/);
    expect(() => createAnthropicModel({ model: 'x', baseURL: 'not a url', env: {} })).toThrow(
      ModelConfigError,
    );
    expect(() => createAnthropicModel({ model: ' ', apiKey: 'k', env: {} })).toThrow(ModelConfigError);
  });
});

describe('stream', () => {
  it('streams text deltas and ends with exactly one finish event', async () => {
    server.enqueue({
      text: 'The quick brown fox jumps.',
      chunkSize: 3,
      usage: { inputTokens: 12, outputTokens: 6, cacheReadInputTokens: 4 },
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
        // Input counts come from message_start, the output count from message_delta.
        usage: { inputTokens: 16, outputTokens: 6, cachedInputTokens: 4, source: 'reported' },
        modelId: 'claude-sonnet-4-5',
      },
    });
    expect(lastRequestBody()).toMatchObject({ stream: true });
    expect(server.requests[0]?.headers.accept).toBe('text/event-stream');
  });

  it('assembles parallel tool calls from input_json_delta fragments', async () => {
    const first = { city: 'Paris', units: 'metric', detail: ['wind', 'rain'] };
    server.enqueue({
      thinking: 'Two tools.',
      text: 'Checking.',
      toolUses: [
        { id: 'toolu_weather', name: 'get_weather', input: first },
        { id: 'toolu_time', name: 'get_time', input: {} },
      ],
      chunkSize: 2,
      usage: { inputTokens: 50, outputTokens: 30 },
    });
    const events = await collect(model().stream(hello));
    const toolDeltas = events.filter((event) => event.type === 'tool-call-delta');
    expect(toolDeltas.filter((event) => event.id !== undefined)).toEqual([
      { type: 'tool-call-delta', index: 0, id: 'toolu_weather', name: 'get_weather', argumentsDelta: '' },
      { type: 'tool-call-delta', index: 1, id: 'toolu_time', name: 'get_time', argumentsDelta: '' },
    ]);
    const byIndex = (index: number) =>
      toolDeltas
        .filter((event) => event.index === index)
        .map((event) => event.argumentsDelta)
        .join('');
    expect(JSON.parse(byIndex(0))).toEqual(first);
    expect(byIndex(1)).toBe('{}');
    const reasoningDeltas = events.filter((event) => event.type === 'reasoning-delta');
    expect(reasoningDeltas[0]).toEqual({ type: 'reasoning-delta', index: 0, kind: 'thinking' });
    expect(reasoningDeltas.map((event) => event.text ?? '').join('')).toBe('Two tools.');
    expect(reasoningDeltas.at(-1)).toEqual({
      type: 'reasoning-delta',
      index: 0,
      signature: fakeSignature('Two tools.'),
    });
    expect(toolDeltas.filter((event) => event.index === 0).length).toBeGreaterThan(10);
    expect(
      events
        .filter((event) => event.type === 'text-delta')
        .map((event) => event.text)
        .join(''),
    ).toBe('Checking.');
    expect(events.at(-1)).toEqual({
      type: 'finish',
      response: {
        message: {
          role: 'assistant',
          content: 'Checking.',
          toolCalls: [
            { id: 'toolu_weather', name: 'get_weather', arguments: JSON.stringify(first) },
            { id: 'toolu_time', name: 'get_time', arguments: '{}' },
          ],
          reasoning: [{ type: 'thinking', text: 'Two tools.', signature: fakeSignature('Two tools.') }],
        },
        finishReason: 'tool_calls',
        usage: { inputTokens: 50, outputTokens: 30, cachedInputTokens: 0, source: 'reported' },
        modelId: 'claude-sonnet-4-5',
      },
    });
  });

  it('streams a schema-tool answer as text', async () => {
    server.enqueue({ toolUses: [{ name: 'json_response', input: { city: 'Paris' } }], chunkSize: 3 });
    const events = await collect(
      model().stream({ ...hello, responseFormat: { type: 'json', schema: { type: 'object' } } }),
    );
    expect(events.some((event) => event.type === 'tool-call-delta')).toBe(false);
    expect(
      events
        .filter((event) => event.type === 'text-delta')
        .map((event) => event.text)
        .join(''),
    ).toBe('{"city":"Paris"}');
    expect(events.at(-1)).toMatchObject({
      response: { message: { content: '{"city":"Paris"}' }, finishReason: 'stop' },
    });
  });

  it('maps streamed stop reasons', async () => {
    server.enqueue({ text: 'cut', stopReason: 'max_tokens' });
    expect((await collect(model().stream(hello))).at(-1)).toMatchObject({
      response: { finishReason: 'length' },
    });
  });

  it('skips event types it does not know', async () => {
    const event = (name: string, data: object) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
    server.enqueue({
      kind: 'raw',
      body: [
        event('message_start', {
          type: 'message_start',
          message: { model: 'claude-x', usage: { input_tokens: 3 } },
        }),
        event('something_new', { type: 'something_new', value: 1 }),
        event('content_block_start', {
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'text', text: '' },
        }),
        event('content_block_delta', {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'citations_delta', citation: {} },
        }),
        event('content_block_delta', {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'text_delta', text: 'Hi' },
        }),
        event('message_delta', {
          type: 'message_delta',
          delta: { stop_reason: 'end_turn' },
          usage: { output_tokens: 1 },
        }),
        event('message_stop', { type: 'message_stop' }),
      ],
    });
    expect((await collect(model().stream(hello))).at(-1)).toEqual({
      type: 'finish',
      response: {
        message: { role: 'assistant', content: 'Hi' },
        finishReason: 'stop',
        usage: { inputTokens: 3, outputTokens: 1, source: 'reported' },
        modelId: 'claude-x',
      },
    });
  });

  it('delivers a slow drip as it arrives', async () => {
    server.enqueue({ text: 'one two three four', chunkSize: 4, delayMs: 25 });
    const started = Date.now();
    const arrivals: number[] = [];
    for await (const event of model().stream(hello)) {
      if (event.type === 'text-delta') arrivals.push(Date.now() - started);
    }
    expect(arrivals.length).toBe(5);
    expect((arrivals.at(-1) ?? 0) - (arrivals[0] ?? 0)).toBeGreaterThanOrEqual(60);
  });

  it('turns an overloaded error event mid-stream into a retryable ProviderError', async () => {
    server.enqueue({ kind: 'stream-error', reply: { text: 'Hello there, friend' } });
    const { events, error } = await collectUntilError(model().stream(hello));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: 'provider_stream_error', status: 529, retryable: true });
    expect((error as Error).message).toContain('overloaded_error');
    expect(events.filter((event) => event.type === 'text-delta').length).toBe(1);
    expect(events.some((event) => event.type === 'finish')).toBe(false);
  });

  it('makes a stream error retryable only when its type is', async () => {
    server.enqueue({ kind: 'stream-error', type: 'invalid_request_error', message: 'Bad input' });
    const { error } = await collectUntilError(model().stream(hello));
    expect(error).toMatchObject({ code: 'provider_stream_error', status: 400, retryable: false });
    server.enqueue({ kind: 'stream-error', type: 'api_error', message: 'Internal' });
    expect((await collectUntilError(model().stream(hello))).error).toMatchObject({
      status: 500,
      retryable: true,
    });
  });

  it('turns a stream that ends without message_stop into a ModelOutputError', async () => {
    server.enqueue({ kind: 'truncated', reply: { text: 'This answer will be cut off', chunkSize: 5 } });
    const { events, error } = await collectUntilError(model().stream(hello));
    expect(error).toBeInstanceOf(ModelOutputError);
    expect(error).toMatchObject({
      code: 'model_output_invalid',
      retryable: true,
      details: { reason: 'stream_truncated' },
    });
    expect(events.some((event) => event.type === 'finish')).toBe(false);
    expect(events.filter((event) => event.type === 'text-delta').length).toBeGreaterThan(0);
  });

  it('turns a malformed event into a ModelOutputError', async () => {
    server.enqueue({ kind: 'malformed-json' });
    const { error } = await collectUntilError(model().stream(hello));
    expect(error).toBeInstanceOf(ModelOutputError);
    expect(error).toMatchObject({ details: { reason: 'stream_chunk_invalid' } });
  });

  it('turns a connection reset mid-stream into a retryable ProviderError without status', async () => {
    server.enqueue({ kind: 'reset', afterEvents: 4, reply: { text: 'Hello there, friend' } });
    const { events, error } = await collectUntilError(model().stream(hello));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ status: undefined, retryable: true, code: 'provider_unreachable' });
    expect(events.some((event) => event.type === 'finish')).toBe(false);
    expect(server.requests[0]?.outcome).toBe('reset');
  });

  it('aborts mid-stream: rejects with the signal reason and closes the upstream connection', async () => {
    server.enqueue({ kind: 'hang', afterEvents: 6, reply: { text: 'Hello there, friend', chunkSize: 4 } });
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

  it('releases the connection when the consumer stops early', async () => {
    server.enqueue({ kind: 'hang', afterEvents: 5 });
    for await (const event of model().stream(hello)) {
      expect(event.type).toBe('text-delta');
      break;
    }
    await expect.poll(() => server.requests[0]?.outcome).toBe('client-closed');
  });

  it('fails with a ProviderError when the stream request is refused', async () => {
    server.enqueue({ kind: 'error', status: 529, retryAfter: 3 });
    const { events, error } = await collectUntilError(model().stream(hello));
    expect(events).toEqual([]);
    expect(error).toMatchObject({ status: 529, retryAfterMs: 3_000, retryable: true });
  });
});

describe('errors', () => {
  const cases = [
    { status: 400, type: 'invalid_request_error', retryable: false },
    { status: 401, type: 'authentication_error', retryable: false },
    { status: 403, type: 'permission_error', retryable: false },
    { status: 404, type: 'not_found_error', retryable: false },
    { status: 413, type: 'request_too_large', retryable: false },
    { status: 429, type: 'rate_limit_error', retryable: true },
    { status: 500, type: 'api_error', retryable: true },
    { status: 503, type: 'api_error', retryable: true },
    { status: 529, type: 'overloaded_error', retryable: true },
  ];
  for (const { status, type, retryable } of cases) {
    it(`maps HTTP ${status} (${type}) to a ProviderError (retryable: ${retryable})`, async () => {
      server.enqueue({ kind: 'error', status, message: `Problem number ${status}` });
      const error = await failure(model().generate(hello));
      expect(error).toBeInstanceOf(ProviderError);
      expect(error).toMatchObject({
        status,
        retryable,
        code: `provider_http_${status}`,
        fault: 'provider',
        retryAfterMs: undefined,
      });
      expect((error as Error).message).toContain(`Problem number ${status} (${type})`);
      expect((error as Error).message).toContain('[request id req_fake_');
    });
  }

  it('reads retry-after in seconds and as an HTTP date', async () => {
    server.enqueue({ kind: 'error', status: 429, retryAfter: 7 });
    expect(await failure(model().generate(hello))).toMatchObject({ status: 429, retryAfterMs: 7_000 });
    const at = 'Wed, 21 Oct 2015 07:28:00 GMT';
    server.enqueue({ kind: 'error', status: 529, retryAfter: at });
    const clock = { now: () => Date.parse(at) - 12_000 };
    expect(await failure(model({ clock }).generate(hello))).toMatchObject({
      status: 529,
      retryAfterMs: 12_000,
    });
  });

  it('keeps the API key out of errors', async () => {
    server.enqueue({
      kind: 'error',
      status: 401,
      message: `invalid x-api-key ${API_KEY} (sk-ant-te***cdef)`,
    });
    const error = await failure(model().generate(hello));
    const everything = `${(error as Error).message} ${JSON.stringify(error)}`;
    expect(everything).not.toContain(API_KEY);
    expect(everything).not.toContain('sk-ant-te');
  });

  it('maps connection failures to retryable ProviderErrors without status', async () => {
    server.enqueue({ kind: 'reset' });
    expect(await failure(model().generate(hello))).toMatchObject({
      status: undefined,
      retryable: true,
      code: 'provider_unreachable',
    });
    const closed = await createFakeAnthropicServer();
    await closed.close();
    const error = await failure(model({ baseURL: closed.url }).generate(hello));
    expect(error).toMatchObject({ status: undefined, retryable: true });
    expect((error as Error).message).toContain('ECONNREFUSED');
  });

  it('maps malformed and truncated bodies to ModelOutputErrors', async () => {
    server.enqueue({ kind: 'malformed-json' });
    expect(await failure(model().generate(hello))).toBeInstanceOf(ModelOutputError);
    server.enqueue({ kind: 'truncated' });
    expect(await failure(model().generate(hello))).toBeInstanceOf(ModelOutputError);
    server.enqueue({
      kind: 'raw',
      headers: { 'content-type': 'application/json' },
      body: '{"content":"nope"}',
    });
    expect(await failure(model().generate(hello))).toBeInstanceOf(ModelOutputError);
  });

  it('aborts a hanging call with the signal reason and closes the connection', async () => {
    server.enqueue({ kind: 'hang' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const error = await failure(model().generate(hello, { signal: controller.signal }));
    expect(error).toMatchObject({ name: 'AbortError' });
    await expect.poll(() => server.requests[0]?.outcome).toBe('client-closed');
  });

  it('does not retry on its own', async () => {
    server.enqueue({ kind: 'error', status: 529 });
    server.enqueue({ text: 'would succeed' });
    await failure(model().generate(hello));
    expect(server.requests).toHaveLength(1);
    await model().generate(hello);
  });
});

describe('usage you can trust', () => {
  it('estimates a message without usage and a stream whose events carry none', async () => {
    const message = {
      type: 'message',
      model: 'claude-sonnet-4-5',
      role: 'assistant',
      content: [
        { type: 'text', text: 'Checking.' },
        { type: 'tool_use', id: 'toolu_1', name: 'lookup', input: { q: 'x' } },
      ],
      stop_reason: 'tool_use',
    };
    server.enqueue({
      kind: 'raw',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(message),
    });
    const response = await model().generate(hello);
    expect(response.usage).toEqual({
      inputTokens: estimateRequestTokens(hello),
      outputTokens: estimateAnswerTokens(response.message),
      source: 'estimated',
    });
    expect(response.usage.outputTokens).toBeGreaterThan(estimateTextTokens('Checking.'));

    const event = (name: string, data: object) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
    server.enqueue({
      kind: 'raw',
      body: [
        event('message_start', { type: 'message_start', message: { model: 'claude-x' } }),
        event('content_block_start', {
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'text', text: 'Hi' },
        }),
        event('content_block_stop', { type: 'content_block_stop', index: 0 }),
        event('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' } }),
        event('message_stop', { type: 'message_stop' }),
      ],
    });
    expect((await collect(model().stream(hello))).at(-1)).toMatchObject({
      response: {
        usage: { inputTokens: estimateRequestTokens(hello), outputTokens: 1, source: 'estimated' },
      },
    });
  });

  it('never sums negative counts, cache parts included', async () => {
    server.enqueue({ text: 'Hi', usage: { inputTokens: 10, cacheReadInputTokens: -1_000, outputTokens: 2 } });
    expect((await model().generate(hello)).usage).toEqual({
      inputTokens: estimateRequestTokens(hello),
      outputTokens: 2,
      source: 'estimated',
      invalid: 'negative',
    });
  });
});
