import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../errors/model-errors.js';
import type { ModelResponse, ModelStreamEvent } from '../../model/model.js';
import { GatewayUnavailableError, RateLimitedError, UnknownRouteError } from '../gateway-errors.js';
import {
  createAnthropicEventEncoder,
  parseMessagesRequest,
  toAnthropicError,
  toAnthropicMessage,
} from './anthropic-format.js';
import { classifyGatewayError, GatewayRequestError } from './gateway-http-errors.js';

function rejection(run: () => unknown): GatewayRequestError {
  try {
    run();
  } catch (error) {
    if (error instanceof GatewayRequestError) return error;
    throw error;
  }
  throw new Error('expected a GatewayRequestError');
}

/** Parses an Anthropic event stream into `[event, data]` pairs. */
function eventsOf(text: string): [string, Record<string, unknown>][] {
  return text
    .split('\n\n')
    .filter((block) => block !== '')
    .map((block) => {
      const [eventLine, dataLine] = block.split('\n');
      return [
        eventLine?.slice('event: '.length) ?? '',
        JSON.parse(dataLine?.slice('data: '.length) ?? '') as Record<string, unknown>,
      ];
    });
}

/** The content an Anthropic client would accumulate from the stream. */
function accumulate(text: string): {
  content: Record<string, unknown>[];
  stopReason: unknown;
  usage: unknown;
} {
  const content: Record<string, unknown>[] = [];
  const json: string[] = [];
  let stopReason: unknown;
  let usage: unknown;
  const open = new Set<number>();
  for (const [type, data] of eventsOf(text)) {
    const index = data.index as number;
    if (type === 'content_block_start') {
      expect(open.size).toBe(0); // blocks are sequential
      expect(index).toBe(content.length);
      open.add(index);
      content.push({ ...(data.content_block as Record<string, unknown>) });
      json[index] = '';
    } else if (type === 'content_block_delta') {
      expect(open.has(index)).toBe(true);
      const delta = data.delta as {
        type: string;
        text?: string;
        partial_json?: string;
        thinking?: string;
        signature?: string;
      };
      const block = content[index]!;
      if (delta.type === 'text_delta') block.text = `${block.text as string}${delta.text}`;
      else if (delta.type === 'thinking_delta')
        block.thinking = `${block.thinking as string}${delta.thinking}`;
      else if (delta.type === 'signature_delta')
        block.signature = `${block.signature as string}${delta.signature}`;
      else json[index] += delta.partial_json ?? '';
    } else if (type === 'content_block_stop') {
      expect(open.delete(index)).toBe(true);
      const block = content[index]!;
      if (block.type === 'tool_use' && json[index] !== '') block.input = JSON.parse(json[index]!) as unknown;
    } else if (type === 'message_delta') {
      stopReason = (data.delta as { stop_reason: unknown }).stop_reason;
      usage = data.usage;
    }
  }
  return { content, stopReason, usage };
}

