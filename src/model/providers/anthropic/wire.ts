/**
 * Anthropic's Messages wire, written once: what Keel's Anthropic adapter sends and reads, what the
 * gateway's Anthropic endpoints (`/v1/messages`, `/v1/messages/count_tokens`) parse from callers
 * and write back, and what the fake Anthropic server answers. Request schemas are the strict ones
 * the gateway applies to callers; response schemas are the lenient ones the adapter applies to
 * upstreams; the writer types are what the gateway and the fake send, checked below to be readable
 * by the adapter's schemas.
 */
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------
// Requests (`POST /v1/messages`, `POST /v1/messages/count_tokens`)

export const cacheControlSchema = z.object({
  type: z.literal('ephemeral'),
  ttl: z.enum(['5m', '1h']).optional(),
});
export const textBlockSchema = z.object({
  type: z.literal('text'),
  text: z.string(),
  cache_control: cacheControlSchema.optional(),
});
export const imageSourceSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('base64'), media_type: z.string().min(1), data: z.string().min(1) }),
  z.object({ type: z.literal('url'), url: z.string().min(1) }),
]);
export const documentSourceSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('base64'), media_type: z.string().min(1), data: z.string().min(1) }),
  z.object({ type: z.literal('url'), url: z.string().min(1) }),
  z.object({ type: z.literal('text'), media_type: z.literal('text/plain'), data: z.string() }),
]);

export const imageBlockSchema = z.object({
  type: z.literal('image'),
  source: imageSourceSchema,
  cache_control: cacheControlSchema.optional(),
});
export const documentBlockSchema = z.object({
  type: z.literal('document'),
  source: documentSourceSchema,
  title: z.string().nullish(),
  cache_control: cacheControlSchema.optional(),
});
/** What a `tool_result` may hold besides a string: text, images and documents (a `Read` of a PNG). */
export const nestedBlockSchema = z.discriminatedUnion('type', [
  textBlockSchema,
  imageBlockSchema,
  documentBlockSchema,
]);

export const requestBlockSchema = z.discriminatedUnion('type', [
  textBlockSchema,
  z.object({
    type: z.literal('tool_use'),
    id: z.string().min(1),
    name: z.string().min(1),
    input: z.unknown(),
    cache_control: cacheControlSchema.optional(),
  }),
  z.object({
    type: z.literal('tool_result'),
    tool_use_id: z.string().min(1),
    content: z.union([z.string(), z.array(nestedBlockSchema)]).optional(),
    is_error: z.boolean().optional(),
    cache_control: cacheControlSchema.optional(),
  }),
  imageBlockSchema,
  documentBlockSchema,
  // Earlier answers' reasoning, handed back as it came (the signature covers the text).
  z.object({
    type: z.literal('thinking'),
    thinking: z.string(),
    signature: z.string(),
    cache_control: cacheControlSchema.optional(),
  }),
  z.object({
    type: z.literal('redacted_thinking'),
    data: z.string(),
    cache_control: cacheControlSchema.optional(),
  }),
]);

const messagesRequestFields = {
  model: z.string().min(1),
  max_tokens: z.number().int().positive(),
  system: z.union([z.string(), z.array(textBlockSchema)]).optional(),
  messages: z
    .array(
      z.union([
        z.object({
          role: z.enum(['user', 'assistant']),
          content: z.union([z.string(), z.array(requestBlockSchema)]),
        }),
        // Anywhere in the conversation (Claude Code's beta `mid-conversation-system-*`).
        z.object({ role: z.literal('system'), content: z.union([z.string(), z.array(textBlockSchema)]) }),
      ]),
    )
    .min(1, 'must contain at least one message'),
  tools: z
    .array(
      z.object({
        type: z.string().nullish(),
        name: z.string().min(1),
        description: z.string().optional(),
        input_schema: z.record(z.string(), z.unknown()).optional(),
        cache_control: cacheControlSchema.optional(),
      }),
    )
    .optional(),
  tool_choice: z
    .discriminatedUnion('type', [
      z.object({ type: z.enum(['auto', 'any', 'none']), disable_parallel_tool_use: z.boolean().optional() }),
      z.object({
        type: z.literal('tool'),
        name: z.string().min(1),
        disable_parallel_tool_use: z.boolean().optional(),
      }),
    ])
    .optional(),
  thinking: z
    .discriminatedUnion('type', [
      z.object({ type: z.literal('enabled'), budget_tokens: z.number().int().min(1024) }),
      z.object({ type: z.literal('disabled') }),
      // The model decides how much to think (its effort from `output_config`).
      z.looseObject({ type: z.literal('adaptive') }),
    ])
    .optional(),
  // Passed to Anthropic as given; `effort` also becomes other providers' reasoning effort.
  output_config: z.looseObject({ effort: z.enum(['low', 'medium', 'high', 'max']).optional() }).optional(),
  // Anthropic's context editing (a beta): passed to Anthropic as given, dropped elsewhere.
  context_management: z.record(z.string(), z.unknown()).optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  stop_sequences: z.array(z.string()).optional(),
  stream: z.boolean().optional(),
  // Passed to Anthropic as given; elsewhere bookkeeping that changes no answer (docs/gateway.md).
  metadata: z.object({ user_id: z.string().nullish() }).optional(),
  service_tier: z.enum(['auto', 'standard_only']).optional(),
};
// Unknown top-level fields are refused (400 naming them), never silently dropped.
export const messagesRequestSchema = z.strictObject(messagesRequestFields);
const { max_tokens: _maxTokens, stream: _stream, ...countTokensFields } = messagesRequestFields;
export const countTokensRequestSchema = z.strictObject(countTokensFields);
export type MessagesRequest = Omit<z.infer<typeof messagesRequestSchema>, 'max_tokens' | 'stream'> & {
  max_tokens?: number;
  stream?: boolean;
};

