/**
 * Usage you can trust: the one place where a provider's token counts become the counts Keel sums
 * into caps, prices, rate limits and records.
 *
 * - A count the provider did not report (a stream without its usage chunk, a JSON answer without
 *   `usage`, an input count of 0, which no real request has) is estimated with the tokenizer
 *   (token-estimate.ts): input from the request, output from the answer's text and tool calls.
 * - A count that cannot be true (negative, not a finite number, above {@link MAX_REPORTED_TOKENS})
 *   is replaced by the estimate too, and flagged in `invalid`: never summed, so it can neither
 *   lower a run's cost nor poison a cap with NaN. Clamping to the estimate rather than failing
 *   the call keeps the answer, which is good; only its bookkeeping was bad.
 * - Either way the usage says `source: 'estimated'`; counts taken as they came say `reported`.
 * - The subsets (cached input, reasoning) are kept only when they are valid counts, at most the
 *   count they belong to.
 */
import type {
  AssistantMessage,
  LanguageModel,
  ModelCallOptions,
  ModelRequest,
  ModelResponse,
  ModelStreamEvent,
  Usage,
  UsageInvalidReason,
  WireStream,
} from './model.js';
import { estimateAnswerTokens, estimateRequestTokens } from './token-estimate.js';

/**
 * The largest count Keel believes for one call, input or output: 10 million tokens, five times
 * the largest context window offered today (2M). Above it a count is a bug or a lie; Keel does
 * not know every model's own window, so one bound serves all.
 */
export const MAX_REPORTED_TOKENS = 10_000_000;

/** Token counts as a provider's answer carried them: any value, or none (`undefined`, `null`). */
export interface ReportedUsage {
  inputTokens?: unknown;
  outputTokens?: unknown;
  cachedInputTokens?: unknown;
  reasoningTokens?: unknown;
}

/** Options of {@link trustedUsage}. */
export interface TrustedUsageOptions {
  /** What the answer carried; `undefined` when it carried no usage at all. */
  reported: ReportedUsage | undefined;
  /** The request, whose input is estimated when its count is missing or invalid. */
  request: ModelRequest;
  /** The answer, whose output is estimated when its count is missing or invalid. */
  message: AssistantMessage;
  /** Picks the tokenizer (see token-estimate.ts). */
  model?: string;
  /** Believe an input count of 0 (a cached answer cost nothing). Default false: 0 means unknown. */
  zeroInputKnown?: boolean;
}

/** The counts to sum for an answer: the reported ones where they hold, the estimate elsewhere. */
export function trustedUsage({
  reported,
  request,
  message,
  model,
  zeroInputKnown = false,
}: TrustedUsageOptions): Usage {
  const input = checkCount(reported?.inputTokens);
  const output = checkCount(reported?.outputTokens);
  // No real request has 0 input tokens (the chat framing alone has some): 0 means "not known".
  const inputKnown = input.kind === 'count' && (input.value > 0 || zeroInputKnown);
  const options = model === undefined ? {} : { model };
  const usage: Usage = {
    inputTokens: inputKnown ? input.value : estimateRequestTokens(request, options),
    outputTokens: output.kind === 'count' ? output.value : estimateAnswerTokens(message, options),
    source: inputKnown && output.kind === 'count' ? 'reported' : 'estimated',
  };
  let invalid = firstInvalid(input, output);
  const cached = checkCount(reported?.cachedInputTokens);
  if (cached.kind === 'count') usage.cachedInputTokens = Math.min(cached.value, usage.inputTokens);
  const reasoning = checkCount(reported?.reasoningTokens);
  if (reasoning.kind === 'count') usage.reasoningTokens = Math.min(reasoning.value, usage.outputTokens);
  invalid ??= firstInvalid(cached, reasoning);
  if (invalid !== undefined) usage.invalid = invalid;
  return usage;
}

/**
 * A response whose usage can be summed. Usage Keel's adapters settled (with a `source`) is only
 * checked for impossible values (a cached gateway answer rightly reports 0 tokens); usage without
 * a `source` (a model written elsewhere) goes through {@link trustedUsage}. Returns the response
 * itself when nothing changes.
 */
