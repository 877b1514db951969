import { describe, expect, it } from 'vitest';
import { ModelConfigError, ModelOutputError, ProviderError } from '../../../errors/model-errors.js';
import { createFakeGeminiServer } from '../../../testing/fake-gemini-server.js';
import {
  collect,
  collectUntilAbort,
  collectUntilError,
  failure,
  startFakeServer,
} from '../../../testing/provider-test-harness.js';
import { createGeminiModel, type GeminiModelOptions } from './adapter.js';
import type { LanguageModel, ModelRequest } from '../../model.js';
import { estimateRequestTokens, estimateTextTokens } from '../../token-estimate.js';

const API_KEY = 'AIzaTestKey1234567890abcdef';
const hello: ModelRequest = { messages: [{ role: 'user', content: 'Hello' }] };

const server = await startFakeServer(createFakeGeminiServer);

function model(options: Partial<GeminiModelOptions> = {}): LanguageModel {
  return createGeminiModel({
    model: 'gemini-2.5-flash',
    apiKey: API_KEY,
    baseURL: server.url,
    env: {},
    ...options,
  });
}

const lastRequestBody = () => server.requests.at(-1)?.body as Record<string, unknown>;

describe('generate', () => {
  it('calls generateContent with the key in a header and reads the answer', async () => {
    server.enqueue({
      text: 'Hi there!',
      model: 'gemini-2.5-flash-001',
      usage: { promptTokens: 9, candidatesTokens: 3 },
    });
    const response = await model().generate(hello);
    expect(response).toEqual({
      message: { role: 'assistant', content: 'Hi there!' },
      finishReason: 'stop',
      usage: { inputTokens: 9, outputTokens: 3, source: 'reported' },
      modelId: 'gemini-2.5-flash-001',
    });
    const [request] = server.requests;
    expect(request).toMatchObject({
      method: 'POST',
      path: '/v1beta/models/gemini-2.5-flash:generateContent',
      model: 'gemini-2.5-flash',
      outcome: 'finished',
    });
    // The key never goes into the URL, where logs and proxies would keep it.
    expect(request?.path).not.toContain(API_KEY);
    expect(request?.headers).toMatchObject({ 'x-goog-api-key': API_KEY, 'content-type': 'application/json' });
    expect(request?.body).toEqual({ contents: [{ role: 'user', parts: [{ text: 'Hello' }] }] });
  });

  it('translates every part of the request to the wire format', async () => {
    server.enqueue({ text: 'ok' });
    await model().generate({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather and time in Paris?' },
        {
          role: 'assistant',
          content: 'Checking.',
          toolCalls: [
            { id: 'call_0_0123456789ab', name: 'get_weather', arguments: '{"city":"Paris"}' },
            { id: 'gemini-given-id', name: 'get_time', arguments: '{"zone":"CET"}' },
          ],
        },
        { role: 'tool', toolCallId: 'call_0_0123456789ab', name: 'get_weather', content: '{"celsius":21}' },
        {
          role: 'tool',
          toolCallId: 'gemini-given-id',
          name: 'get_time',
          content: 'zone unknown',
          isError: true,
        },
        { role: 'user', content: 'Thanks.' },
        { role: 'system', content: 'Answer in French.' },
      ],
      tools: [
        {
          name: 'get_weather',
          description: 'Current weather',
          parameters: {
            $schema: 'http://json-schema.org/draft-07/schema#',
            type: 'object',
            properties: { city: { type: 'string', format: 'uri' }, units: { enum: ['metric', 'imperial'] } },
            required: ['city', 'ghost'],
            additionalProperties: false,
          },
        },
        { name: 'get_time', description: 'Current time', parameters: { type: 'object', properties: {} } },
      ],
      toolChoice: { name: 'get_weather' },
      maxOutputTokens: 256,
      temperature: 0.2,
      topP: 0.9,
      stop: ['END'],
      seed: 42,
    });
    expect(lastRequestBody()).toEqual({
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      contents: [
        { role: 'user', parts: [{ text: 'Weather and time in Paris?' }] },
        {
          role: 'model',
          parts: [
            { text: 'Checking.' },
            {
              functionCall: { name: 'get_weather', args: { city: 'Paris' } },
              thoughtSignature: 'skip_thought_signature_validator',
            },
            { functionCall: { id: 'gemini-given-id', name: 'get_time', args: { zone: 'CET' } } },
          ],
        },
        {
          role: 'user',
          parts: [
            { functionResponse: { name: 'get_weather', response: { result: { celsius: 21 } } } },
            {
              functionResponse: {
                id: 'gemini-given-id',
                name: 'get_time',
                response: { error: 'zone unknown' },
              },
            },
            { text: 'Thanks.' },
            // A system message after the first turn stays in place, marked (Gemini has no system turn).
            { text: '<system>\nAnswer in French.\n</system>' },
          ],
        },
      ],
      tools: [
        {
          functionDeclarations: [
            {
              name: 'get_weather',
              description: 'Current weather',
              parameters: {
                type: 'object',
                properties: {
                  city: { type: 'string' },
                  units: { type: 'string', enum: ['metric', 'imperial'] },
                },
                required: ['city'],
              },
            },
            { name: 'get_time', description: 'Current time' },
          ],
        },
      ],
      toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } },
      generationConfig: {
        maxOutputTokens: 256,
        temperature: 0.2,
        topP: 0.9,
        stopSequences: ['END'],
        seed: 42,
      },
    });
  });

  it('translates tool choices', async () => {
    const tools = [{ name: 't', description: 'd', parameters: { type: 'object' } }];
    const cases: [ModelRequest['toolChoice'], unknown][] = [
      ['auto', { mode: 'AUTO' }],
      ['none', { mode: 'NONE' }],
      ['required', { mode: 'ANY' }],
    ];
    for (const [toolChoice, expected] of cases) {
      server.enqueue({ text: 'ok' });
      await model().generate({ ...hello, tools, toolChoice });
      expect(lastRequestBody().toolConfig).toEqual({ functionCallingConfig: expected });
    }
    server.enqueue({ text: 'ok' });
    await model().generate({ ...hello, tools: [], toolChoice: 'required', stop: [] });
    expect(Object.keys(lastRequestBody())).toEqual(['contents']);
  });

  it('asks for JSON with responseMimeType and a sanitized responseSchema', async () => {
    server.enqueue({ text: '{"city":"Paris"}' });
    const schema = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: {
        city: { type: 'string' },
        when: { type: ['string', 'null'], format: 'date-time' },
        tags: { type: 'array', items: { $ref: '#/$defs/tag' } },
        kind: { const: 'city' },
        size: { anyOf: [{ type: 'integer' }, { type: 'null' }] },
        shape: { oneOf: [{ type: 'string' }, { type: 'number', exclusiveMinimum: 0 }] },
        both: {
          allOf: [
            { properties: { a: { type: 'string' } }, required: ['a'] },
            { properties: { b: { type: 'integer' } } },
          ],
        },
      },
      required: ['city'],
      additionalProperties: false,
      $defs: {
        tag: {
          type: 'object',
          properties: { label: { type: 'string', minLength: 1 } },
          additionalProperties: false,
        },
      },
    };
    const response = await model().generate({
      ...hello,
      responseFormat: { type: 'json', schema, name: 'answer' },
    });
    expect(response.message.content).toBe('{"city":"Paris"}');
    expect(lastRequestBody().generationConfig).toEqual({
      responseMimeType: 'application/json',
      responseSchema: {
        type: 'object',
        properties: {
          city: { type: 'string' },
          when: { type: 'string', nullable: true, format: 'date-time' },
          tags: {
            type: 'array',
            items: { type: 'object', properties: { label: { type: 'string', minLength: 1 } } },
          },
          kind: { type: 'string', enum: ['city'] },
          size: { type: 'integer', nullable: true },
          shape: { anyOf: [{ type: 'string' }, { type: 'number' }] },
          both: { properties: { a: { type: 'string' }, b: { type: 'integer' } }, required: ['a'] },
        },
        required: ['city'],
      },
    });
  });

  it('stops inlining recursive references', async () => {
    server.enqueue({ text: '{}' });
    const tree = {
      type: 'object',
      properties: { node: { $ref: '#/definitions/node' } },
      definitions: { node: { type: 'object', properties: { child: { $ref: '#/definitions/node' } } } },
    };
    await model().generate({ ...hello, responseFormat: { type: 'json', schema: tree } });
    const text = JSON.stringify(lastRequestBody());
    expect(text).not.toContain('$ref');
    expect(text.length).toBeLessThan(2_000);
  });

  it('asks for JSON in the system prompt when tools are offered too', async () => {
    server.enqueue({ text: '{}' });
    await model().generate({
      ...hello,
      tools: [{ name: 't', description: 'd', parameters: { type: 'object' } }],
      responseFormat: { type: 'json', schema: { type: 'object' } },
    });
    expect(lastRequestBody()).not.toHaveProperty('generationConfig');
    expect(lastRequestBody().systemInstruction).toEqual({
      parts: [{ text: expect.stringMatching(/JSON/) as unknown }],
    });
  });

  it('reads function calls with deterministic ids, and skips thoughts', async () => {
    const reply = {
      thought: 'I should call both tools.',
      text: 'Let me check.',
      functionCalls: [
        { name: 'get_weather', args: { city: 'Paris' }, thoughtSignature: 'c2lnbmF0dXJl' },
        { name: 'get_time', args: {} },
        { id: 'fc_given', name: 'get_time', args: { zone: 'CET' } },
      ],
    };
    server.enqueue(reply);
    const response = await model().generate(hello);
    expect(response.finishReason).toBe('tool_calls');
    expect(response.message.content).toBe('Let me check.');
    const calls = response.message.toolCalls ?? [];
    expect(calls.map(({ name, arguments: args }) => ({ name, args }))).toEqual([
      { name: 'get_weather', args: '{"city":"Paris"}' },
      { name: 'get_time', args: '{}' },
      { name: 'get_time', args: '{"zone":"CET"}' },
    ]);
    expect(calls[0]?.id).toMatch(/^call_0_[0-9a-f]{12}$/);
    expect(calls[1]?.id).toMatch(/^call_1_[0-9a-f]{12}$/);
    expect(calls[2]?.id).toBe('fc_given');
    // The same answer gives the same ids; the answer's responseId keeps later turns apart.
    server.enqueue(reply);
    expect((await model().generate(hello)).message.toolCalls?.map((call) => call.id)).not.toEqual(
      calls.map((call) => call.id),
    );
    server.enqueue({
      kind: 'raw',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(geminiBody('r1')),
    });
    server.enqueue({
      kind: 'raw',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(geminiBody('r1')),
    });
    const first = await model().generate(hello);
    const again = await model().generate(hello);
    expect(again.message.toolCalls).toEqual(first.message.toolCalls);
  });

  it('reads usage: thoughts count as output and reasoning, cached content as cached input', async () => {
    server.enqueue({
      text: 'ok',
      usage: { promptTokens: 2_000, candidatesTokens: 100, thoughtsTokens: 600, cachedTokens: 1_024 },
    });
    expect((await model().generate(hello)).usage).toEqual({
      inputTokens: 2_000,
      outputTokens: 700,
      cachedInputTokens: 1_024,
      reasoningTokens: 600,
      source: 'reported',
    });
  });

  it('maps finish reasons', async () => {
    const cases: [string, string][] = [
      ['STOP', 'stop'],
      ['MAX_TOKENS', 'length'],
      ['SAFETY', 'content_filter'],
      ['RECITATION', 'content_filter'],
      ['PROHIBITED_CONTENT', 'content_filter'],
      ['MALFORMED_FUNCTION_CALL', 'error'],
      ['OTHER', 'other'],
      ['SOMETHING_NEW', 'other'],
    ];
    for (const [wire, expected] of cases) {
      server.enqueue({ text: 'x', finishReason: wire });
      expect([wire, (await model().generate(hello)).finishReason]).toEqual([wire, expected]);
    }
  });

  it('reports a blocked prompt as content_filter with no text', async () => {
    server.enqueue({ blockReason: 'SAFETY' });
    expect(await model().generate(hello)).toMatchObject({
      message: { role: 'assistant', content: '' },
      finishReason: 'content_filter',
    });
  });

  it('uses tuned model paths as they are, and custom headers', async () => {
    server.enqueue({ text: 'ok' });
    await model({ model: 'tunedModels/my-model-42', headers: { 'X-Trace': 'abc' } }).generate(hello);
    expect(server.requests[0]).toMatchObject({
      path: '/v1beta/tunedModels/my-model-42:generateContent',
      headers: { 'x-trace': 'abc' },
    });
  });
});

