import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../errors/model-errors.js';
import type { ModelResponse } from '../../model/model.js';
import { GatewayBudgetExhaustedError, RateLimitedError, UnknownRouteError } from '../gateway-errors.js';
import { classifyGatewayError, GatewayRequestError, retryHeaders } from './gateway-http-errors.js';
import {
  createChatCompletionChunkEncoder,
  parseChatCompletionRequest,
  parseEmbeddingsRequest,
  toChatCompletion,
  toEmbeddingsResponse,
  toModelList,
  toOpenAIError,
} from './openai-format.js';

function rejection(run: () => unknown): GatewayRequestError {
  try {
    run();
  } catch (error) {
    if (error instanceof GatewayRequestError) return error;
    throw error;
  }
  throw new Error('expected a GatewayRequestError');
}

/** Parses the `data:` lines of an SSE text. */
function dataOf(text: string): unknown[] {
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('data: '))
    .map((block) => block.slice('data: '.length))
    .map((data) => (data === '[DONE]' ? data : (JSON.parse(data) as unknown)));
}

const identity = { id: 'chatcmpl-abc', created: 1_700_000_000, model: 'fast' };

describe('parseChatCompletionRequest', () => {
  it('translates a full conversation with tools', () => {
    const call = parseChatCompletionRequest({
      model: 'fast',
      messages: [
        { role: 'developer', content: 'Be brief.' },
        {
          role: 'system',
          content: [
            { type: 'text', text: 'Part one. ' },
            { type: 'text', text: 'Part two.' },
          ],
        },
        { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
        { role: 'assistant', content: 'It is 21°C.', refusal: null },
      ],
      tools: [
        {
          type: 'function',
          function: { name: 'weather', description: 'Current weather', parameters: { type: 'object' } },
        },
        { type: 'function', function: { name: 'noop' } },
      ],
      tool_choice: { type: 'function', function: { name: 'weather' } },
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' } } },
      max_tokens: 50,
      max_completion_tokens: 100,
      temperature: 0.2,
      top_p: 0.9,
      stop: 'END',
      seed: 7,
      stream: true,
      stream_options: { include_usage: true },
      n: 1,
      user: 'user-42',
      store: false,
      metadata: { team: 'search' },
      prompt_cache_key: 'conversation-1',
    });
    expect(call).toEqual({
      stream: true,
      includeUsage: true,
      user: 'user-42',
      request: {
        model: 'fast',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'system', content: 'Part one. Part two.' },
          { role: 'user', content: 'Weather in Paris?' },
          {
            role: 'assistant',
            content: '',
            toolCalls: [{ id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' }],
          },
          { role: 'tool', toolCallId: 'call_1', name: 'weather', content: '{"temp":21}' },
          { role: 'assistant', content: 'It is 21°C.' },
        ],
        tools: [
          { name: 'weather', description: 'Current weather', parameters: { type: 'object' } },
          { name: 'noop', description: '', parameters: { type: 'object', properties: {} } },
        ],
        toolChoice: { name: 'weather' },
        responseFormat: { type: 'json', name: 'answer', schema: { type: 'object' } },
        maxOutputTokens: 100,
        temperature: 0.2,
        topP: 0.9,
        stop: ['END'],
        seed: 7,
      },
    });
  });

  it('keeps a minimal request minimal and accepts nulls for optional fields', () => {
    const call = parseChatCompletionRequest({
      model: 'fast',
      messages: [{ role: 'user', content: 'Hi' }],
      stop: null,
      tools: null,
      stream: null,
      stream_options: null,
      response_format: { type: 'text' },
      max_tokens: 20,
    });
    expect(call).toEqual({
      stream: false,
      includeUsage: false,
      request: { model: 'fast', messages: [{ role: 'user', content: 'Hi' }], maxOutputTokens: 20 },
    });
  });

  it('maps tool_choice strings and json_object', () => {
    const call = parseChatCompletionRequest({
      model: 'fast',
      messages: [{ role: 'user', content: 'Hi' }],
      tool_choice: 'required',
      response_format: { type: 'json_object' },
      stop: ['a', 'b'],
    });
    expect(call.request.toolChoice).toBe('required');
    expect(call.request.responseFormat).toEqual({ type: 'json' });
    expect(call.request.stop).toEqual(['a', 'b']);
  });

  it.each([
    [{ messages: [{ role: 'user', content: 'Hi' }] }, 'model'],
    [{ model: 'fast', messages: [] }, 'messages'],
    [{ model: 'fast', messages: 'Hi' }, 'messages'],
    [{ model: 'fast', messages: [{ role: 'user', content: 5 }] }, 'messages.0.content'],
    [{ model: 'fast', messages: [{ role: 'wizard', content: 'Hi' }] }, 'messages.0.role'],
    [{ model: 'fast', messages: [{ role: 'tool', content: 'x' }] }, 'messages.0.tool_call_id'],
    [{ model: 'fast', messages: [{ role: 'user', content: 'Hi' }], temperature: 'hot' }, 'temperature'],
    [{ model: 'fast', messages: [{ role: 'user', content: 'Hi' }], temperature: 3 }, 'temperature'],
    [{ model: 'fast', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 0 }, 'max_tokens'],
    [{ model: 'fast', messages: [{ role: 'user', content: 'Hi' }], n: 2 }, 'n'],
    [
      { model: 'fast', messages: [{ role: 'user', content: 'Hi' }], tools: [{ type: 'custom' }] },
      'tools.0.type',
    ],
  ])('rejects %j at %s', (body, param) => {
    const error = rejection(() => parseChatCompletionRequest(body));
    expect(error.status).toBe(400);
    expect(error.param).toBe(param);
    expect(error.message).toContain(param);
  });

  it('rejects a body that is not an object', () => {
    for (const body of [null, 42, 'text', []])
      expect(rejection(() => parseChatCompletionRequest(body)).status).toBe(400);
  });

  it('translates image_url and file parts, reasoning_effort, parallel_tool_calls and cache_control', () => {
    const call = parseChatCompletionRequest({
      model: 'fast',
      messages: [
        {
          role: 'system',
          content: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
        },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'low' } },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'a.pdf' } },
          ],
        },
      ],
      tools: [{ type: 'function', function: { name: 'noop' } }],
      reasoning_effort: 'medium',
      parallel_tool_calls: false,
    });
    expect(call.request).toMatchObject({
      messages: [
        { role: 'system', content: 'Be brief.', cacheControl: { type: 'ephemeral' } },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image', url: 'https://example.com/cat.png', detail: 'low' },
            { type: 'image', data: 'iVBORw0KGgo=', mediaType: 'image/png' },
            { type: 'file', data: 'JVBERi0=', mediaType: 'application/pdf', filename: 'a.pdf' },
          ],
        },
      ],
      reasoning: { effort: 'medium' },
      parallelToolCalls: false,
    });
  });

  it.each([
    [{ logit_bias: { '50256': -100 } }, 'logit_bias'],
    [{ some_future_field: true }, 'some_future_field'],
    [{ frequency_penalty: 0.5 }, 'frequency_penalty'],
    [{ service_tier: 'priority' }, 'service_tier'],
    [{ reasoning_effort: 'extreme' }, 'reasoning_effort'],
  ])('refuses %j rather than dropping it, naming %s', (extra, param) => {
    const error = rejection(() =>
      parseChatCompletionRequest({ model: 'fast', messages: [{ role: 'user', content: 'Hi' }], ...extra }),
    );
    expect(error.status).toBe(400);
    expect(error.param).toBe(param);
    expect(error.message).toContain(param);
  });

  it('refuses a file by id and audio parts', () => {
    const byId = rejection(() =>
      parseChatCompletionRequest({
        model: 'fast',
        messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-1' } }] }],
      }),
    );
    expect(byId).toMatchObject({
      status: 400,
      code: 'unsupported_content',
      param: 'messages.0.content.0.file',
    });
    const audio = rejection(() =>
      parseChatCompletionRequest({
        model: 'fast',
        messages: [
          { role: 'user', content: [{ type: 'input_audio', input_audio: { data: '', format: 'wav' } }] },
        ],
      }),
    );
    expect(audio).toMatchObject({ status: 400, code: 'unsupported_content', param: 'messages.0.content.0' });
  });
});

