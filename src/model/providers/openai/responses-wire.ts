/**
 * OpenAI's Responses API as the Responses adapter reads it (`POST {baseURL}/responses`). Schemas
 * are lenient, as the chat wire's: unknown fields and item types are passed over (an output item
 * the adapter does not translate is kept whole, as an `openai_item` reasoning block), counts are
 * checked by trusted-usage.ts rather than here.
 */
import { z } from 'zod';

/** One content part of a `message` output item: `output_text` or `refusal`. */
const outputContentSchema = z.looseObject({
  type: z.string(),
  text: z.string().nullish(),
  refusal: z.string().nullish(),
});

/**
 * An output item: `message`, `function_call`, `reasoning`, or a hosted tool's call
 * (`web_search_call`...). Only the fields the adapter reads are typed; the item is kept whole.
 */
export const responsesOutputItemSchema = z.looseObject({
  type: z.string().min(1),
  id: z.string().nullish(),
  // message
  role: z.string().nullish(),
  content: z.array(outputContentSchema).nullish(),
  // function_call
  call_id: z.string().nullish(),
  name: z.string().nullish(),
  arguments: z.string().nullish(),
});

export type ResponsesOutputItem = z.infer<typeof responsesOutputItemSchema>;

export const responsesUsageSchema = z
  .object({
    input_tokens: z.unknown(),
    output_tokens: z.unknown(),
    input_tokens_details: z.object({ cached_tokens: z.unknown() }).nullish().catch(null),
    output_tokens_details: z.object({ reasoning_tokens: z.unknown() }).nullish().catch(null),
  })
  .nullish()
  .catch(null);

const responseErrorSchema = z
  .object({ code: z.string().nullish(), message: z.string().nullish() })
  .nullish()
  .catch(null);

/** A Response object: the whole answer, or the one a stream's `response.*` events carry. */
export const responsesObjectSchema = z.looseObject({
  id: z.string().nullish(),
  model: z.string().nullish(),
  status: z.string().nullish(),
  output: z.array(responsesOutputItemSchema).nullish(),
  usage: responsesUsageSchema,
  incomplete_details: z.object({ reason: z.string().nullish() }).nullish().catch(null),
  error: responseErrorSchema,
});

export type ResponsesObject = z.infer<typeof responsesObjectSchema>;

/** One stream event; which fields are set depends on `type`. */
export const responsesStreamEventSchema = z.looseObject({
  type: z.string().min(1),
  output_index: z.number().int().nonnegative().nullish(),
  item_id: z.string().nullish(),
  item: responsesOutputItemSchema.nullish(),
  delta: z.string().nullish(),
  arguments: z.string().nullish(),
  response: responsesObjectSchema.nullish(),
  // `error` events
  code: z.string().nullish(),
  message: z.string().nullish(),
});

export type ResponsesStreamEvent = z.infer<typeof responsesStreamEventSchema>;
