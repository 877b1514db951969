import { describe, expect, it } from 'vitest';
import { UnsupportedFieldError } from '../../errors/model-errors.js';
import { GatewayRequestError } from './gateway-http-errors.js';
import { toOpenAIError } from './openai-format.js';
import type { ModelResponse, ModelStreamEvent } from '../../model/model.js';
import { createResponsesEventEncoder, toResponse } from './responses-output.js';
import {
  inResponsesTerms,
  parseResponsesRequest,
  RESPONSES_FIELDS_DROPPED,
  RESPONSES_FIELDS_NOT_HONOURED,
  RESPONSES_WIRE_FIELDS,
} from './responses-format.js';
import {
  decodeReasoning,
  encodeReasoning,
  fromRedactedThinking,
  toMessagesReasoning,
} from './responses-reasoning.js';
import { CUSTOM_TOOL_PARAMETERS } from './responses-tools.js';
import { CODEX_APPLY_PATCH, CODEX_CRM_NAMESPACE, codexAdditionalTools } from './__fixtures__/codex-tools.js';
import { classifyGatewayError } from './gateway-http-errors.js';

function refusal(body: Record<string, unknown>): GatewayRequestError {
  try {
    parseResponsesRequest({ model: 'fast', input: 'Hi', ...body });
  } catch (error) {
    if (error instanceof GatewayRequestError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

/** `{ a: { b: value } }` for `a.b`. */
function withField(field: string, value: unknown): Record<string, unknown> {
  return field
    .split('.')
    .reverse()
    .reduce<unknown>((inner, key) => ({ [key]: inner }), value) as Record<string, unknown>;
}

describe('parseResponsesRequest', () => {
  it('refuses every field of the table that asks for something, naming it, and accepts null', () => {
    for (const { field } of RESPONSES_FIELDS_NOT_HONOURED) {
      const error = refusal(withField(field, 'something-not-harmless'));
      expect(error.status).toBe(400);
      expect(error.param).toBe(field);
      expect(error.code).toBe('unsupported_parameter');
      expect(error.message).toContain(field);
      expect(() =>
        parseResponsesRequest({ model: 'fast', input: 'Hi', ...withField(field, null) }),
      ).not.toThrow();
    }
  });

  it('refuses a field it does not know by name, and accepts a prompt cache key', () => {
    const error = refusal({ logit_bias: { '50256': -100 } });
    expect(error).toMatchObject({ status: 400, code: 'unsupported_field', param: 'logit_bias' });
    expect(() =>
      parseResponsesRequest({ model: 'fast', input: 'Hi', prompt_cache_key: 'session-1' }),
    ).not.toThrow();
    expect(refusal({ prompt_cache_key: 7 }).param).toBe('prompt_cache_key');
  });

  it('turns a conversation of items into the provider-neutral messages', () => {
    const { request, user } = parseResponsesRequest({
      model: 'fast',
      instructions: 'Be terse.',
      input: [
        { role: 'developer', content: [{ type: 'input_text', text: 'Use tools.' }] },
        {
          type: 'message',
          role: 'user',
          content: [
            { type: 'input_text', text: 'Weather in ' },
            { type: 'input_text', text: 'Oslo and Rome?' },
          ],
        },
        // Output items of an earlier response, sent back as they came.
        {
          type: 'message',
          id: 'msg_1',
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: 'Checking.', annotations: [] }],
        },
        {
          type: 'function_call',
          id: 'fc_1',
          call_id: 'c1',
          name: 'weather',
          arguments: '{"city":"Oslo"}',
          status: 'completed',
        },
        { type: 'function_call', id: 'fc_2', call_id: 'c2', name: 'weather', arguments: '{"city":"Rome"}' },
        { type: 'function_call_output', call_id: 'c1', output: '3°C' },
        { type: 'function_call_output', call_id: 'c2', output: [{ type: 'input_text', text: '18°C' }] },
      ],
      tool_choice: { type: 'function', name: 'weather' },
      text: { format: { type: 'json_object' } },
      safety_identifier: 'user-7',
    });
    expect(request.messages).toEqual([
      { role: 'system', content: 'Be terse.' },
      { role: 'system', content: 'Use tools.' },
      { role: 'user', content: 'Weather in Oslo and Rome?' },
      {
        role: 'assistant',
        content: 'Checking.',
        toolCalls: [
          { id: 'c1', name: 'weather', arguments: '{"city":"Oslo"}' },
          { id: 'c2', name: 'weather', arguments: '{"city":"Rome"}' },
        ],
      },
      { role: 'tool', toolCallId: 'c1', name: 'weather', content: '3°C' },
      { role: 'tool', toolCallId: 'c2', name: 'weather', content: '18°C' },
    ]);
    expect(request.toolChoice).toEqual({ name: 'weather' });
    expect(request.responseFormat).toEqual({ type: 'json' });
    expect(user).toBe('user-7');
  });

  it('names the field at fault inside an item or a tool', () => {
    expect(refusal({ input: [{ type: 'function_call_output', call_id: 'c1' }] }).param).toBe(
      'input.0.output',
    );
    expect(refusal({ tools: [{ type: 'function', name: 'f', parameters: 'nope' }] }).param).toBe(
      'tools.0.parameters',
    );
    expect(refusal({ input: [{ type: 'item_reference', id: 'msg_1' }] }).param).toBe('input.0.type');
    expect(refusal({ input: [] }).param).toBe('input');
  });

  it('carries reasoning effort, parallel tool calls, image and file parts and strict', () => {
    const { request, echo } = parseResponsesRequest({
      model: 'fast',
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'Compare' },
            { type: 'input_image', image_url: 'data:image/png;base64,AAAA', detail: 'low' },
            { type: 'input_image', image_url: 'https://example.com/b.jpg' },
            { type: 'input_file', file_data: 'data:application/pdf;base64,JVBE', filename: 'r.pdf' },
          ],
        },
      ],
      tools: [{ type: 'function', name: 'f', parameters: { type: 'object' }, strict: true }],
      reasoning: { effort: 'high' },
      parallel_tool_calls: false,
    });
    expect(request.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Compare' },
          { type: 'image', data: 'AAAA', mediaType: 'image/png', detail: 'low' },
          { type: 'image', url: 'https://example.com/b.jpg' },
          { type: 'file', data: 'JVBE', mediaType: 'application/pdf', filename: 'r.pdf' },
        ],
      },
    ]);
    expect(request.tools).toEqual([
      { name: 'f', description: '', parameters: { type: 'object' }, strict: true },
    ]);
    expect(request.reasoning).toEqual({ effort: 'high' });
    expect(request.parallelToolCalls).toBe(false);
    expect(echo).toMatchObject({ parallelToolCalls: false, reasoningEffort: 'high' });
    // Text parts alone stay a plain string, as before parts existed.
    const plain = parseResponsesRequest({
      model: 'fast',
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'a' },
            { type: 'input_text', text: 'b' },
          ],
        },
      ],
    });
    expect(plain.request.messages).toEqual([{ role: 'user', content: 'ab' }]);
  });

  it("names a provider's refusal in Responses terms, for every field of the model's vocabulary", () => {
    for (const [field, param] of Object.entries(RESPONSES_WIRE_FIELDS)) {
      const refused = new UnsupportedFieldError({ provider: 'p', model: 'm', field, reason: 'no' });
      const error = inResponsesTerms(refused);
      expect(error).toBeInstanceOf(GatewayRequestError);
      const { error: body } = toOpenAIError(classifyGatewayError(error));
      const code = field === 'tools.hosted' ? 'unsupported_tool' : 'unsupported_field';
      expect(body).toMatchObject({ param, code, type: 'invalid_request_error' });
      expect(body.message.startsWith(`${param}: `)).toBe(true);
    }
    const other = new Error('boom');
    expect(inResponsesTerms(other)).toBe(other);
  });
});

