import { describe, expect, it } from 'vitest';
import { ModelOutputError, ProviderError, UnsupportedFieldError } from '../../../errors/model-errors.js';
import { createFakeOpenAIServer } from '../../../testing/fake-openai-server.js';
import {
  collect,
  collectUntilError,
  failure,
  startFakeServer,
} from '../../../testing/provider-test-harness.js';
import type { LanguageModel, ModelRequest, ModelResponse, ModelStreamEvent } from '../../model.js';
import { resolveModel } from '../../resolve-model.js';
import { createOpenAIResponsesModel } from './responses-adapter.js';

const API_KEY = 'sk-test-1234567890abcdef';
const server = await startFakeServer(createFakeOpenAIServer);

function model(): LanguageModel {
  return createOpenAIResponsesModel({ model: 'gpt-5-mini', apiKey: API_KEY, baseURL: server.url, env: {} });
}

const lastBody = () => server.requests.at(-1)?.body as Record<string, unknown>;

const lookup = {
  name: 'lookup',
  description: 'Look a word up',
  parameters: { type: 'object', properties: {} },
};

/** The answer both ways: whole, and streamed (the stream's deltas must add up to the same). */
async function bothWays(
  reply: Parameters<typeof server.enqueue>[0],
  request: ModelRequest,
): Promise<{ whole: ModelResponse; streamed: ModelResponse; events: ModelStreamEvent[] }> {
  server.enqueue(reply);
  const whole = await model().generate(request);
  server.enqueue(reply);
  const events = await collect(model().stream(request));
  const finish = events.at(-1);
  if (finish?.type !== 'finish') throw new Error('no finish event');
  return { whole, streamed: finish.response, events };
}