const answer: ModelResponse = {
  message: { role: 'assistant', content: 'Hello!' },
  finishReason: 'stop',
  usage: { inputTokens: 12, outputTokens: 3, cachedInputTokens: 8, reasoningTokens: 1 },
  modelId: 'gpt-4o-mini-2024-07-18',
};

describe('toChatCompletion', () => {
  it('answers with the route name and detailed usage', () => {
    expect(toChatCompletion(answer, identity)).toEqual({
      id: 'chatcmpl-abc',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'fast',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello!', refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: {
        prompt_tokens: 12,
        completion_tokens: 3,
        total_tokens: 15,
        prompt_tokens_details: { cached_tokens: 8 },
        completion_tokens_details: { reasoning_tokens: 1 },
      },
    });
  });

  it('sends tool calls with null content', () => {
    const body = toChatCompletion(
      {
        ...answer,
        message: {
          role: 'assistant',
          content: '',
          toolCalls: [{ id: 'call_1', name: 'weather', arguments: '{}' }],
        },
        finishReason: 'tool_calls',
      },
      identity,
    ) as { choices: { message: unknown; finish_reason: string }[] };
    expect(body.choices[0]).toMatchObject({
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{}' } }],
      },
      finish_reason: 'tool_calls',
    });
  });

  it('maps finish reasons OpenAI does not have to stop', () => {
    for (const finishReason of ['other', 'error'] as const) {
      const body = toChatCompletion({ ...answer, finishReason }, identity) as {
        choices: { finish_reason: string }[];
      };
      expect(body.choices[0]?.finish_reason).toBe('stop');
    }
  });
});