/** A namespace of MCP tools inside an additional_tools item, as Codex sends them by default. */
const additionalTools = codexAdditionalTools(
  {
    type: 'namespace',
    name: 'mcp__files__',
    description: 'A file server',
    tools: [
      {
        type: 'function',
        name: 'read',
        parameters: { type: 'object', properties: {} },
        defer_loading: true,
      },
      CODEX_APPLY_PATCH,
    ],
  },
  CODEX_CRM_NAMESPACE,
);

function answerOf(toolCalls: { id: string; name: string; arguments: string }[], content = ''): ModelResponse {
  return {
    message: { role: 'assistant', content, toolCalls },
    finishReason: 'tool_calls',
    usage: { inputTokens: 10, outputTokens: 5 },
    modelId: 'm',
  };
}

function identityOf(body: Record<string, unknown>) {
  const { echo } = parseResponsesRequest({ model: 'fast', input: 'Hi', ...body });
  return { id: 'resp_abc', createdAt: 1, model: 'fast', echo };
}

/** The events of a stream, parsed. */
function eventsOf(chunks: string[]): Array<Record<string, unknown>> {
  return chunks
    .join('')
    .split('\n\n')
    .filter((block) => block !== '')
    .map((block) => JSON.parse(block.split('\n')[1]!.slice('data: '.length)) as Record<string, unknown>);
}