describe('the request', () => {
  it('is stateless, asks for the encrypted reasoning, and puts the first system message in instructions', async () => {
    server.enqueue({ content: 'ok' });
    await model().generate({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
        { role: 'system', content: 'Mid-conversation note.' },
      ],
      maxOutputTokens: 100,
      temperature: 0.5,
      topP: 0.9,
      reasoning: { budgetTokens: 4_000 },
    });
    expect(server.requests.at(-1)).toMatchObject({ method: 'POST', path: '/v1/responses' });
    expect(server.requests.at(-1)?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(lastBody()).toEqual({
      model: 'gpt-5-mini',
      instructions: 'Be brief.',
      input: [
        { type: 'message', role: 'user', content: 'Hi' },
        { type: 'message', role: 'system', content: 'Mid-conversation note.' },
      ],
      store: false,
      include: ['reasoning.encrypted_content'],
      max_output_tokens: 100,
      temperature: 0.5,
      top_p: 0.9,
      // A thinking budget as the nearest effort at or above it.
      reasoning: { effort: 'low' },
    });
  });

  it('sends tools (strict false unless set), hosted tools as declared, and merges the passthrough fields', async () => {
    server.enqueue({ content: 'ok' });
    await model().generate({
      messages: [{ role: 'user', content: 'Hi' }],
      tools: [lookup, { ...lookup, name: 'strict_one', strict: true }],
      toolChoice: { name: 'lookup' },
      parallelToolCalls: false,
      responseFormat: { type: 'json', schema: { type: 'object' }, name: 'answer' },
      reasoning: { effort: 'high' },
      openai: {
        hostedTools: [{ tool: { type: 'web_search', search_context_size: 'low' }, optional: true }],
        fields: { prompt_cache_key: 'k1', text: { verbosity: 'low' }, reasoning: { summary: 'auto' } },
      },
    });
    const body = lastBody();
    expect(body.tools).toEqual([
      { type: 'function', ...lookup, strict: false },
      { type: 'function', ...lookup, name: 'strict_one', strict: true },
      { type: 'web_search', search_context_size: 'low' },
    ]);
    expect(body.tool_choice).toEqual({ type: 'function', name: 'lookup' });
    expect(body.parallel_tool_calls).toBe(false);
    expect(body.prompt_cache_key).toBe('k1');
    // One level deep: the caller's members join the adapter's.
    expect(body.text).toEqual({
      format: { type: 'json_schema', name: 'answer', schema: { type: 'object' }, strict: true },
      verbosity: 'low',
    });
    expect(body.reasoning).toEqual({ effort: 'high', summary: 'auto' });
  });

  it('sends a conversation back: OpenAI items verbatim first in their turn, calls, outputs with media', async () => {
    server.enqueue({ content: 'ok' });
    const reasoningItem = { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'enc-1' };
    await model().generate({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Read this' },
            { type: 'image', url: 'https://x/y.png' },
          ],
        },
        {
          role: 'assistant',
          content: '',
          reasoning: [
            { type: 'openai_item', item: { ...reasoningItem, status: 'completed' } },
            // Anthropic's thinking cannot be read here.
            { type: 'thinking', text: 'hmm', signature: 'sig' },
          ],
          toolCalls: [{ id: 'call_1', name: 'lookup', arguments: '{"q":"a"}' }],
        },
        {
          role: 'tool',
          toolCallId: 'call_1',
          name: 'lookup',
          content: [
            { type: 'text', text: 'a picture' },
            { type: 'image', data: 'iVBOR', mediaType: 'image/png', detail: 'low' },
            { type: 'file', data: 'JVBER', mediaType: 'application/pdf', filename: 'a.pdf' },
          ],
        },
        { role: 'assistant', content: 'Done.' },
        { role: 'user', content: 'Thanks' },
      ],
    });
    expect(lastBody().input).toEqual([
      {
        type: 'message',
        role: 'user',
        content: [
          { type: 'input_text', text: 'Read this' },
          { type: 'input_image', image_url: 'https://x/y.png', detail: 'auto' },
        ],
      },
      // Exactly as it came.
      { ...reasoningItem, status: 'completed' },
      { type: 'function_call', call_id: 'call_1', name: 'lookup', arguments: '{"q":"a"}' },
      {
        type: 'function_call_output',
        call_id: 'call_1',
        output: [
          { type: 'input_text', text: 'a picture' },
          { type: 'input_image', image_url: 'data:image/png;base64,iVBOR', detail: 'low' },
          { type: 'input_file', file_data: 'data:application/pdf;base64,JVBER', filename: 'a.pdf' },
        ],
      },
      {
        type: 'message',
        role: 'assistant',
        content: [{ type: 'output_text', text: 'Done.', annotations: [] }],
      },
      { type: 'message', role: 'user', content: 'Thanks' },
    ]);
  });

  it('asks for encrypted reasoning only when the request reasons, and sends back only reasoning it can', async () => {
    server.enqueue({ content: 'ok' });
    await model().generate({
      messages: [
        { role: 'user', content: 'Hi' },
        {
          role: 'assistant',
          content: 'Hello',
          // Without its content, a reasoning item only refers to a stored one: not sent.
          reasoning: [{ type: 'openai_item', item: { type: 'reasoning', id: 'rs_x', summary: [] } }],
        },
        { role: 'user', content: 'Again' },
      ],
    });
    expect(lastBody().include).toBeUndefined();
    expect((lastBody().input as { type: string }[]).map((item) => item.type)).toEqual([
      'message',
      'message',
      'message',
    ]);
  });

  it('names a file sent without a name by its type (OpenAI reads the type from the extension)', async () => {
    server.enqueue({ content: 'ok' });
    await model().generate({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'file', data: 'aGk=', mediaType: 'text/plain' },
            { type: 'file', data: 'JVBER', mediaType: 'application/pdf' },
            { type: 'file', data: 'AAAA', mediaType: 'application/x-unknown' },
          ],
        },
      ],
    });
    const [message] = lastBody().input as { content: { filename: string }[] }[];
    expect(message?.content.map((part) => part.filename)).toEqual([
      'document.txt',
      'document.pdf',
      'document.bin',
    ]);
  });

  it('refuses stop and seed before sending, and tells the gateway so', async () => {
    const before = server.requests.length;
    const request: ModelRequest = { messages: [{ role: 'user', content: 'Hi' }], stop: ['END'] };
    expect(model().unsupportedField?.(request)).toMatchObject({ field: 'stop' });
    expect(await failure(model().generate(request))).toBeInstanceOf(UnsupportedFieldError);
    const seeded: ModelRequest = { messages: [{ role: 'user', content: 'Hi' }], seed: 7 };
    expect(model().unsupportedField?.(seeded)).toMatchObject({ field: 'seed' });
    // Hosted tools that must run are this adapter's to run.
    expect(
      model().unsupportedField?.({
        messages: [{ role: 'user', content: 'Hi' }],
        openai: { hostedTools: [{ tool: { type: 'file_search' }, optional: false }] },
      }),
    ).toBeUndefined();
    expect(server.requests.length).toBe(before);
  });
});