function geminiBody(responseId: string) {
  return {
    candidates: [
      {
        content: { role: 'model', parts: [{ functionCall: { name: 'lookup', args: { q: 'x' } } }] },
        finishReason: 'STOP',
      },
    ],
    usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1 },
    responseId,
  };
}

describe('defaults from the environment', () => {
  it('reads GOOGLE_API_KEY before GEMINI_API_KEY, like the official SDKs, and GEMINI_BASE_URL', async () => {
    server.enqueue({ text: 'ok' });
    server.enqueue({ text: 'ok' });
    await createGeminiModel({
      model: 'gemini-2.0-flash',
      env: {
        GEMINI_API_KEY: 'AIzaGeminiKey123456',
        GOOGLE_API_KEY: 'AIzaGoogleKey123456',
        GEMINI_BASE_URL: server.url,
      },
    }).generate(hello);
    await createGeminiModel({
      model: 'gemini-2.0-flash',
      env: { GEMINI_API_KEY: 'AIzaGeminiKey123456', GOOGLE_API_KEY: ' ', GEMINI_BASE_URL: `${server.url}/` },
    }).generate(hello);
    expect(server.requests.map((request) => request.headers['x-goog-api-key'])).toEqual([
      'AIzaGoogleKey123456',
      'AIzaGeminiKey123456',
    ]);
    expect(createGeminiModel({ model: 'gemini-2.0-flash', env: { GEMINI_API_KEY: 'k' } })).toMatchObject({
      provider: 'google',
      modelId: 'gemini-2.0-flash',
    });
  });

  it('needs a key for the official API, and a valid base URL', () => {
    expect(() => createGeminiModel({ model: 'gemini-2.0-flash', env: {} })).toThrow(ModelConfigError);
    expect(() => createGeminiModel({ model: 'gemini-2.0-flash', env: {} })).toThrow(/GEMINI_API_KEY/);
    expect(() => createGeminiModel({ model: 'x', baseURL: 'not a url', env: {} })).toThrow(ModelConfigError);
  });
});