export type AnthropicCacheControl = z.infer<typeof cacheControlSchema>;
export type ImageSource = z.infer<typeof imageSourceSchema>;
export type DocumentSource = z.infer<typeof documentSourceSchema>;
export type NestedBlock = z.infer<typeof nestedBlockSchema>;

// ---------------------------------------------------------------------------------------------
// Responses as read from an upstream (lenient: unknown fields are ignored, most fields optional)

// Counts are read as they come (trusted-usage.ts judges them): a bad count must not lose the answer.
export const usageSchema = z
  .object({
    input_tokens: z.unknown().optional(),
    output_tokens: z.unknown().optional(),
    cache_read_input_tokens: z.unknown().optional(),
    cache_creation_input_tokens: z.unknown().optional(),
  })
  .nullish()
  .catch(null);

export const blockSchema = z
  .object({
    type: z.string(),
    text: z.string().nullish(),
    id: z.string().nullish(),
    name: z.string().nullish(),
    input: z.unknown().optional(),
    thinking: z.string().nullish(),
    signature: z.string().nullish(),
    data: z.string().nullish(),
  })
  .loose();

export const messageResponseSchema = z.object({
  model: z.string().nullish(),
  content: z.array(blockSchema),
  stop_reason: z.string().nullish(),
  usage: usageSchema,
});

export const streamEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('message_start'),
    message: z.object({ model: z.string().nullish(), usage: usageSchema }).loose(),
  }),
  z.object({ type: z.literal('content_block_start'), index: z.number(), content_block: blockSchema }),
  z.object({
    type: z.literal('content_block_delta'),
    index: z.number(),
    delta: z
      .object({
        type: z.string(),
        text: z.string().nullish(),
        partial_json: z.string().nullish(),
        thinking: z.string().nullish(),
        signature: z.string().nullish(),
      })
      .loose(),
  }),
  z.object({ type: z.literal('content_block_stop'), index: z.number() }),
  z.object({
    type: z.literal('message_delta'),
    delta: z.object({ stop_reason: z.string().nullish() }).loose().nullish(),
    usage: usageSchema,
  }),
  z.object({ type: z.literal('message_stop') }),
  z.object({ type: z.literal('ping') }),
]);

export type StreamEventRead = z.infer<typeof streamEventSchema>;

type Fields = Record<string, unknown>;
const isFields = (value: unknown): value is Fields =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isAbsentOrString = (value: unknown) => value == null || typeof value === 'string';
/** `z.number()` refuses infinities, which JSON.parse makes of `1e999`. */
const isIndex = (value: unknown) => typeof value === 'number' && Number.isFinite(value);

/**
 * True for an event of the common shapes (a content block's delta or stop, `message_stop`,
 * `ping`) that {@link streamEventSchema} accepts and reads the same, so it needs no schema parse:
 * an answer is mostly deltas (135 events in a recorded Claude Code turn), and a schema parse per
 * event cost more than the rest of reading it. Anything else goes through the schema.
 */
export function isPlainStreamEvent(value: unknown): value is StreamEventRead {
  if (!isFields(value)) return false;
  switch (value.type) {
    case 'content_block_delta': {
      const delta = value.delta;
      return (
        isIndex(value.index) &&
        isFields(delta) &&
        typeof delta.type === 'string' &&
        isAbsentOrString(delta.text) &&
        isAbsentOrString(delta.partial_json) &&
        isAbsentOrString(delta.thinking) &&
        isAbsentOrString(delta.signature)
      );
    }
    case 'content_block_stop':
      return isIndex(value.index);
    case 'message_stop':
    case 'ping':
      return true;
    default:
      return false;
  }
}

export const countTokensResponseSchema = z.object({ input_tokens: z.number().int().nonnegative() });

export const errorBodySchema = z.object({
  type: z.literal('error').optional(),
  error: z.object({ type: z.string().nullish(), message: z.string().nullish() }).loose(),
  request_id: z.string().nullish(),
});

// ---------------------------------------------------------------------------------------------
// Responses as written (the gateway's answers, the fake server's)

export type AnthropicStopReason = 'end_turn' | 'max_tokens' | 'tool_use' | 'refusal' | 'stop_sequence';

/** Anthropic's usage: cache reads and writes are counted apart from `input_tokens`. */
export type AnthropicUsage = {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
  service_tier?: string;
};

/** A content block of an answer. */
export type AnthropicResponseBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'redacted_thinking'; data: string };

/** A Messages answer (`type: 'message'`). */
export type AnthropicMessage = {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: AnthropicResponseBlock[];
  stop_reason: string | null;
  stop_sequence: string | null;
  usage: AnthropicUsage;
};

/** Anthropic's error body, as an answer or as a mid-stream `event: error`. */
export type AnthropicErrorBody = {
  type: 'error';
  error: { type: string; message: string };
  request_id?: string;
};

// What is written must be readable: each writer type fits its reader schema.
type Fits<Written extends Read, Read> = Written;
export type WireChecks = [
  Fits<AnthropicMessage, z.input<typeof messageResponseSchema>>,
  Fits<AnthropicErrorBody, z.input<typeof errorBodySchema>>,
];

/** The fields `POST /v1/messages/count_tokens` takes: a Messages body's input, nothing that shapes the answer. */
export const COUNT_TOKENS_FIELDS: ReadonlySet<string> = new Set([
  'model',
  'messages',
  'system',
  'tools',
  'tool_choice',
  'thinking',
]);