describe('createChatCompletionChunkEncoder', () => {
  it('streams role, content, tool calls by index, finish, usage and [DONE]', () => {
    const encoder = createChatCompletionChunkEncoder({ identity, includeUsage: true });
    const text =
      encoder.start() +
      encoder.encode({ type: 'text-delta', text: 'Let me check.' }) +
      encoder.encode({ type: 'text-delta', text: '' }) +
      encoder.encode({
        type: 'tool-call-delta',
        index: 0,
        id: 'call_a',
        name: 'weather',
        argumentsDelta: '{"ci',
      }) +
      encoder.encode({ type: 'tool-call-delta', index: 1, id: 'call_b', name: 'time', argumentsDelta: '' }) +
      encoder.encode({ type: 'tool-call-delta', index: 0, argumentsDelta: 'ty":"Paris"}' }) +
      encoder.encode({ type: 'tool-call-delta', index: 1, argumentsDelta: '{}' }) +
      encoder.encode({
        type: 'finish',
        response: {
          ...answer,
          message: {
            role: 'assistant',
            content: 'Let me check.',
            toolCalls: [
              { id: 'call_a', name: 'weather', arguments: '{"city":"Paris"}' },
              { id: 'call_b', name: 'time', arguments: '{}' },
            ],
          },
          finishReason: 'tool_calls',
        },
      });
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    const chunks = dataOf(text);
    const envelope = {
      id: 'chatcmpl-abc',
      object: 'chat.completion.chunk',
      created: 1_700_000_000,
      model: 'fast',
    };
    const choice = (delta: unknown, finishReason: string | null = null) => ({
      ...envelope,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      usage: null,
    });
    expect(chunks).toEqual([
      choice({ role: 'assistant', content: '', refusal: null }),
      choice({ content: 'Let me check.' }),
      choice({
        tool_calls: [
          { index: 0, id: 'call_a', type: 'function', function: { name: 'weather', arguments: '{"ci' } },
        ],
      }),
      choice({
        tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'time', arguments: '' } }],
      }),
      choice({ tool_calls: [{ index: 0, function: { arguments: 'ty":"Paris"}' } }] }),
      choice({ tool_calls: [{ index: 1, function: { arguments: '{}' } }] }),
      choice({}, 'tool_calls'),
      {
        ...envelope,
        choices: [],
        usage: {
          prompt_tokens: 12,
          completion_tokens: 3,
          total_tokens: 15,
          prompt_tokens_details: { cached_tokens: 8 },
          completion_tokens_details: { reasoning_tokens: 1 },
        },
      },
      '[DONE]',
    ]);
  });

  it('sends an answer that arrives only in finish (a cached replay) before the finish chunk', () => {
    const encoder = createChatCompletionChunkEncoder({ identity, includeUsage: false });
    const chunks = dataOf(encoder.start() + encoder.encode({ type: 'finish', response: answer })) as {
      choices: { delta: unknown; finish_reason: string | null }[];
      usage?: unknown;
    }[];
    expect(chunks.map((chunk) => (typeof chunk === 'string' ? chunk : chunk.choices[0]?.delta))).toEqual([
      { role: 'assistant', content: '', refusal: null },
      { content: 'Hello!' },
      {},
      '[DONE]',
    ]);
    expect(chunks[0]).not.toHaveProperty('usage');
  });

  it('ends an interrupted stream with an error event and no [DONE]', () => {
    const encoder = createChatCompletionChunkEncoder({ identity, includeUsage: false });
    const text = encoder.error(
      classifyGatewayError(new ProviderError({ provider: 'openai', message: 'reset' })),
    );
    expect(text).not.toContain('[DONE]');
    expect(dataOf(text)).toEqual([
      {
        error: {
          message: 'openai: reset',
          type: 'server_error',
          param: null,
          code: 'provider_unreachable',
        },
      },
    ]);
  });
});