describe('stream', () => {
  it('calls streamGenerateContent with alt=sse and streams text deltas', async () => {
    server.enqueue({
      text: 'The quick brown fox jumps over the lazy dog.',
      chunkSize: 10,
      usage: { promptTokens: 12, candidatesTokens: 10, thoughtsTokens: 5 },
    });
    const events = await collect(model().stream(hello));
    expect(server.requests[0]?.path).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(server.requests[0]?.headers.accept).toBe('text/event-stream');
    const deltas = events.filter((event) => event.type === 'text-delta');
    expect(deltas.length).toBe(5);
    expect(deltas.map((event) => event.text).join('')).toBe('The quick brown fox jumps over the lazy dog.');
    expect(events.filter((event) => event.type === 'finish')).toHaveLength(1);
    expect(events.at(-1)).toEqual({
      type: 'finish',
      response: {
        message: { role: 'assistant', content: 'The quick brown fox jumps over the lazy dog.' },
        finishReason: 'stop',
        usage: { inputTokens: 12, outputTokens: 15, reasoningTokens: 5, source: 'reported' },
        modelId: 'gemini-2.5-flash',
      },
    });
  });

  it('emits each function call as one tool-call delta with id, name and arguments', async () => {
    server.enqueue({
      text: 'Checking.',
      functionCalls: [
        { name: 'get_weather', args: { city: 'Paris', days: 3 } },
        { name: 'get_time', args: { zone: 'Europe/Paris' } },
      ],
    });
    const events = await collect(model().stream(hello));
    const toolDeltas = events.filter((event) => event.type === 'tool-call-delta');
    expect(toolDeltas).toEqual([
      {
        type: 'tool-call-delta',
        index: 0,
        id: expect.stringMatching(/^call_0_/) as unknown,
        name: 'get_weather',
        argumentsDelta: '{"city":"Paris","days":3}',
      },
      {
        type: 'tool-call-delta',
        index: 1,
        id: expect.stringMatching(/^call_1_/) as unknown,
        name: 'get_time',
        argumentsDelta: '{"zone":"Europe/Paris"}',
      },
    ]);
    const finish = events.at(-1);
    expect(finish).toMatchObject({ type: 'finish', response: { finishReason: 'tool_calls' } });
    if (finish?.type !== 'finish') return;
    expect(finish.response.message.toolCalls?.map((call) => call.id)).toEqual(
      toolDeltas.map((event) => event.id),
    );
  });

  it('turns an error chunk mid-stream into a ProviderError retryable as its code', async () => {
    server.enqueue({ kind: 'stream-error', reply: { text: 'Hello there, friend', chunkSize: 5 } });
    const { events, error } = await collectUntilError(model().stream(hello));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: 'provider_stream_error', status: 503, retryable: true });
    expect((error as Error).message).toContain('UNAVAILABLE');
    expect(events.filter((event) => event.type === 'text-delta')).toHaveLength(1);
    server.enqueue({ kind: 'stream-error', status: 400, message: 'Bad request' });
    expect((await collectUntilError(model().stream(hello))).error).toMatchObject({
      status: 400,
      retryable: false,
    });
  });

  it('turns a stream that ends without a finish reason into a ModelOutputError', async () => {
    server.enqueue({ kind: 'truncated' });
    const { events, error } = await collectUntilError(model().stream(hello));
    expect(error).toBeInstanceOf(ModelOutputError);
    expect(error).toMatchObject({ details: { reason: 'stream_truncated' } });
    expect(events.filter((event) => event.type === 'text-delta').length).toBeGreaterThan(0);
    expect(events.some((event) => event.type === 'finish')).toBe(false);
  });

  it('turns a malformed chunk into a ModelOutputError', async () => {
    server.enqueue({ kind: 'malformed-json' });
    expect((await collectUntilError(model().stream(hello))).error).toMatchObject({
      code: 'model_output_invalid',
      details: { reason: 'stream_chunk_invalid' },
    });
  });

  it('turns a reset mid-stream into a retryable ProviderError without status', async () => {
    server.enqueue({ kind: 'reset', afterChunks: 2 });
    const { error } = await collectUntilError(model().stream(hello));
    expect(error).toMatchObject({ status: undefined, retryable: true, code: 'provider_unreachable' });
  });

  it('aborts mid-stream: rejects with the signal reason and closes the upstream connection', async () => {
    server.enqueue({
      kind: 'hang',
      afterChunks: 3,
      reply: { text: 'Hello there, my friend, how are you?', chunkSize: 5 },
    });
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

  it('delivers a slow drip as it arrives', async () => {
    server.enqueue({ text: 'one two three four five', chunkSize: 6, delayMs: 25 });
    const started = Date.now();
    const arrivals: number[] = [];
    for await (const event of model().stream(hello)) {
      if (event.type === 'text-delta') arrivals.push(Date.now() - started);
    }
    expect(arrivals.length).toBe(4);
    expect((arrivals.at(-1) ?? 0) - (arrivals[0] ?? 0)).toBeGreaterThanOrEqual(50);
  });
});