describe('parseMessagesRequest', () => {
  it('translates system, text, tool_use and tool_result blocks', () => {
    const call = parseMessagesRequest({
      model: 'smart',
      max_tokens: 256,
      system: [
        { type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } },
        { type: 'text', text: 'Answer in English.' },
      ],
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'two calls', signature: 'sig' },
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'toolu_2', name: 'weather', input: { city: 'Rome' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: '21°C' },
            {
              type: 'tool_result',
              tool_use_id: 'toolu_2',
              content: [{ type: 'text', text: 'rain' }],
              is_error: true,
            },
            { type: 'text', text: 'Summarize.' },
          ],
        },
      ],
      tools: [
        { name: 'weather', description: 'Weather now', input_schema: { type: 'object' } },
        { type: 'custom', name: 'noop', input_schema: { type: 'object' } },
      ],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      temperature: 0.5,
      top_p: 0.8,
      stop_sequences: ['STOP'],
      stream: true,
      metadata: { user_id: 'u1' },
    });
    expect(call).toEqual({
      stream: true,
      request: {
        model: 'smart',
        maxOutputTokens: 256,
        messages: [
          // A cache mark keeps the blocks apart, each its own system message.
          { role: 'system', content: 'You are terse.', cacheControl: { type: 'ephemeral' } },
          { role: 'system', content: 'Answer in English.' },
          { role: 'user', content: 'Weather in Paris and Rome?' },
          {
            role: 'assistant',
            content: 'Checking.',
            toolCalls: [
              { id: 'toolu_1', name: 'weather', arguments: '{"city":"Paris"}' },
              { id: 'toolu_2', name: 'weather', arguments: '{"city":"Rome"}' },
            ],
            reasoning: [{ type: 'thinking', text: 'two calls', signature: 'sig' }],
          },
          { role: 'tool', toolCallId: 'toolu_1', name: 'weather', content: '21°C' },
          { role: 'tool', toolCallId: 'toolu_2', name: 'weather', content: 'rain', isError: true },
          { role: 'user', content: 'Summarize.' },
        ],
        tools: [
          { name: 'weather', description: 'Weather now', parameters: { type: 'object' } },
          { name: 'noop', description: '', parameters: { type: 'object' } },
        ],
        toolChoice: 'required',
        parallelToolCalls: false,
        temperature: 0.5,
        topP: 0.8,
        stop: ['STOP'],
        anthropic: { fields: { metadata: { user_id: 'u1' } } },
      },
    });
  });

  it('translates images, documents, thinking and cache_control on every kind of block', () => {
    const call = parseMessagesRequest({
      model: 'smart',
      max_tokens: 4000,
      thinking: { type: 'enabled', budget_tokens: 2048 },
      system: [
        { type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral', ttl: '1h' } },
        { type: 'text', text: 'Answer in English.' },
      ],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
            {
              type: 'document',
              source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' },
              title: 'a.pdf',
              cache_control: { type: 'ephemeral' },
            },
          ],
        },
        {
          role: 'assistant',
          content: [
            {
              type: 'tool_use',
              id: 'toolu_1',
              name: 'noop',
              input: {},
              cache_control: { type: 'ephemeral' },
            },
          ],
        },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 'toolu_1',
              content: 'ok',
              cache_control: { type: 'ephemeral' },
            },
          ],
        },
      ],
      tools: [{ name: 'noop', input_schema: { type: 'object' }, cache_control: { type: 'ephemeral' } }],
    });
    expect(call.request).toEqual({
      model: 'smart',
      maxOutputTokens: 4000,
      reasoning: { budgetTokens: 2048 },
      messages: [
        { role: 'system', content: 'You are terse.', cacheControl: { type: 'ephemeral', ttl: '1h' } },
        { role: 'system', content: 'Answer in English.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image', data: 'iVBORw0KGgo=', mediaType: 'image/png' },
            { type: 'image', url: 'https://example.com/cat.png' },
            {
              type: 'file',
              data: 'JVBERi0=',
              mediaType: 'application/pdf',
              filename: 'a.pdf',
              cacheControl: { type: 'ephemeral' },
            },
          ],
        },
        {
          role: 'assistant',
          content: '',
          toolCalls: [{ id: 'toolu_1', name: 'noop', arguments: '{}' }],
          cacheControl: { type: 'ephemeral' },
        },
        {
          role: 'tool',
          toolCallId: 'toolu_1',
          name: 'noop',
          content: 'ok',
          cacheControl: { type: 'ephemeral' },
        },
      ],
      tools: [
        {
          name: 'noop',
          description: '',
          parameters: { type: 'object' },
          cacheControl: { type: 'ephemeral' },
        },
      ],
    });
  });

  it("carries a tool_result's text, image and document blocks as the tool message's parts, and system[] block by block", () => {
    const call = parseMessagesRequest({
      model: 'smart',
      max_tokens: 100,
      system: [
        { type: 'text', text: 'One.' },
        { type: 'text', text: 'Two.' },
      ],
      messages: [
        { role: 'user', content: 'Look.' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'Read', input: {} }] },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 'toolu_1',
              content: [
                { type: 'text', text: 'a.png:' },
                { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
                { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'hi' } },
              ],
            },
            { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'plain' }] },
          ],
        },
      ],
    });
    expect(call.request.messages.slice(0, 2)).toEqual([
      { role: 'system', content: 'One.' },
      { role: 'system', content: 'Two.' },
    ]);
    expect(call.request.messages.slice(4)).toEqual([
      {
        role: 'tool',
        toolCallId: 'toolu_1',
        name: 'Read',
        content: [
          { type: 'text', text: 'a.png:' },
          { type: 'image', data: 'iVBORw0KGgo=', mediaType: 'image/png' },
          { type: 'file', data: Buffer.from('hi').toString('base64'), mediaType: 'text/plain' },
        ],
      },
      // Text alone stays a string, as before parts existed.
      { role: 'tool', toolCallId: 'toolu_1', name: 'Read', content: 'plain' },
    ]);
  });

  it("keeps Claude Code's mid-conversation system messages in place, and carries its own fields and betas", () => {
    const call = parseMessagesRequest(
      {
        model: 'smart',
        max_tokens: 64_000,
        system: 'You are Claude Code.',
        messages: [
          { role: 'user', content: 'Hi' },
          {
            role: 'system',
            content: [{ type: 'text', text: 'Skills: a, b', cache_control: { type: 'ephemeral' } }],
          },
          { role: 'system', content: 'Agents: x' },
          { role: 'user', content: 'Go' },
        ],
        thinking: { type: 'adaptive' },
        output_config: { effort: 'max' },
        context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
        metadata: { user_id: 'user_abc_session_1' },
      },
      { 'anthropic-beta': 'mid-conversation-system-2026-04-07, context-management-2025-06-27' },
    );
    expect(call.request.messages).toEqual([
      { role: 'system', content: 'You are Claude Code.' },
      { role: 'user', content: 'Hi' },
      { role: 'system', content: 'Skills: a, b', cacheControl: { type: 'ephemeral' } },
      { role: 'system', content: 'Agents: x' },
      { role: 'user', content: 'Go' },
    ]);
    // Other providers get the effort; Anthropic gets its own fields as given.
    expect(call.request.reasoning).toEqual({ effort: 'high' });
    expect(call.request.anthropic).toEqual({
      betas: ['mid-conversation-system-2026-04-07', 'context-management-2025-06-27'],
      fields: {
        thinking: { type: 'adaptive' },
        output_config: { effort: 'max' },
        context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
        metadata: { user_id: 'user_abc_session_1' },
      },
    });
  });

  it('maps tool_choice', () => {
    const base = { model: 'smart', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] };
    expect(parseMessagesRequest({ ...base, tool_choice: { type: 'auto' } }).request.toolChoice).toBe('auto');
    expect(parseMessagesRequest({ ...base, tool_choice: { type: 'none' } }).request.toolChoice).toBe('none');
    expect(
      parseMessagesRequest({ ...base, tool_choice: { type: 'tool', name: 'x' } }).request.toolChoice,
    ).toEqual({
      name: 'x',
    });
    expect(parseMessagesRequest(base)).toEqual({
      stream: false,
      request: { model: 'smart', maxOutputTokens: 10, messages: [{ role: 'user', content: 'Hi' }] },
    });
  });

  it.each([
    [{ model: 'smart', messages: [{ role: 'user', content: 'Hi' }] }, 'max_tokens'],
    [{ model: 'smart', max_tokens: 10, messages: [] }, 'messages'],
    [{ model: 'smart', max_tokens: 10, messages: [{ role: 'tool', content: 'Hi' }] }, 'messages.0.role'],
    [{ model: 'smart', max_tokens: '10', messages: [{ role: 'user', content: 'Hi' }] }, 'max_tokens'],
    [
      { model: 'smart', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'video' }] }] },
      'messages.0.content.0.type',
    ],
    [
      {
        model: 'smart',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'Hi' }],
        tools: [{ type: 'web_search_20250305', name: 'web_search' }],
      },
      'tools.0',
    ],
    [
      {
        model: 'smart',
        max_tokens: 10,
        messages: [
          {
            role: 'user',
            content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: '' } }],
          },
        ],
      },
      'messages.0.content.0.source.data',
    ],
    [{ model: 'smart', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }], top_k: 40 }, 'top_k'],
    [
      {
        model: 'smart',
        max_tokens: 10,
        messages: [{ role: 'user', content: [{ type: 'thinking', thinking: 'x', signature: 's' }] }],
      },
      'messages.0.content.0',
    ],
    [
      {
        model: 'smart',
        max_tokens: 10,
        messages: [{ role: 'assistant', content: [{ type: 'thinking', thinking: 'unsigned' }] }],
      },
      'messages.0.content.0.signature',
    ],
    [
      {
        model: 'smart',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'Hi' }],
        output_config: { effort: 'extreme' },
      },
      'output_config.effort',
    ],
  ])('rejects %j at %s', (body, param) => {
    const error = rejection(() => parseMessagesRequest(body));
    expect(error.status).toBe(400);
    expect(error.param).toBe(param);
  });
});