describe('the answer', () => {
  it('reads text and usage, streamed or not', async () => {
    const { whole, streamed, events } = await bothWays(
      { content: 'Hello there, friend.', usage: { promptTokens: 12, completionTokens: 5, cachedTokens: 4 } },
      { messages: [{ role: 'user', content: 'Hi' }] },
    );
    const expected = {
      message: { role: 'assistant', content: 'Hello there, friend.' },
      finishReason: 'stop',
      usage: {
        inputTokens: 12,
        outputTokens: 5,
        cachedInputTokens: 4,
        reasoningTokens: 0,
        source: 'reported',
      },
      modelId: 'gpt-5-mini',
    };
    expect(whole).toEqual(expected);
    expect(streamed).toEqual(expected);
    const text = events.flatMap((event) => (event.type === 'text-delta' ? [event.text] : []));
    expect(text.length).toBeGreaterThan(1);
    expect(text.join('')).toBe('Hello there, friend.');
  });

  it('keeps reasoning items and hosted tool calls verbatim, in order, before the calls', async () => {
    const search = {
      type: 'web_search_call',
      id: 'ws_1',
      status: 'completed',
      action: { type: 'search', query: 'q' },
    };
    const { whole, streamed, events } = await bothWays(
      {
        reasoning: [{ id: 'rs_a', encryptedContent: 'opaque-a' }],
        outputItems: [search],
        toolCalls: [
          { id: 'call_a', name: 'lookup', arguments: '{"q":"alpha"}' },
          { id: 'call_b', name: 'lookup', arguments: { q: 'beta' } },
        ],
        usage: { promptTokens: 30, completionTokens: 20, reasoningTokens: 12 },
      },
      {
        messages: [{ role: 'user', content: 'Look up alpha and beta' }],
        tools: [lookup],
        reasoning: { effort: 'low' },
      },
    );
    for (const response of [whole, streamed]) {
      expect(response.finishReason).toBe('tool_calls');
      expect(response.message.toolCalls).toEqual([
        { id: 'call_a', name: 'lookup', arguments: '{"q":"alpha"}' },
        { id: 'call_b', name: 'lookup', arguments: '{"q":"beta"}' },
      ]);
      const [reasoning, searched] = response.message.reasoning ?? [];
      expect(reasoning).toMatchObject({
        type: 'openai_item',
        item: { type: 'reasoning', id: 'rs_a', encrypted_content: 'opaque-a' },
      });
      expect(searched).toMatchObject({ type: 'openai_item', item: { ...search } });
      expect(response.usage).toMatchObject({ outputTokens: 20, reasoningTokens: 12 });
    }
    expect(streamed.message.reasoning).toEqual(whole.message.reasoning);
    // Each item streams whole, once; call arguments in pieces adding up to the whole.
    const items = events.filter((event) => event.type === 'reasoning-delta');
    expect(items.map((event) => event.type === 'reasoning-delta' && event.kind)).toEqual([
      'openai_item',
      'openai_item',
    ]);
    const pieces = events.flatMap((event) =>
      event.type === 'tool-call-delta' && event.index === 0 ? [event.argumentsDelta] : [],
    );
    expect(pieces.join('')).toBe('{"q":"alpha"}');
  });

  it('sends a turn back in the order it came: reasoning after a preamble stays before its call', async () => {
    const output = [
      { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'e1' },
      {
        type: 'message',
        id: 'msg_1',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: 'Let me look.', annotations: [] }],
      },
      { type: 'reasoning', id: 'rs_2', summary: [], encrypted_content: 'e2' },
      {
        type: 'function_call',
        id: 'fc_1',
        call_id: 'call_1',
        name: 'lookup',
        arguments: '{}',
        status: 'completed',
      },
    ];
    server.enqueue({
      kind: 'raw',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'resp_1',
        object: 'response',
        status: 'completed',
        model: 'gpt-5-mini',
        output,
        error: null,
      }),
    });
    const request: ModelRequest = {
      messages: [{ role: 'user', content: 'Look it up' }],
      tools: [lookup],
      reasoning: { effort: 'low' },
    };
    const answer = await model().generate(request);
    expect(answer.message.content).toBe('Let me look.');
    server.enqueue({ content: 'Found.' });
    await model().generate({
      ...request,
      messages: [
        ...request.messages,
        answer.message,
        { role: 'tool', toolCallId: 'call_1', name: 'lookup', content: 'a result' },
      ],
    });
    const input = lastBody().input as { type: string; id?: string }[];
    expect(input.map((item) => item.id ?? item.type)).toEqual([
      'message',
      'rs_1',
      'message',
      'rs_2',
      'function_call',
      'function_call_output',
    ]);
  });

  it('reports a cut answer as length, and a refusal as content_filter', async () => {
    const cut = await bothWays(
      { content: 'Partial', finishReason: 'length' },
      { messages: [{ role: 'user', content: 'Long story' }] },
    );
    expect(cut.whole.finishReason).toBe('length');
    expect(cut.streamed.finishReason).toBe('length');
    const refused = await bothWays(
      { refusal: 'I cannot help with that.' },
      { messages: [{ role: 'user', content: 'Bad' }] },
    );
    expect(refused.whole).toMatchObject({
      finishReason: 'content_filter',
      message: { content: 'I cannot help with that.' },
    });
    expect(refused.streamed.finishReason).toBe('content_filter');
  });
});

