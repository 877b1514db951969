/**
 * What a provider can honour of the optional request fields: the shape of a provider's table (each
 * provider's is in src/model/providers/<name>/capabilities.ts; the AI SDK bridge's is here), and the
 * one walk over a request that finds the first field a table refuses. Adapters refuse such a request
 * before sending it (`UnsupportedFieldError`, code `unsupported_field`); the gateway asks first and routes
 * to a deployment that can. docs/gateway.md shows these tables; keep them in step.
 */
import { UnsupportedFieldError } from '../errors/model-errors.js';
import { mediaParts } from './content-parts.js';
import type { ModelRequest, UnsupportedField } from './model.js';

/** What a provider can honour, natively or by a documented mapping. */
export interface ProviderCapabilities {
  /** Provider name for messages (`Anthropic`). */
  label: string;
  /** `reasoning.effort` and `reasoning.budgetTokens` (each mapped to the other where needed). */
  reasoning: boolean;
  /** `parallelToolCalls: false` (true is every provider's default, so always honoured). */
  parallelToolCallsOff: boolean;
  /** `cacheControl` marks: sent, or honoured by the provider's automatic prompt caching. */
  cacheControl: boolean;
  image: {
    data: boolean;
    url: boolean;
    /** An image URL must come with its `mediaType`. */
    urlNeedsMediaType: boolean;
    /** `detail` other than `auto`. */
    detail: boolean;
  };
  /** `stop` sequences; absent: honoured (OpenAI's Responses API has none). */
  stop?: boolean;
  /** `seed`; absent: honoured (OpenAI's Responses API has none). */
  seed?: boolean;
  /**
   * OpenAI's hosted tools (`openai.hostedTools`): run by the provider. Absent: the optional ones
   * are dropped (the model lacks them), any other refuses the request (`tools.hosted`).
   */
  hostedTools?: boolean;
  file: {
    data: boolean;
    url: boolean;
    /** Media types accepted; undefined: any (the provider decides). */
    mediaTypes?: readonly string[];
    /** Media types accepted by URL, when fewer than inline. */
    urlMediaTypes?: readonly string[];
  };
}

/** AI SDK models through `fromAiSdk`: media as file parts; provider options are not reached. */
export const AI_SDK_CAPABILITIES: ProviderCapabilities = {
  label: 'AI SDK',
  reasoning: false,
  parallelToolCallsOff: false,
  cacheControl: false,
  image: { data: true, url: true, urlNeedsMediaType: false, detail: false },
  file: { data: true, url: true },
};

/** The first field of `request` the provider cannot honour, or undefined. */
export function findUnsupportedField(
  request: ModelRequest,
  capabilities: ProviderCapabilities,
): UnsupportedField | undefined {
  const { label } = capabilities;
  if (capabilities.hostedTools !== true) {
    const required = (request.openai?.hostedTools ?? []).filter(({ optional }) => !optional);
    if (required.length > 0)
      return {
        field: 'tools.hosted',
        reason: `${label} cannot run OpenAI's hosted tools (${required.map(({ tool }) => String(tool.type)).join(', ')}); only an OpenAI Responses deployment can`,
      };
  }
  if (capabilities.stop === false && (request.stop ?? []).length > 0)
    return { field: 'stop', reason: `${label} takes no stop sequences` };
  if (capabilities.seed === false && request.seed !== undefined)
    return { field: 'seed', reason: `${label} takes no seed` };
  if (!capabilities.reasoning && request.reasoning !== undefined) {
    const field = request.reasoning.effort !== undefined ? 'reasoning.effort' : 'reasoning.budgetTokens';
    return { field, reason: `${label} models here take no reasoning setting` };
  }
  // Without tools there are no calls to run in parallel: nothing to honour, as the adapters do.
  if (
    !capabilities.parallelToolCallsOff &&
    request.parallelToolCalls === false &&
    (request.tools ?? []).length > 0
  )
    return { field: 'parallelToolCalls', reason: `${label} cannot turn parallel tool calls off` };
  const cacheMarked =
    (request.tools ?? []).some((tool) => tool.cacheControl !== undefined) ||
    request.messages.some(
      (message) =>
        ('cacheControl' in message && message.cacheControl !== undefined) ||
        (typeof message.content !== 'string' &&
          message.content.some((part) => part.cacheControl !== undefined)),
    );
  if (!capabilities.cacheControl && cacheMarked)
    return { field: 'cacheControl', reason: `${label} models here take no prompt-cache marks` };
  for (const message of request.messages) {
    for (const part of mediaParts(message.content)) {
      if (part.type === 'image') {
        const { image } = capabilities;
        if (part.url !== undefined && !image.url)
          return { field: 'content.image.url', reason: `${label} takes images inline (base64) only` };
        if (part.data !== undefined && !image.data)
          return { field: 'content.image', reason: `${label} takes images by URL only` };
        if (part.url !== undefined && image.urlNeedsMediaType && part.mediaType === undefined)
          return {
            field: 'content.image.mediaType',
            reason: `${label} needs the media type of an image URL`,
          };
        if (part.detail !== undefined && part.detail !== 'auto' && !image.detail)
          return { field: 'content.image.detail', reason: `${label} has no per-image detail setting` };
      } else {
        const { file } = capabilities;
        if (part.url !== undefined && !file.url)
          return { field: 'content.file.url', reason: `${label} takes files inline (base64) only` };
        if (part.data !== undefined && !file.data)
          return { field: 'content.file', reason: `${label} takes files by URL only` };
        if (file.mediaTypes !== undefined && !file.mediaTypes.includes(part.mediaType))
          return {
            field: 'content.file.mediaType',
            reason: `${label} takes files of type ${file.mediaTypes.join(', ')}, not ${part.mediaType}`,
          };
        if (
          part.url !== undefined &&
          file.urlMediaTypes !== undefined &&
          !file.urlMediaTypes.includes(part.mediaType)
        )
          return {
            field: 'content.file.url',
            reason: `${label} takes files of type ${part.mediaType} inline only (by URL: ${file.urlMediaTypes.join(', ')})`,
          };
      }
    }
  }
  return undefined;
}

/** Throws `UnsupportedFieldError` when the provider cannot honour a field of `request`. */
export function assertSupported({
  request,
  capabilities,
  provider,
  model,
}: {
  request: ModelRequest;
  capabilities: ProviderCapabilities;
  provider: string;
  model: string;
}): void {
  const unsupported = findUnsupportedField(request, capabilities);
  if (unsupported !== undefined) throw new UnsupportedFieldError({ provider, model, ...unsupported });
}

/**
 * Reasoning effort as a thinking budget (Anthropic `budget_tokens`, Gemini `thinkingBudget`):
 * 1,024 is Anthropic's minimum budget.
 */
export const EFFORT_BUDGET_TOKENS = { minimal: 1_024, low: 4_096, medium: 12_288, high: 24_576 } as const;

/** A thinking budget as an effort (OpenAI `reasoning_effort`): the nearest step at or above it. */
export function effortForBudget(budgetTokens: number): 'minimal' | 'low' | 'medium' | 'high' {
  if (budgetTokens <= EFFORT_BUDGET_TOKENS.minimal) return 'minimal';
  if (budgetTokens <= EFFORT_BUDGET_TOKENS.low) return 'low';
  if (budgetTokens <= EFFORT_BUDGET_TOKENS.medium) return 'medium';
  return 'high';
}
