/**
 * OpenAI's chat-completions wire, written once: what Keel's OpenAI adapter sends and reads, what
 * the gateway's OpenAI endpoints parse from callers and write back, and what the fake OpenAI server
 * answers. Request schemas are the strict ones the gateway applies to callers (an unknown field is
 * refused); response schemas are the lenient ones the adapter applies to upstreams (a bad count
 * must not lose the answer); the writer types are what the gateway and the fake send, and are
 * checked below to be readable by the adapter's schemas.
 */
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------
// Requests (`POST /chat/completions`, `POST /embeddings`)

export const cacheControlSchema = z.object({
  type: z.literal('ephemeral'),
  ttl: z.enum(['5m', '1h']).optional(),
});
export const contentPartSchema = z.looseObject({
  type: z.string(),
  text: z.string().optional(),
  refusal: z.string().optional(),
  // Not OpenAI's, but what OpenRouter and LiteLLM callers put on parts for Anthropic upstreams.
  cache_control: cacheControlSchema.optional(),
  image_url: z
    .object({ url: z.string().min(1), detail: z.enum(['auto', 'low', 'high']).optional() })
    .optional(),
  file: z
    .object({
      file_data: z.string().optional(),
      file_id: z.string().optional(),
      filename: z.string().optional(),
    })
    .optional(),
});
export const contentSchema = z.union([z.string(), z.array(contentPartSchema)]);

export const toolCallSchema = z.object({
  id: z.string().min(1),
  type: z.literal('function').optional(),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});

export const messageSchema = z.discriminatedUnion('role', [
  z.object({ role: z.enum(['system', 'developer']), content: contentSchema }),
  z.object({ role: z.literal('user'), content: contentSchema }),
  z.object({
    role: z.literal('assistant'),
    content: contentSchema.nullish(),
    refusal: z.string().nullish(),
    tool_calls: z.array(toolCallSchema).nullish(),
  }),
  z.object({ role: z.literal('tool'), tool_call_id: z.string().min(1), content: contentSchema }),
]);

export const toolSchema = z.object({
  type: z.literal('function'),
  function: z.object({
    name: z.string().min(1),
    description: z.string().nullish(),
    parameters: z.record(z.string(), z.unknown()).nullish(),
    strict: z.boolean().nullish(),
  }),
});

export const chatCompletionRequestSchema = z.strictObject({
  model: z.string().min(1),
  messages: z.array(messageSchema).min(1, 'must contain at least one message'),
  tools: z.array(toolSchema).nullish(),
  tool_choice: z
    .union([
      z.enum(['none', 'auto', 'required']),
      z.object({ type: z.literal('function'), function: z.object({ name: z.string().min(1) }) }),
    ])
    .nullish(),
  response_format: z
    .discriminatedUnion('type', [
      z.object({ type: z.literal('text') }),
      z.object({ type: z.literal('json_object') }),
      z.object({
        type: z.literal('json_schema'),
        json_schema: z.object({
          name: z.string().min(1),
          schema: z.record(z.string(), z.unknown()).nullish(),
        }),
      }),
    ])
    .nullish(),
  max_tokens: z.number().int().positive().nullish(),
  max_completion_tokens: z.number().int().positive().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  stop: z.union([z.string(), z.array(z.string())]).nullish(),
  seed: z.number().int().nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  n: z.number().int().nullish(),
  user: z.string().nullish(),
  reasoning_effort: z.enum(['minimal', 'low', 'medium', 'high']).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  // Accepted and ignored, harmlessly: hints and bookkeeping that change no answer (docs/gateway.md).
  store: z.boolean().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  // `flex` and `priority` change the price and the latency: only the default tier is harmless.
  service_tier: z.enum(['auto', 'default']).nullish(),
  prompt_cache_key: z.string().nullish(),
  safety_identifier: z.string().nullish(),
  modalities: z.array(z.literal('text')).nullish(),
  // Sampling penalties: only their neutral value, which is every provider's default.
  frequency_penalty: z.literal(0).nullish(),
  presence_penalty: z.literal(0).nullish(),
  logprobs: z.literal(false).nullish(),
});

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
export type ChatContent = z.infer<typeof contentSchema>;

export const embeddingsRequestSchema = z.object({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(z.unknown())]),
  dimensions: z.number().int().positive().nullish(),
  encoding_format: z.enum(['float', 'base64']).nullish(),
  user: z.string().nullish(),
});

// ---------------------------------------------------------------------------------------------
// Responses as read from an upstream (lenient)

// Counts are read as they come (trusted-usage.ts judges them): a bad count must not lose the answer.
export const usageSchema = z
  .object({
    prompt_tokens: z.unknown(),
    completion_tokens: z.unknown(),
    prompt_tokens_details: z.object({ cached_tokens: z.unknown() }).nullish().catch(null),
    completion_tokens_details: z.object({ reasoning_tokens: z.unknown() }).nullish().catch(null),
  })
  .nullish()
  .catch(null);

export const responseContentSchema = z
  .union([z.string(), z.array(z.object({ text: z.string().nullish() }).loose())])
  .nullish();

export const chatCompletionSchema = z.object({
  model: z.string().nullish(),
  choices: z.array(
    z.object({
      index: z.number().nullish(),
      message: z
        .object({
          content: responseContentSchema,
          refusal: z.string().nullish(),
          tool_calls: z
            .array(
              z.object({
                id: z.string().nullish(),
                function: z.object({ name: z.string(), arguments: z.string().nullish() }),
              }),
            )
            .nullish(),
          function_call: z.object({ name: z.string(), arguments: z.string().nullish() }).nullish(),
        })
        .nullish(),
      finish_reason: z.string().nullish(),
    }),
  ),
  usage: usageSchema,
});