describe('errors', () => {
  const cases = [
    { status: 400, name: 'INVALID_ARGUMENT', retryable: false },
    { status: 403, name: 'PERMISSION_DENIED', retryable: false },
    { status: 404, name: 'NOT_FOUND', retryable: false },
    { status: 429, name: 'RESOURCE_EXHAUSTED', retryable: true },
    { status: 500, name: 'INTERNAL', retryable: true },
    { status: 503, name: 'UNAVAILABLE', retryable: true },
    { status: 504, name: 'DEADLINE_EXCEEDED', retryable: true },
  ];
  for (const { status, name, retryable } of cases) {
    it(`maps HTTP ${status} (${name}) to a ProviderError (retryable: ${retryable})`, async () => {
      server.enqueue({ kind: 'error', status, message: `Problem number ${status}` });
      const error = await failure(model().generate(hello));
      expect(error).toBeInstanceOf(ProviderError);
      expect(error).toMatchObject({
        status,
        retryable,
        code: `provider_http_${status}`,
        retryAfterMs: undefined,
      });
      expect((error as Error).message).toContain(`Problem number ${status} (${name})`);
    });
  }

  it('reads the wait from RetryInfo, and prefers a retry-after header', async () => {
    server.enqueue({ kind: 'error', status: 429, retryDelay: '34.5s' });
    expect(await failure(model().generate(hello))).toMatchObject({ status: 429, retryAfterMs: 34_500 });
    server.enqueue({ kind: 'error', status: 503, retryDelay: '30s', retryAfter: 2 });
    expect(await failure(model().generate(hello))).toMatchObject({ status: 503, retryAfterMs: 2_000 });
    server.enqueue({ kind: 'error', status: 429, retryDelay: '86400s' });
    expect(await failure(model().generate(hello))).toMatchObject({ retryAfterMs: 3_600_000 });
  });

  it('fails a refused stream request before any event', async () => {
    server.enqueue({ kind: 'error', status: 429, retryDelay: '1s' });
    const { events, error } = await collectUntilError(model().stream(hello));
    expect(events).toEqual([]);
    expect(error).toMatchObject({ status: 429, retryAfterMs: 1_000, retryable: true });
  });

  it('keeps API keys out of errors', async () => {
    server.enqueue({
      kind: 'error',
      status: 400,
      message: `API key not valid: ${API_KEY} (AIzaOtherKey1234567890)`,
    });
    const error = await failure(model().generate(hello));
    const everything = `${(error as Error).message} ${JSON.stringify(error)}`;
    expect(everything).not.toContain(API_KEY);
    expect(everything).not.toContain('AIzaOtherKey');
  });

  it('maps connection failures to retryable ProviderErrors without status', async () => {
    server.enqueue({ kind: 'reset' });
    expect(await failure(model().generate(hello))).toMatchObject({ status: undefined, retryable: true });
  });

  it('maps malformed, truncated and empty bodies to ModelOutputErrors', async () => {
    server.enqueue({ kind: 'malformed-json' });
    expect(await failure(model().generate(hello))).toBeInstanceOf(ModelOutputError);
    server.enqueue({ kind: 'truncated' });
    expect(await failure(model().generate(hello))).toBeInstanceOf(ModelOutputError);
    server.enqueue({
      kind: 'raw',
      headers: { 'content-type': 'application/json' },
      body: '{"candidates":[]}',
    });
    expect(await failure(model().generate(hello))).toBeInstanceOf(ModelOutputError);
  });

  it('aborts a hanging call with the signal reason and closes the connection', async () => {
    server.enqueue({ kind: 'hang' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    expect(await failure(model().generate(hello, { signal: controller.signal }))).toMatchObject({
      name: 'AbortError',
    });
    await expect.poll(() => server.requests[0]?.outcome).toBe('client-closed');
  });

  it('does not retry on its own', async () => {
    server.enqueue({ kind: 'error', status: 503 });
    await failure(model().generate(hello));
    expect(server.requests).toHaveLength(1);
  });
});

describe('usage you can trust', () => {
  it('estimates an answer without usageMetadata, and replaces negative counts', async () => {
    const body = JSON.stringify({
      candidates: [{ content: { role: 'model', parts: [{ text: 'Hi there' }] }, finishReason: 'STOP' }],
      modelVersion: 'gemini-2.5-flash',
    });
    server.enqueue({ kind: 'raw', headers: { 'content-type': 'application/json' }, body });
    expect((await model().generate(hello)).usage).toEqual({
      inputTokens: estimateRequestTokens(hello),
      outputTokens: estimateTextTokens('Hi there'),
      source: 'estimated',
    });
    server.enqueue({ text: 'Hi', usage: { promptTokens: 12, candidatesTokens: -40 } });
    expect((await model().generate(hello)).usage).toEqual({
      inputTokens: 12,
      outputTokens: 1,
      source: 'estimated',
      invalid: 'negative',
    });
  });
});
