import { describe, expect, it } from 'vitest';
import { UnsupportedFieldError } from '../../errors/model-errors.js';
import { GatewayRequestError } from './gateway-http-errors.js';
import { toOpenAIError } from './openai-format.js';
import {
  inResponsesTerms,
  parseResponsesRequest,
  RESPONSES_FIELDS_NOT_HONOURED,
  RESPONSES_WIRE_FIELDS,
} from './responses-format.js';
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
      expect(body).toMatchObject({ param, code: 'unsupported_field', type: 'invalid_request_error' });
      expect(body.message.startsWith(`${param}: `)).toBe(true);
    }
    const other = new Error('boom');
    expect(inResponsesTerms(other)).toBe(other);
  });
});