describe('custom, namespace and hosted tools (Codex)', () => {
  it('offers a custom tool upstream as a function of one string, its grammar in the description', () => {
    const { request, echo } = parseResponsesRequest({
      model: 'fast',
      input: 'Edit',
      tools: [CODEX_APPLY_PATCH],
    });
    expect(request.tools).toEqual([
      {
        name: 'apply_patch',
        description: expect.stringContaining('Use the `apply_patch` tool to edit files.') as string,
        parameters: CUSTOM_TOOL_PARAMETERS,
      },
    ]);
    const description = request.tools![0]!.description;
    expect(description).toContain('"input"');
    expect(description).toContain('Lark grammar');
    expect(description).toContain(CODEX_APPLY_PATCH.format.definition);
    // The caller's declaration is echoed as it came.
    expect(echo.tools).toEqual([CODEX_APPLY_PATCH]);
  });

  it('turns custom_tool_call and custom_tool_call_output items into a call of the stand-in and its result', () => {
    const patch = '*** Begin Patch\n*** Add File: a.txt\n+"quoted"\n*** End Patch\n';
    const { request } = parseResponsesRequest({
      model: 'fast',
      tools: [CODEX_APPLY_PATCH],
      input: [
        { role: 'user', content: 'Create a.txt' },
        {
          type: 'custom_tool_call',
          id: 'ctc_1',
          status: 'completed',
          call_id: 'c1',
          name: 'apply_patch',
          input: patch,
        },
        { type: 'custom_tool_call_output', call_id: 'c1', output: 'Success. Updated: A a.txt' },
      ],
    });
    expect(request.messages.slice(1)).toEqual([
      {
        role: 'assistant',
        content: '',
        toolCalls: [{ id: 'c1', name: 'apply_patch', arguments: JSON.stringify({ input: patch }) }],
      },
      { role: 'tool', toolCallId: 'c1', name: 'apply_patch', content: 'Success. Updated: A a.txt' },
    ]);
  });

  it('flattens namespace tools of an additional_tools item, and namespaced calls, to names that map back', () => {
    const { request, echo } = parseResponsesRequest({
      model: 'fast',
      input: [
        additionalTools,
        { role: 'user', content: 'Read it' },
        { type: 'function_call', call_id: 'c1', namespace: 'crm', name: 'lookup', arguments: '{}' },
        { type: 'function_call_output', call_id: 'c1', output: 'none' },
      ],
    });
    expect(request.tools?.map((tool) => tool.name)).toEqual([
      'mcp__files__read',
      'mcp__files__apply_patch',
      'crm__lookup',
    ]);
    expect(request.messages).toEqual([
      { role: 'user', content: 'Read it' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'crm__lookup', arguments: '{}' }] },
      { role: 'tool', toolCallId: 'c1', name: 'crm__lookup', content: 'none' },
    ]);
    expect([...echo.toolNames]).toEqual([
      ['mcp__files__read', { kind: 'function', name: 'read', namespace: 'mcp__files__' }],
      ['mcp__files__apply_patch', { kind: 'custom', name: 'apply_patch', namespace: 'mcp__files__' }],
      ['crm__lookup', { kind: 'function', name: 'lookup', namespace: 'crm' }],
    ]);
  });

  it('refuses two tools that would meet on one upstream name, naming the second', () => {
    const error = refusal({
      tools: [{ type: 'function', name: 'crm__lookup' }],
      input: [
        {
          type: 'additional_tools',
          tools: [{ type: 'namespace', name: 'crm', tools: [{ type: 'function', name: 'lookup' }] }],
        },
        { role: 'user', content: 'Hi' },
      ],
    });
    expect(error).toMatchObject({
      status: 400,
      code: 'duplicate_tool',
      param: 'input.0.tools.0.tools.0.name',
    });
  });

  it('gives a long or oddly named namespaced tool a short upstream name that still maps back', () => {
    const namespace = `mcp__${'very_long_server_name_'.repeat(4)}`;
    const { request, echo } = parseResponsesRequest({
      model: 'fast',
      input: 'Hi',
      tools: [{ type: 'namespace', name: namespace, tools: [{ type: 'function', name: 'read.file' }] }],
    });
    const name = request.tools![0]!.name;
    expect(name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    expect(echo.toolNames.get(name)).toEqual({ kind: 'function', name: 'read.file', namespace });
  });

  it('carries hosted tools for Responses deployments: web_search and tool_search optional, the others required', () => {
    const { request, echo } = parseResponsesRequest({
      model: 'fast',
      input: 'Hi',
      tools: [
        { type: 'function', name: 'f' },
        { type: 'web_search', external_web_access: false },
        { type: 'tool_search', execution: 'server' },
        { type: 'file_search', vector_store_ids: ['vs_1'] },
      ],
    });
    expect(request.tools?.map((tool) => tool.name)).toEqual(['f']);
    expect(request.openai?.hostedTools).toEqual([
      { tool: { type: 'web_search', external_web_access: false }, optional: true },
      { tool: { type: 'tool_search', execution: 'server' }, optional: true },
      { tool: { type: 'file_search', vector_store_ids: ['vs_1'] }, optional: false },
    ]);
    expect(echo.tools).toHaveLength(4);
    // A namespace holds functions and custom tools only.
    expect(
      refusal({ tools: [{ type: 'namespace', name: 'n', tools: [{ type: 'web_search' }] }] }).param,
    ).toBe('tools.0.tools.0.type');
    expect(refusal({ tools: [{ name: 'no type' }] }).param).toBe('tools.0.type');
    // Tools whose calls the client runs or answers: their items could not come back.
    for (const type of ['local_shell', 'computer_use_preview', 'mcp', 'apply_patch']) {
      const error = refusal({ tools: [{ type: 'function', name: 'f' }, { type }] });
      expect(error).toMatchObject({ status: 400, code: 'unsupported_tool', param: 'tools.1.type' });
      expect(error.message).toContain(type);
    }
  });

  it("carries OpenAI's reasoning items and hosted tool calls verbatim, dropping a reasoning item without content", () => {
    const { request } = parseResponsesRequest({
      model: 'fast',
      include: ['reasoning.encrypted_content'],
      input: [
        { role: 'user', content: 'Hi' },
        { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'gAAAAB...', status: null },
        { type: 'web_search_call', id: 'ws_1', status: 'completed', action: { type: 'search', query: 'q' } },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hello' }] },
        { role: 'user', content: 'Again' },
        // Only a reference to a stored item, and nothing is stored.
        { type: 'reasoning', id: 'rs_2', summary: [] },
        { type: 'message', role: 'assistant', content: 'Bye' },
      ],
    });
    expect(request.messages).toEqual([
      { role: 'user', content: 'Hi' },
      {
        role: 'assistant',
        content: 'Hello',
        reasoning: [
          {
            type: 'openai_item',
            item: { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'gAAAAB...' },
          },
          {
            type: 'openai_item',
            item: {
              type: 'web_search_call',
              id: 'ws_1',
              status: 'completed',
              action: { type: 'search', query: 'q' },
            },
          },
        ],
      },
      { role: 'user', content: 'Again' },
      { role: 'assistant', content: 'Bye' },
    ]);
  });

  it('passes prompt_cache_key, text.verbosity and reasoning.summary to Responses deployments by the table', () => {
    const { request } = parseResponsesRequest({
      model: 'fast',
      input: 'Hi',
      prompt_cache_key: 'k1',
      text: { verbosity: 'low', format: { type: 'text' } },
      reasoning: { effort: 'low', summary: 'auto', context: 'all_turns' },
      client_metadata: { session: 's' },
    });
    expect(request.openai).toEqual({
      fields: { text: { verbosity: 'low' }, reasoning: { summary: 'auto' }, prompt_cache_key: 'k1' },
    });
    expect(request.reasoning).toEqual({ effort: 'low' });
  });

  it("answers OpenAI's items as they came, a reasoning item's content only when include asks", () => {
    const reasoningItem = { type: 'reasoning', id: 'rs_up', summary: [], encrypted_content: 'enc' };
    const searchItem = { type: 'web_search_call', id: 'ws_up', status: 'completed' };
    const answer: ModelResponse = {
      ...answerOf([]),
      message: {
        role: 'assistant',
        content: 'Done',
        reasoning: [
          { type: 'openai_item', item: reasoningItem },
          { type: 'openai_item', item: searchItem },
        ],
      },
    };
    const withInclude = toResponse(
      answer,
      identityOf({ input: 'Hi', include: ['reasoning.encrypted_content'] }),
    );
    expect((withInclude.output as unknown[]).slice(0, 2)).toEqual([reasoningItem, searchItem]);
    // An item the adapter placed after the text comes after it.
    const placed: ModelResponse = {
      ...answer,
      message: {
        ...answer.message,
        reasoning: [
          { type: 'openai_item', item: reasoningItem, position: 0 },
          { type: 'openai_item', item: searchItem, position: 2 },
        ],
      },
    };
    const ordered = toResponse(placed, identityOf({ input: 'Hi', include: ['reasoning.encrypted_content'] }));
    expect((ordered.output as { type: string }[]).map((item) => item.type)).toEqual([
      'reasoning',
      'message',
      'web_search_call',
    ]);
    const without = toResponse(answer, identityOf({ input: 'Hi' }));
    expect((without.output as unknown[]).slice(0, 2)).toEqual([
      { type: 'reasoning', id: 'rs_up', summary: [] },
      searchItem,
    ]);
  });

  it('answers calls in the terms the tools were declared in: custom_tool_call, namespaced function_call', () => {
    const identity = identityOf({
      tools: [CODEX_APPLY_PATCH],
      input: [additionalTools, { role: 'user', content: 'Go' }],
    });
    const response = toResponse(
      answerOf([
        { id: 'c1', name: 'apply_patch', arguments: JSON.stringify({ input: '*** Begin Patch\n' }) },
        { id: 'c2', name: 'crm__lookup', arguments: '{"q":1}' },
        { id: 'c3', name: 'mcp__files__apply_patch', arguments: 'not json' },
      ]),
      identity,
    );
    expect(response.output).toEqual([
      {
        id: 'ctc_abc_0',
        type: 'custom_tool_call',
        status: 'completed',
        call_id: 'c1',
        name: 'apply_patch',
        input: '*** Begin Patch\n',
      },
      {
        id: 'fc_abc_1',
        type: 'function_call',
        status: 'completed',
        call_id: 'c2',
        namespace: 'crm',
        name: 'lookup',
        arguments: '{"q":1}',
      },
      // Arguments not of the stand-in's shape: the model wrote the input itself.
      {
        id: 'ctc_abc_2',
        type: 'custom_tool_call',
        status: 'completed',
        call_id: 'c3',
        namespace: 'mcp__files__',
        name: 'apply_patch',
        input: 'not json',
      },
    ]);
  });

  it('streams a custom tool call as custom_tool_call_input deltas of the decoded input', () => {
    const identity = identityOf({ tools: [CODEX_APPLY_PATCH, { type: 'function', name: 'f' }] });
    const encoder = createResponsesEventEncoder(identity);
    const input = '*** Begin Patch\n+"é" \\ ünïcode 😀\n*** End Patch';
    const argumentsText = JSON.stringify({ input });
    const modelEvents: ModelStreamEvent[] = [];
    // Fragments of 3 characters cut escapes (\n, \", \\, \ud83d\ude00 pairs) in the middle.
    const escaped = argumentsText.replace(/😀/u, '\\ud83d\\ude00');
    for (let at = 0; at < escaped.length; at += 3)
      modelEvents.push({
        type: 'tool-call-delta',
        index: 0,
        ...(at === 0 ? { id: 'c1', name: 'apply_patch' } : {}),
        argumentsDelta: escaped.slice(at, at + 3),
      });
    modelEvents.push({ type: 'tool-call-delta', index: 1, id: 'c2', name: 'f', argumentsDelta: '{}' });
    modelEvents.push({
      type: 'finish',
      response: answerOf([
        { id: 'c1', name: 'apply_patch', arguments: escaped },
        { id: 'c2', name: 'f', arguments: '{}' },
      ]),
    });
    const events = eventsOf([encoder.start(), ...modelEvents.map((event) => encoder.encode(event))]);
    const of = (type: string) => events.filter((event) => event.type === type);
    expect(of('response.output_item.added').map((event) => event.item)).toEqual([
      {
        id: 'ctc_abc_0',
        type: 'custom_tool_call',
        status: 'in_progress',
        call_id: 'c1',
        name: 'apply_patch',
        input: '',
      },
      {
        id: 'fc_abc_1',
        type: 'function_call',
        status: 'in_progress',
        call_id: 'c2',
        name: 'f',
        arguments: '',
      },
    ]);
    const deltas = of('response.custom_tool_call_input.delta');
    expect(deltas.length).toBeGreaterThan(5);
    expect(deltas.map((event) => event.delta).join('')).toBe(input);
    expect(deltas.every((event) => event.item_id === 'ctc_abc_0' && event.output_index === 0)).toBe(true);
    expect(of('response.custom_tool_call_input.done')).toMatchObject([{ item_id: 'ctc_abc_0', input }]);
    expect(of('response.function_call_arguments.done')).toMatchObject([
      { item_id: 'fc_abc_1', name: 'f', arguments: '{}' },
    ]);
    const completed = of('response.completed')[0]!.response as { output: unknown[]; usage: unknown };
    expect(completed.output[0]).toMatchObject({ type: 'custom_tool_call', input });
    expect(completed.usage).toMatchObject({ input_tokens: 10, output_tokens: 5 });
    // The sequence numbers run without a gap.
    expect(events.map((event) => event.sequence_number)).toEqual(events.map((_, index) => index));
  });

  it('replays a custom tool call of a cached answer whole, as one delta and its done event', () => {
    const encoder = createResponsesEventEncoder(identityOf({ tools: [CODEX_APPLY_PATCH] }));
    const events = eventsOf([
      encoder.start(),
      encoder.encode({
        type: 'finish',
        response: answerOf([{ id: 'c1', name: 'apply_patch', arguments: '{"input":"x\\ny"}' }]),
      }),
    ]);
    expect(
      events.filter((event) => String(event.type).startsWith('response.custom_tool_call_input')),
    ).toMatchObject([
      { type: 'response.custom_tool_call_input.delta', delta: 'x\ny' },
      { type: 'response.custom_tool_call_input.done', input: 'x\ny' },
    ]);
  });
});

