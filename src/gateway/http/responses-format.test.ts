import { describe, expect, it } from 'vitest';
import { GatewayRequestError } from './gateway-http-errors.js';
import { parseResponsesRequest, RESPONSES_FIELDS_NOT_HONOURED } from './responses-format.js';

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
});