const response: ModelResponse = {
  message: {
    role: 'assistant',
    content: 'Checking.',
    toolCalls: [
      { id: 'toolu_1', name: 'weather', arguments: '{"city":"Paris"}' },
      { id: 'toolu_2', name: 'weather', arguments: '{"city":"Rome"}' },
    ],
  },
  finishReason: 'tool_calls',
  usage: { inputTokens: 100, outputTokens: 20, cachedInputTokens: 60 },
  modelId: 'claude-sonnet-4-5',
};

describe('toAnthropicMessage', () => {
  it('answers with text and tool_use blocks, and cache reads apart from input tokens', () => {
    expect(toAnthropicMessage(response, { id: 'msg_1', model: 'smart' })).toEqual({
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'smart',
      content: [
        { type: 'text', text: 'Checking.' },
        { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'toolu_2', name: 'weather', input: { city: 'Rome' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: {
        input_tokens: 40,
        output_tokens: 20,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 60,
      },
    });
  });

  it('maps finish reasons to stop reasons', () => {
    const stop = (finishReason: ModelResponse['finishReason']) =>
      toAnthropicMessage({ ...response, finishReason }, { id: 'm', model: 'smart' }).stop_reason;
    expect([stop('stop'), stop('length'), stop('content_filter'), stop('other')]).toEqual([
      'end_turn',
      'max_tokens',
      'refusal',
      'end_turn',
    ]);
  });
});

describe('createAnthropicEventEncoder', () => {
  const run = (events: ModelStreamEvent[]): string => {
    const encoder = createAnthropicEventEncoder({ id: 'msg_1', model: 'smart' });
    return encoder.start() + events.map((event) => encoder.encode(event)).join('');
  };
  const expected = {
    content: [
      { type: 'text', text: 'Checking.' },
      { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'toolu_2', name: 'weather', input: { city: 'Rome' } },
    ],
    stopReason: 'tool_use',
    usage: {
      input_tokens: 40,
      output_tokens: 20,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 60,
    },
  };

  it('streams message_start, sequential blocks, message_delta and message_stop', () => {
    const text = run([
      { type: 'text-delta', text: 'Check' },
      { type: 'text-delta', text: 'ing.' },
      { type: 'tool-call-delta', index: 0, id: 'toolu_1', name: 'weather', argumentsDelta: '' },
      { type: 'tool-call-delta', index: 0, argumentsDelta: '{"city":' },
      { type: 'tool-call-delta', index: 0, argumentsDelta: '"Paris"}' },
      {
        type: 'tool-call-delta',
        index: 1,
        id: 'toolu_2',
        name: 'weather',
        argumentsDelta: '{"city":"Rome"}',
      },
      { type: 'finish', response },
    ]);
    const events = eventsOf(text);
    expect(events[0]).toEqual([
      'message_start',
      {
        type: 'message_start',
        message: {
          id: 'msg_1',
          type: 'message',
          role: 'assistant',
          model: 'smart',
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 0, output_tokens: 0 },
        },
      },
    ]);
    expect(events.map(([type]) => type)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(accumulate(text)).toEqual(expected);
  });

  it('never cuts a tool call whose fragments interleave with another', () => {
    const text = run([
      { type: 'text-delta', text: 'Checking.' },
      { type: 'tool-call-delta', index: 0, id: 'toolu_1', name: 'weather', argumentsDelta: '{"city":' },
      { type: 'tool-call-delta', index: 1, id: 'toolu_2', name: 'weather', argumentsDelta: '{"city":' },
      { type: 'tool-call-delta', index: 0, argumentsDelta: '"Paris"}' },
      { type: 'tool-call-delta', index: 1, argumentsDelta: '"Rome"}' },
      { type: 'finish', response },
    ]);
    expect(accumulate(text)).toEqual(expected);
  });

  it('sends an answer that arrives only in finish', () => {
    expect(accumulate(run([{ type: 'finish', response }]))).toEqual(expected);
  });

  describe('with reasoning', () => {
    const reasoning = [
      { type: 'thinking' as const, text: 'Paris, then Rome.', signature: 'sig_abc' },
      { type: 'redacted_thinking' as const, data: 'EncRypted==' },
    ];
    const withReasoning: ModelResponse = { ...response, message: { ...response.message, reasoning } };
    const thinkingFirst = {
      ...expected,
      content: [
        { type: 'thinking', thinking: 'Paris, then Rome.', signature: 'sig_abc' },
        { type: 'redacted_thinking', data: 'EncRypted==' },
        ...expected.content,
      ],
    };

    it('streams thinking and redacted thinking blocks first, signatures intact', () => {
      const text = run([
        { type: 'reasoning-delta', index: 0, kind: 'thinking' },
        { type: 'reasoning-delta', index: 0, text: 'Paris, ' },
        { type: 'reasoning-delta', index: 0, text: 'then Rome.' },
        { type: 'reasoning-delta', index: 0, signature: 'sig_abc' },
        { type: 'reasoning-delta', index: 1, kind: 'redacted_thinking', data: 'EncRypted==' },
        { type: 'text-delta', text: 'Checking.' },
        {
          type: 'tool-call-delta',
          index: 0,
          id: 'toolu_1',
          name: 'weather',
          argumentsDelta: '{"city":"Paris"}',
        },
        {
          type: 'tool-call-delta',
          index: 1,
          id: 'toolu_2',
          name: 'weather',
          argumentsDelta: '{"city":"Rome"}',
        },
        { type: 'finish', response: withReasoning },
      ]);
      expect(accumulate(text)).toEqual(thinkingFirst);
      expect(eventsOf(text)[1]).toEqual([
        'content_block_start',
        {
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'thinking', thinking: '', signature: '' },
        },
      ]);
    });

    it('puts the reasoning of an answer that arrives only in finish first', () => {
      expect(accumulate(run([{ type: 'finish', response: withReasoning }]))).toEqual(thinkingFirst);
    });

    it('answers with the reasoning blocks first', () => {
      expect(toAnthropicMessage(withReasoning, { id: 'msg_1', model: 'smart' }).content).toEqual(
        thinkingFirst.content,
      );
    });
  });

  it('ends an interrupted stream with an error event and no message_stop', () => {
    const encoder = createAnthropicEventEncoder({ id: 'msg_1', model: 'smart' });
    const text = encoder.error(
      classifyGatewayError(new ProviderError({ provider: 'anthropic', status: 529, message: 'Overloaded' })),
    );
    expect(eventsOf(text)).toEqual([
      ['error', { type: 'error', error: { type: 'overloaded_error', message: 'anthropic: Overloaded' } }],
    ]);
  });
});

describe('toAnthropicError', () => {
  it('uses Anthropic error types', () => {
    const typeOf = (error: unknown) => toAnthropicError(classifyGatewayError(error)).error.type;
    expect(typeOf(new GatewayRequestError({ code: 'x', message: 'bad' }))).toBe('invalid_request_error');
    expect(
      typeOf(new GatewayRequestError({ code: 'x', message: 'who', status: 401, kind: 'authentication' })),
    ).toBe('authentication_error');
    expect(
      typeOf(new GatewayRequestError({ code: 'x', message: 'no', status: 403, kind: 'permission' })),
    ).toBe('permission_error');
    expect(typeOf(new UnknownRouteError({ route: 'x', known: [] }))).toBe('not_found_error');
    expect(typeOf(new RateLimitedError({ scope: 'key:k', limit: 'tpm', retryAfterMs: 10 }))).toBe(
      'rate_limit_error',
    );
    expect(typeOf(new GatewayUnavailableError({ route: 'x', retryAfterMs: 10, skipped: {} }))).toBe(
      'overloaded_error',
    );
    expect(typeOf(new ProviderError({ provider: 'p', status: 500, message: 'x' }))).toBe('api_error');
    expect(typeOf(new Error('bug'))).toBe('api_error');
  });
});