describe('what the Codex CLI sends besides its tools', () => {
  it("accepts its default mode's body: verbosity and reasoning context dropped by the table, summary auto", () => {
    const { request } = parseResponsesRequest({
      model: 'gpt-6.2-sol',
      input: 'Hi',
      text: { verbosity: 'low' },
      reasoning: { effort: 'low', context: 'all_turns', summary: 'auto' },
      parallel_tool_calls: false,
      store: false,
      include: ['reasoning.encrypted_content'],
      prompt_cache_key: 'session',
      client_metadata: { session_id: 'session' },
    });
    expect(request.reasoning).toEqual({ effort: 'low' });
    expect(RESPONSES_FIELDS_DROPPED.map(({ field }) => field)).toEqual(
      expect.arrayContaining(['text.verbosity', 'reasoning.context']),
    );
    expect(refusal({ text: { verbosity: 'loud' } }).param).toBe('text.verbosity');
    expect(refusal({ reasoning: { summary: 'detailed' } }).param).toBe('reasoning.summary');
  });
});

describe('reasoning items', () => {
  const blocks = [
    { type: 'thinking' as const, text: 'Think.', signature: 'sig-1' },
    { type: 'redacted_thinking' as const, data: 'opaque' },
  ];

  it("answer a model's reasoning blocks as one reasoning item when include asks, streamed in order", () => {
    const identity = identityOf({ include: ['reasoning.encrypted_content'] });
    const answer = { ...answerOf([], 'Done.'), finishReason: 'stop' as const };
    answer.message.reasoning = blocks;
    const [item] = toResponse(answer, identity).output as Array<Record<string, unknown>>;
    expect(item).toMatchObject({ id: 'rs_abc', type: 'reasoning', summary: [] });
    expect(decodeReasoning(item!.encrypted_content as string)).toEqual(blocks);
    expect((toResponse(answer, identityOf({})).output as unknown[]).length).toBe(1);

    const encoder = createResponsesEventEncoder(identity);
    const events = eventsOf([
      encoder.start(),
      encoder.encode({ type: 'reasoning-delta', index: 0, kind: 'thinking', text: 'Thi' }),
      encoder.encode({ type: 'reasoning-delta', index: 0, text: 'nk.' }),
      encoder.encode({ type: 'reasoning-delta', index: 0, signature: 'sig-1' }),
      encoder.encode({ type: 'reasoning-delta', index: 1, kind: 'redacted_thinking', data: 'opaque' }),
      encoder.encode({ type: 'text-delta', text: 'Done.' }),
      encoder.encode({ type: 'finish', response: answer }),
    ]);
    const done = events.filter((event) => event.type === 'response.output_item.done');
    expect(done.map((event) => (event.item as { type: string }).type)).toEqual(['reasoning', 'message']);
    expect(decodeReasoning((done[0]!.item as { encrypted_content: string }).encrypted_content)).toEqual(
      blocks,
    );
  });

  it("hand Keel's reasoning item back as the assistant turn's reasoning, first", () => {
    const { request } = parseResponsesRequest({
      model: 'claude',
      input: [
        { role: 'user', content: 'Hi' },
        { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: encodeReasoning(blocks) },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Checking.' }] },
        { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
        { type: 'function_call_output', call_id: 'c1', output: 'ok' },
      ],
    });
    expect(request.messages.slice(1, 2)).toEqual([
      {
        role: 'assistant',
        content: 'Checking.',
        reasoning: blocks,
        toolCalls: [{ id: 'c1', name: 'f', arguments: '{}' }],
      },
    ]);
    // Not Keel's envelope, or not blocks: dropped.
    expect(decodeReasoning('gAAAAB')).toBeUndefined();
    expect(
      decodeReasoning(`keel.reasoning.v1.${Buffer.from('[{"type":"x"}]').toString('base64')}`),
    ).toBeUndefined();
  });
});

describe("OpenAI's items through a Messages caller", () => {
  it('go out as redacted_thinking in Keel envelope and come back as the item in its place', () => {
    const block = {
      type: 'openai_item' as const,
      item: { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'e1' },
      position: 2,
    };
    const sent = toMessagesReasoning(block);
    expect(sent.type).toBe('redacted_thinking');
    const data = sent.type === 'redacted_thinking' ? sent.data : '';
    expect(data.startsWith('keel.openai-item.v1.')).toBe(true);
    expect(fromRedactedThinking(data)).toEqual(block);
    // Anthropic's own redacted thinking, and an envelope that does not decode, stay as they are.
    expect(fromRedactedThinking('EqoBCkgIARABGAIiQ')).toEqual({
      type: 'redacted_thinking',
      data: 'EqoBCkgIARABGAIiQ',
    });
    expect(fromRedactedThinking('keel.openai-item.v1.bm90IGpzb24=')).toEqual({
      type: 'redacted_thinking',
      data: 'keel.openai-item.v1.bm90IGpzb24=',
    });
    // Anthropic's blocks pass unchanged.
    const thinking = { type: 'thinking' as const, text: 't', signature: 's' };
    expect(toMessagesReasoning(thinking)).toBe(thinking);
  });
});
