import { describe, expect, it } from 'vitest';
import { isPlainStreamEvent, streamEventSchema } from './wire.js';

/** Events of the common shapes, as Anthropic streams them. */
const PLAIN: unknown[] = [
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello — world' } },
  { type: 'content_block_delta', index: 1, delta: { type: 'thinking_delta', thinking: 'Let me see' } },
  { type: 'content_block_delta', index: 1, delta: { type: 'signature_delta', signature: 'EqQBCkgIAR' } },
  { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"path":' } },
  {
    type: 'content_block_delta',
    index: 0,
    delta: { type: 'citations_delta', citation: { cited_text: 'x' } },
  },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: null } },
  { type: 'content_block_stop', index: 3 },
  { type: 'message_stop' },
  { type: 'ping' },
];

/** Events the schema must read: other types, or a field of the wrong type. */
const NOT_PLAIN: unknown[] = [
  { type: 'message_start', message: { model: 'claude', usage: { input_tokens: 3 } } },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 5 } },
  { type: 'content_block_delta', index: '0', delta: { type: 'text_delta', text: 'x' } },
  { type: 'content_block_delta', index: Infinity, delta: { type: 'text_delta', text: 'x' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 5 } },
  { type: 'content_block_delta', index: 0, delta: { text: 'no type' } },
  { type: 'content_block_delta', index: 0, delta: [] },
  { type: 'content_block_delta', index: 0 },
  { type: 'content_block_stop' },
  { type: 'something_new' },
  ['content_block_stop'],
  null,
];

/** What the adapter reads of an event. */
const read = (event: Record<string, unknown>) => {
  const delta = event.delta as Record<string, unknown> | undefined;
  return {
    type: event.type,
    index: event.index,
    delta: delta && {
      type: delta.type,
      text: delta.text,
      partial_json: delta.partial_json,
      thinking: delta.thinking,
      signature: delta.signature,
    },
  };
};

describe('isPlainStreamEvent', () => {
  it.each(PLAIN.map((event) => [JSON.stringify(event), event]))(
    'takes %s as it is, read the same as through the schema',
    (_name, event) => {
      expect(isPlainStreamEvent(event)).toBe(true);
      const parsed = streamEventSchema.safeParse(event);
      expect(parsed.success).toBe(true);
      expect(read(event as Record<string, unknown>)).toEqual(read(parsed.data as Record<string, unknown>));
    },
  );

  it.each(NOT_PLAIN.map((event) => [JSON.stringify(event), event]))(
    'leaves %s to the schema',
    (_name, event) => {
      expect(isPlainStreamEvent(event)).toBe(false);
    },
  );
});