describe('errors', () => {
  it('classifies the gateway errors and shapes them as OpenAI does', () => {
    const limited = classifyGatewayError(
      new RateLimitedError({ scope: 'key:k1', limit: 'rpm', retryAfterMs: 1_200 }),
    );
    expect(limited).toMatchObject({ status: 429, kind: 'rate_limit', retryAfterMs: 1_200 });
    expect(retryHeaders(limited)).toEqual({ 'retry-after': '2', 'retry-after-ms': '1200' });
    expect(toOpenAIError(limited).error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded' });

    const unknown = classifyGatewayError(new UnknownRouteError({ route: 'gpt-9', known: ['fast'] }));
    expect(unknown.status).toBe(404);
    expect(toOpenAIError(unknown).error).toMatchObject({
      type: 'invalid_request_error',
      param: 'model',
      code: 'model_not_found',
    });

    const budget = classifyGatewayError(
      new GatewayBudgetExhaustedError({ route: 'fast', budgetMs: 100, attempts: 3, lastError: undefined }),
    );
    expect(budget).toMatchObject({ status: 504, kind: 'timeout' });

    expect(
      classifyGatewayError(new ProviderError({ provider: 'openai', status: 500, message: 'boom' })).status,
    ).toBe(502);
    expect(
      classifyGatewayError(new ProviderError({ provider: 'openai', status: 400, message: 'too long' }))
        .status,
    ).toBe(400);
    expect(
      classifyGatewayError(
        new ProviderError({ provider: 'openai', status: 429, message: 'slow down', retryAfterMs: 5 }),
      ),
    ).toMatchObject({ status: 503, retryAfterMs: 5 });

    const internal = classifyGatewayError(new TypeError('x is undefined'));
    expect(internal.status).toBe(500);
    expect(toOpenAIError(internal).error.message).toBe('Internal error in the gateway.');
  });
});

describe('embeddings and models', () => {
  it('parses one or many inputs and rejects token arrays', () => {
    expect(parseEmbeddingsRequest({ model: 'embed', input: 'hello' })).toEqual({
      request: { model: 'embed', input: ['hello'] },
      encoding: 'float',
    });
    expect(
      parseEmbeddingsRequest({ model: 'embed', input: ['a', 'b'], dimensions: 8, encoding_format: 'base64' }),
    ).toEqual({ request: { model: 'embed', input: ['a', 'b'], dimensions: 8 }, encoding: 'base64' });
    expect(rejection(() => parseEmbeddingsRequest({ model: 'embed', input: [[1, 2]] })).param).toBe('input');
    expect(rejection(() => parseEmbeddingsRequest({ model: 'embed', input: [] })).param).toBe('input');
  });

  it('packs base64 vectors as little-endian float32', () => {
    const body = toEmbeddingsResponse({
      embeddings: [[0.5, -1]],
      inputTokens: 2,
      model: 'embed',
      encoding: 'base64',
    }) as {
      data: { embedding: string }[];
    };
    const bytes = Buffer.from(body.data[0]?.embedding ?? '', 'base64');
    expect([bytes.readFloatLE(0), bytes.readFloatLE(4)]).toEqual([0.5, -1]);
  });

  it('lists routes as models', () => {
    expect(toModelList(['fast', 'smart'])).toEqual({
      object: 'list',
      data: [
        { id: 'fast', object: 'model', created: 0, owned_by: 'keel' },
        { id: 'smart', object: 'model', created: 0, owned_by: 'keel' },
      ],
    });
  });
});
