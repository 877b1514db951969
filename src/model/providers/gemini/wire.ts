/**
 * Gemini's `generateContent` wire, written once: what Keel's Gemini adapter reads (lenient
 * schemas: a bad count must not lose the answer) and what the fake Gemini server writes (the writer
 * types, checked below to be readable by the adapter's schemas).
 */
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------
// Responses as read from an upstream (lenient: unknown fields are ignored, most fields optional)

export const partSchema = z
  .object({
    text: z.string().nullish(),
    thought: z.boolean().nullish(),
    functionCall: z
      .object({
        id: z.string().nullish(),
        name: z.string(),
        args: z.record(z.string(), z.unknown()).nullish(),
      })
      .nullish(),
  })
  .loose();

// Counts are read as they come (trusted-usage.ts judges them): a bad count must not lose the answer.
export const usageSchema = z
  .object({
    promptTokenCount: z.unknown().optional(),
    candidatesTokenCount: z.unknown().optional(),
    cachedContentTokenCount: z.unknown().optional(),
    thoughtsTokenCount: z.unknown().optional(),
  })
  .nullish()
  .catch(null);

export const responseSchema = z.object({
  candidates: z
    .array(
      z.object({
        index: z.number().nullish(),
        content: z
          .object({ parts: z.array(partSchema).nullish() })
          .loose()
          .nullish(),
        finishReason: z.string().nullish(),
      }),
    )
    .nullish(),
  promptFeedback: z.object({ blockReason: z.string().nullish() }).loose().nullish(),
  usageMetadata: usageSchema,
  modelVersion: z.string().nullish(),
  responseId: z.string().nullish(),
});

export type GenerateContentResponseRead = z.infer<typeof responseSchema>;

export const errorSchema = z
  .object({
    code: z.number().nullish(),
    message: z.string().nullish(),
    status: z.string().nullish(),
    details: z
      .array(z.object({ '@type': z.string().nullish(), retryDelay: z.string().nullish() }).loose())
      .nullish(),
  })
  .loose();

/** Google's error body; streaming endpoints without `alt=sse` wrap it in an array. */
export const errorBodySchema = z.union([
  z.object({ error: errorSchema }),
  z.array(z.object({ error: errorSchema })).min(1),
]);

export type GoogleErrorRead = z.infer<typeof errorSchema>;

// ---------------------------------------------------------------------------------------------
// Responses as written (the fake server's)

/** A part of an answer: text (a thought when `thought`), or a function call. */
export type GeminiPart = {
  text?: string;
  thought?: boolean;
  functionCall?: { id?: string; name: string; args: Record<string, unknown> };
  thoughtSignature?: string;
};

/** `usageMetadata`. */
export type GeminiUsage = {
  promptTokenCount: number;
  candidatesTokenCount?: number;
  totalTokenCount: number;
  cachedContentTokenCount?: number;
  thoughtsTokenCount?: number;
  promptTokensDetails?: { modality: string; tokenCount: number }[];
};

/** A `generateContent` answer, or one chunk of `streamGenerateContent`. */
export type GenerateContentResponse = {
  candidates?: {
    content: { parts: GeminiPart[]; role: 'model' };
    finishReason?: string;
    index: number;
  }[];
  promptFeedback?: { blockReason: string };
  usageMetadata?: GeminiUsage;
  modelVersion?: string;
  responseId?: string;
};

/** Google's error body. */
export type GoogleErrorBody = {
  error: {
    code: number;
    message: string;
    status: string;
    details?: { '@type': string; retryDelay?: string }[];
  };
};

// What is written must be readable: each writer type fits its reader schema.
type Fits<Written extends Read, Read> = Written;
export type WireChecks = [
  Fits<GenerateContentResponse, z.input<typeof responseSchema>>,
  Fits<GoogleErrorBody, z.input<typeof errorBodySchema>>,
];