export function withTrustedUsage({
  response,
  request,
  model,
}: {
  response: ModelResponse;
  request: ModelRequest;
  model?: string;
}): ModelResponse {
  const { usage } = response;
  if (usage.source !== undefined && isSound(usage)) return response;
  const trusted = trustedUsage({
    reported: usage,
    request,
    message: response.message,
    ...(model === undefined ? {} : { model }),
    // Settled usage may be 0 on purpose: only its impossible counts are replaced.
    zeroInputKnown: usage.source !== undefined,
  });
  return { ...response, usage: trusted };
}

/**
 * A model whose answers carry trusted usage ({@link withTrustedUsage} on every answer): for
 * models written elsewhere (a gateway deployment's own `languageModel`, a registered provider).
 */
export function withTrustedUsageModel(model: LanguageModel): LanguageModel {
  const modelId = model.modelId;
  return {
    provider: model.provider,
    modelId,
    ...(model.retriesOwned === undefined ? {} : { retriesOwned: model.retriesOwned }),
    // Capabilities and exact counts pass through unchanged: only answers' usage is checked here.
    ...(model.unsupportedField === undefined
      ? {}
      : { unsupportedField: (request: ModelRequest) => model.unsupportedField?.(request) }),
    ...(model.countTokens === undefined
      ? {}
      : {
          countTokens: (request: ModelRequest, options?: ModelCallOptions) =>
            model.countTokens?.(request, options) ?? Promise.resolve(0),
        }),
    async generate(request, options) {
      return withTrustedUsage({ response: await model.generate(request, options), request, model: modelId });
    },
    async *stream(request, options): AsyncGenerator<ModelStreamEvent> {
      for await (const event of model.stream(request, options)) {
        yield event.type === 'finish'
          ? {
              type: 'finish',
              response: withTrustedUsage({ response: event.response, request, model: modelId }),
            }
          : event;
      }
    },
    // A relayed stream's answer is checked as a streamed one's.
    ...(model.wire === undefined || model.openWireStream === undefined
      ? {}
      : {
          wire: model.wire,
          async openWireStream(request: ModelRequest, options?: ModelCallOptions): Promise<WireStream> {
            const stream = await (model.openWireStream as NonNullable<LanguageModel['openWireStream']>)(
              request,
              options,
            );
            const finish = () => withTrustedUsage({ response: stream.finish(), request, model: modelId });
            return { ...stream, finish };
          },
        }),
  };
}

type CheckedCount =
  { kind: 'count'; value: number } | { kind: 'missing' } | { kind: 'invalid'; reason: UsageInvalidReason };

function checkCount(value: unknown): CheckedCount {
  if (value === undefined || value === null) return { kind: 'missing' };
  if (typeof value !== 'number' || !Number.isFinite(value)) return { kind: 'invalid', reason: 'not_finite' };
  if (value < 0) return { kind: 'invalid', reason: 'negative' };
  if (value > MAX_REPORTED_TOKENS) return { kind: 'invalid', reason: 'too_large' };
  // Token columns are integers: a fractional count is rounded up rather than failing a write.
  return { kind: 'count', value: Math.ceil(value) };
}

function firstInvalid(...counts: CheckedCount[]): UsageInvalidReason | undefined {
  for (const count of counts) if (count.kind === 'invalid') return count.reason;
  return undefined;
}

function isSound(usage: Usage): boolean {
  const counts = [
    usage.inputTokens,
    usage.outputTokens,
    usage.cachedInputTokens ?? 0,
    usage.reasoningTokens ?? 0,
  ];
  return (
    counts.every((count) => Number.isInteger(count) && count >= 0 && count <= MAX_REPORTED_TOKENS) &&
    (usage.cachedInputTokens ?? 0) <= usage.inputTokens &&
    (usage.reasoningTokens ?? 0) <= usage.outputTokens
  );
}

/** One reported count (an embedding call's input): as reported when valid, else the estimate. */
export function trustedCount(reported: unknown, estimate: () => number): number {
  const checked = checkCount(reported);
  return checked.kind === 'count' && checked.value > 0 ? checked.value : estimate();
}

/**
 * The sum of a count's parts as reported (Anthropic's input is `input_tokens` plus its cache
 * reads and writes; Gemini's output is candidates plus thoughts): missing when the first part is,
 * the first part that is not a valid count when one is not, else the sum.
 */
export function sumReported(first: unknown, ...rest: unknown[]): unknown {
  if (first === undefined || first === null) return undefined;
  let total = 0;
  for (const part of [first, ...rest]) {
    if (part === undefined || part === null) continue;
    if (checkCount(part).kind !== 'count') return part;
    total += part as number;
  }
  return total;
}