const deltaFunctionSchema = z
  .object({ name: z.string().nullish(), arguments: z.string().nullish() })
  .nullish();

export const chatCompletionChunkSchema = z.object({
  model: z.string().nullish(),
  choices: z
    .array(
      z.object({
        index: z.number().nullish(),
        delta: z
          .object({
            content: z.string().nullish(),
            refusal: z.string().nullish(),
            tool_calls: z
              .array(
                z.object({
                  index: z.number().nullish(),
                  id: z.string().nullish(),
                  function: deltaFunctionSchema,
                }),
              )
              .nullish(),
            function_call: deltaFunctionSchema,
          })
          .nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .nullish(),
  usage: usageSchema,
});

export type ChatCompletionChunkRead = z.infer<typeof chatCompletionChunkSchema>;

type Fields = Record<string, unknown>;
const isFields = (value: unknown): value is Fields =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isAbsentOr = (value: unknown, type: 'string' | 'number') => value == null || typeof value === type;
const isAbsentOrFields = (value: unknown) => value == null || isFields(value);

/**
 * True for a chunk of the common shape (text deltas, a finish reason, a usage chunk) that
 * {@link chatCompletionChunkSchema} accepts and reads the same, so it needs no schema parse; a
 * chunk with tool calls, or anything unusual, goes through the schema. The streaming hot path: a
 * schema parse per chunk was the largest single cost of relaying a stream.
 */
export function isPlainChatCompletionChunk(value: unknown): value is ChatCompletionChunkRead {
  if (!isFields(value) || !isAbsentOr(value.model, 'string')) return false;
  const { choices, usage } = value;
  if (usage != null) {
    // The schema reads any usage object (its counts are judged later) but catches odd details.
    if (!isFields(usage)) return false;
    if (!isAbsentOrFields(usage.prompt_tokens_details)) return false;
    if (!isAbsentOrFields(usage.completion_tokens_details)) return false;
  }
  if (choices == null) return true;
  if (!Array.isArray(choices)) return false;
  for (const choice of choices as unknown[]) {
    if (!isFields(choice)) return false;
    if (!isAbsentOr(choice.index, 'number') || !isAbsentOr(choice.finish_reason, 'string')) return false;
    const delta = choice.delta;
    if (delta == null) continue;
    if (!isFields(delta)) return false;
    if (!isAbsentOr(delta.content, 'string') || !isAbsentOr(delta.refusal, 'string')) return false;
    if (delta.tool_calls != null || delta.function_call != null) return false;
  }
  return true;
}
export type ResponseContent = z.infer<typeof responseContentSchema>;

export const embeddingsResponseSchema = z.object({
  data: z.array(z.object({ index: z.number().nullish(), embedding: z.array(z.number()) })),
  usage: z.object({ prompt_tokens: z.unknown() }).nullish().catch(null),
});

export const errorBodySchema = z.object({
  error: z.union([
    z.string(),
    z.object({
      message: z.string().nullish(),
      type: z.string().nullish(),
      code: z.union([z.string(), z.number()]).nullish(),
    }),
  ]),
});

// ---------------------------------------------------------------------------------------------
// Responses as written (the gateway's answers, the fake server's)

export type ChatFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

/** A whole tool call in a `chat.completion` message. */
export type ChatToolCall = {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
};

/** OpenAI's usage object, including the cached and reasoning subsets. */
export type ChatUsage = {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens: number; audio_tokens?: number };
  completion_tokens_details?: {
    reasoning_tokens: number;
    audio_tokens?: number;
    accepted_prediction_tokens?: number;
    rejected_prediction_tokens?: number;
  };
};

/** A `chat.completion` body. */
export type ChatCompletion = {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: {
    index: number;
    message: {
      role: 'assistant';
      content: string | null;
      refusal: string | null;
      annotations?: unknown[];
      tool_calls?: ChatToolCall[];
    };
    logprobs: null;
    finish_reason: string;
  }[];
  usage?: ChatUsage;
  service_tier?: string;
  system_fingerprint?: string;
};

/** The `delta` of a `chat.completion.chunk`; a tool call's first fragment carries id, type and name. */
export type ChatChunkDelta = {
  role?: 'assistant';
  content?: string | null;
  refusal?: string | null;
  tool_calls?: {
    index: number;
    id?: string;
    type?: 'function';
    function: { name?: string; arguments: string };
  }[];
};

/** A `chat.completion.chunk` event's data; the usage chunk has no choices. */
export type ChatCompletionChunk = {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  service_tier?: string;
  system_fingerprint?: string;
  choices: { index: number; delta: ChatChunkDelta; logprobs: null; finish_reason: string | null }[];
  usage?: ChatUsage | null;
};

/** OpenAI's error body. */
export type OpenAIErrorBody = {
  error: { message: string; type: string; param: string | null; code: string | null };
};

/** An embeddings list; `embedding` is floats or base64 little-endian float32s per `encoding_format`. */
export type EmbeddingsResponse = {
  object: 'list';
  data: { object: 'embedding'; index: number; embedding: number[] | string }[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
};

// What is written must be readable: each writer type fits its reader schema.
type Fits<Written extends Read, Read> = Written;
export type WireChecks = [
  Fits<ChatCompletion, z.input<typeof chatCompletionSchema>>,
  Fits<ChatCompletionChunk, z.input<typeof chatCompletionChunkSchema>>,
  Fits<OpenAIErrorBody, z.input<typeof errorBodySchema>>,
];
