import { z } from 'zod';

/**
 * The recorded output of a model step, validated when read back from the journal: a payload
 * written by an older version or damaged in storage fails loudly instead of derailing a replay.
 */
export const storedModelResponseSchema = z.object({
  message: z.object({
    role: z.literal('assistant'),
    content: z.string(),
    toolCalls: z.array(z.object({ id: z.string(), name: z.string(), arguments: z.string() })).optional(),
  }),
  finishReason: z.enum(['stop', 'length', 'tool_calls', 'content_filter', 'error', 'other']),
  usage: z.object({
    inputTokens: z.number(),
    outputTokens: z.number(),
    cachedInputTokens: z.number().optional(),
    reasoningTokens: z.number().optional(),
  }),
  modelId: z.string(),
});