describe('errors', () => {
  it('an HTTP error is a ProviderError with its status, retryable as the status says', async () => {
    server.enqueue({ kind: 'error', status: 429, message: 'Slow down', retryAfter: 2 });
    const limited = await failure(model().generate({ messages: [{ role: 'user', content: 'Hi' }] }));
    expect(limited).toBeInstanceOf(ProviderError);
    expect(limited).toMatchObject({ status: 429, retryable: true, retryAfterMs: 2_000 });
    server.enqueue({ kind: 'error', status: 400, message: 'Bad tool' });
    const bad = await failure(model().generate({ messages: [{ role: 'user', content: 'Hi' }] }));
    expect(bad).toMatchObject({ status: 400, retryable: false });
    expect((bad as Error).message).toContain('Bad tool');
  });

  it('a failed response, whole or mid-stream, is a ProviderError whose status follows the code', async () => {
    server.enqueue({ kind: 'failed', code: 'invalid_prompt', message: 'Bad prompt' });
    expect(await failure(model().generate({ messages: [{ role: 'user', content: 'Hi' }] }))).toMatchObject({
      status: 400,
      retryable: false,
    });
    server.enqueue({ kind: 'failed', code: 'server_error', message: 'The server had an error' });
    const whole = await failure(model().generate({ messages: [{ role: 'user', content: 'Hi' }] }));
    expect(whole).toBeInstanceOf(ProviderError);
    expect(whole).toMatchObject({ status: 500, retryable: true });
    expect((whole as Error).message).toContain('The server had an error');

    server.enqueue({
      kind: 'failed',
      code: 'rate_limit_exceeded',
      message: 'Too many',
      reply: { content: 'Some text' },
    });
    const { events, error } = await collectUntilError(
      model().stream({ messages: [{ role: 'user', content: 'Hi' }] }),
    );
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ status: 429, retryable: true });
    expect(events.some((event) => event.type === 'finish')).toBe(false);
  });

  it('a stream cut before response.completed is a ModelOutputError, never a finished answer', async () => {
    server.enqueue({ kind: 'truncated', reply: { content: 'Half an answer' } });
    const { events, error } = await collectUntilError(
      model().stream({ messages: [{ role: 'user', content: 'Hi' }] }),
    );
    expect(error).toBeInstanceOf(ModelOutputError);
    expect(events.some((event) => event.type === 'finish')).toBe(false);
  });

  it('a body that is no Response is a ModelOutputError', async () => {
    server.enqueue({ kind: 'malformed-json' });
    expect(await failure(model().generate({ messages: [{ role: 'user', content: 'Hi' }] }))).toBeInstanceOf(
      ModelOutputError,
    );
  });
});

describe('model references', () => {
  it('openai-responses:<model> resolves to this adapter, reported as openai', async () => {
    const resolved = resolveModel('openai-responses:gpt-5-mini', {
      env: { OPENAI_API_KEY: API_KEY, OPENAI_BASE_URL: server.url },
    });
    expect(resolved).toMatchObject({ provider: 'openai', modelId: 'gpt-5-mini' });
    server.enqueue({ content: 'via the reference' });
    expect((await resolved.generate({ messages: [{ role: 'user', content: 'Hi' }] })).message.content).toBe(
      'via the reference',
    );
    expect(server.requests.at(-1)?.path).toBe('/v1/responses');
    expect(() => resolveModel('openai-responses:gpt-5-mini', { env: {} })).toThrow(/OPENAI_API_KEY/);
  });
});
