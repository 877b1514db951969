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
    // Kept whole: a later turn hands it back to the provider, which checks the signatures.
    reasoning: z
      .array(
        z.discriminatedUnion('type', [
          z.object({ type: z.literal('thinking'), text: z.string(), signature: z.string() }),
          z.object({ type: z.literal('redacted_thinking'), data: z.string() }),
          z.object({
            type: z.literal('openai_item'),
            item: z.looseObject({ type: z.string(), id: z.string().optional() }),
            position: z.number().int().nonnegative().optional(),
          }),
        ]),
      )
      .optional(),
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
