import { describe, expect, it } from 'vitest';
import { chatCompletionChunkSchema, isPlainChatCompletionChunk } from './wire.js';

const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini' };
const choice = (delta: unknown, finish_reason: unknown = null) => ({
  index: 0,
  delta,
  logprobs: null,
  finish_reason,
});

/** Chunks the fast path takes as they are. */
const PLAIN: unknown[] = [
  { ...base, choices: [choice({ role: 'assistant', content: '', refusal: null })] },
  { ...base, choices: [choice({ content: 'The ' })] },
  { ...base, choices: [choice({ refusal: 'no' })] },
  { ...base, choices: [choice({}, 'stop')] },
  { ...base, choices: [choice(null, 'length')] },
  { ...base, choices: [], usage: { prompt_tokens: 24, completion_tokens: 9, total_tokens: 33 } },
  {
    ...base,
    choices: [],
    usage: {
      prompt_tokens: 24,
      completion_tokens: 9,
      prompt_tokens_details: { cached_tokens: 4 },
      completion_tokens_details: null,
    },
  },
  { choices: null, usage: null },
  {},
];

/** Chunks left to the schema: tool calls, and anything the schema would read otherwise or refuse. */
const NOT_PLAIN: unknown[] = [
  null,
  [],
  'data',
  { ...base, model: 7 },
  { ...base, choices: {} },
  { ...base, choices: [null] },
  { ...base, choices: [choice({ content: 3 })] },
  { ...base, choices: [choice({ content: 'x' }, 1)] },
  { ...base, choices: [{ index: '0', delta: { content: 'x' } }] },
  { ...base, choices: [choice([])] },
  {
    ...base,
    choices: [choice({ tool_calls: [{ index: 0, id: 'call_1', function: { name: 'f', arguments: '' } }] })],
  },
  { ...base, choices: [choice({ function_call: { name: 'f', arguments: '{}' } })] },
  { ...base, choices: [], usage: 'lots' },
  { ...base, choices: [], usage: { prompt_tokens: 1, completion_tokens_details: [1] } },
];

/** What the adapter reads of a chunk. */
const read = (chunk: ReturnType<typeof chatCompletionChunkSchema.parse>) => ({
  model: chunk.model,
  usage:
    chunk.usage == null
      ? chunk.usage
      : {
          prompt: chunk.usage.prompt_tokens,
          completion: chunk.usage.completion_tokens,
          cached: chunk.usage.prompt_tokens_details?.cached_tokens,
          reasoning: chunk.usage.completion_tokens_details?.reasoning_tokens,
        },
  choices: chunk.choices?.map((c) => ({
    index: c.index,
    finish: c.finish_reason,
    content: c.delta?.content,
    refusal: c.delta?.refusal,
    tools: c.delta?.tool_calls,
    fn: c.delta?.function_call,
  })),
});

describe('isPlainChatCompletionChunk', () => {
  it.each(PLAIN.map((chunk) => [JSON.stringify(chunk), chunk]))(
    'takes %s as it is, read the same as through the schema',
    (_name, chunk) => {
      expect(isPlainChatCompletionChunk(chunk)).toBe(true);
      const parsed = chatCompletionChunkSchema.safeParse(chunk);
      expect(parsed.success).toBe(true);
      expect(read(chunk as never)).toEqual(read(parsed.data!));
    },
  );

  it.each(NOT_PLAIN.map((chunk) => [JSON.stringify(chunk), chunk]))(
    'leaves %s to the schema',
    (_name, chunk) => {
      expect(isPlainChatCompletionChunk(chunk)).toBe(false);
    },
  );
});
