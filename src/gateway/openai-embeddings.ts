/**
 * Embeddings over OpenAI's wire format (`POST {baseURL}/embeddings`), for the gateway's
 * `openai`, `openai-compatible` and `azure-openai` deployments. Like the chat adapter it never
 * retries, and reports failures the same way (ProviderError with status and `retryAfterMs`,
 * ModelOutputError for an unreadable answer) so the gateway's retry policy reads both alike.
 */
import { z } from 'zod';
import { ModelConfigError, ModelOutputError, ProviderError } from '../errors/model-errors.js';
import type { EmbeddingModel, ModelCallOptions } from '../model/model.js';
import { parseRetryAfter } from '../model/retry-after.js';
import { systemClock, type Clock } from '../util/clock.js';

/** Options of {@link createOpenAIEmbeddingsModel}. */
export interface OpenAIEmbeddingsModelOptions {
  model: string;
  /** Base URL up to and including the version, e.g. `https://api.openai.com/v1`. */
  baseURL: string;
  /** Sent as a bearer token, unless `headers` carry the key another way (Azure's `api-key`). */
  apiKey?: string;
  headers?: Record<string, string>;
  fetch?: typeof globalThis.fetch;
  /** Provider id reported by the model. Default `openai`. */
  provider?: string;
  /** Turns a `Retry-After` HTTP date into a delay. */
  clock?: Clock;
}

const embeddingsSchema = z.object({
  data: z.array(z.object({ embedding: z.array(z.number()), index: z.number().nullish() })),
  usage: z.object({ prompt_tokens: z.number().nullish() }).nullish(),
});

const errorBodySchema = z.object({
  error: z.union([z.string(), z.object({ message: z.string().nullish() }).loose()]),
});

/** Creates an EmbeddingModel for an OpenAI-compatible `/embeddings` endpoint. */
export function createOpenAIEmbeddingsModel({
  model,
  baseURL,
  apiKey,
  headers = {},
  fetch: fetchFunction = globalThis.fetch,
  provider = 'openai',
  clock = systemClock,
}: OpenAIEmbeddingsModelOptions): EmbeddingModel {
  let endpoint: URL;
  try {
    endpoint = new URL(`${baseURL.replace(/\/+$/, '')}/embeddings`);
  } catch {
    throw new ModelConfigError(`The base URL "${baseURL}" is not a valid URL.`, { provider, model });
  }
  const requestHeaders: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json',
    ...(apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` }),
    ...Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value])),
  };
  const redact = (text: string) =>
    apiKey !== undefined && apiKey.length >= 8 ? text.split(apiKey).join('[redacted]') : text;

  return {
    provider,
    modelId: model,
    async embed({ input, dimensions }, options: ModelCallOptions = {}) {
      const { signal } = options;
      const body = {
        model,
        input,
        encoding_format: 'float',
        ...(dimensions === undefined ? {} : { dimensions }),
      };
      let response: Response;
      let text: string;
      try {
        response = await fetchFunction(endpoint, {
          method: 'POST',
          headers: requestHeaders,
          body: JSON.stringify(body),
          signal,
        });
        text = await response.text();
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        throw new ProviderError({
          provider,
          message: redact(`network failure while calling ${endpoint.host}: ${String(error)}`),
          cause: error,
        });
      }
      const json = parseJson(text);
      if (!response.ok) {
        const parsed = errorBodySchema.safeParse(json);
        const detail = parsed.success
          ? typeof parsed.data.error === 'string'
            ? parsed.data.error
            : (parsed.data.error.message ?? 'unknown error')
          : text.trim().slice(0, 300) || response.statusText;
        throw new ProviderError({
          provider,
          status: response.status,
          message: redact(`HTTP ${response.status}: ${detail}`),
          retryAfterMs: parseRetryAfter({ headers: response.headers, clock }),
        });
      }
      const parsed = embeddingsSchema.safeParse(json);
      if (!parsed.success || parsed.data.data.length !== input.length) {
        throw new ModelOutputError(
          `${provider} ${model}: the response is not a list of ${input.length} embeddings.`,
          {
            provider,
            model,
          },
        );
      }
      // Servers may answer out of order; `index` says where each vector belongs.
      const embeddings = parsed.data.data
        .map((item, position) => ({ at: item.index ?? position, embedding: item.embedding }))
        .sort((left, right) => left.at - right.at)
        .map((item) => item.embedding);
      return { embeddings, usage: { inputTokens: parsed.data.usage?.prompt_tokens ?? 0 } };
    },
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
