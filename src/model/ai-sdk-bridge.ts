/**
 * A bridge from the Vercel AI SDK's provider interface to Keel's: any AI SDK language model
 * (`@ai-sdk/openai`, `@ai-sdk/anthropic`, `@ai-sdk/google`, community providers...) becomes a Keel
 * LanguageModel. Three specification versions are understood: v2 (AI SDK 5), v3 (AI SDK 6) and
 * v4 (AI SDK 7).
 *
 * The AI SDK is not a dependency, not even for types: the bridge describes the part of the
 * specifications it reads with its own structural types below, so a model of any of the three
 * majors type-checks against it whichever `@ai-sdk/provider` the user has installed, and Keel
 * works without the AI SDK at all.
 *
 * Retries: the bridge calls `doGenerate` and `doStream`, which do not retry. The AI SDK's retries
 * (`maxRetries`, default 2) belong to `generateText` and `streamText`, which the bridge bypasses,
 * so an AI SDK provider behind Keel makes exactly one HTTP call per Keel call, and the gateway
 * stays the one owner of retries (no (1+N)² amplification).
 */
import { isKeelError } from '../errors/keel-error.js';
import { ModelConfigError, ModelOutputError, ProviderError } from '../errors/model-errors.js';
import { raceAbort } from '../util/race-abort.js';
import { systemClock, type Clock } from '../util/clock.js';
import { mediaParts, toolMediaCaption, toolResultText } from './content-parts.js';
import {
  toAssistantMessage,
  type ContentPart,
  type FinishReason,
  type LanguageModel,
  type Message,
  type ModelCallOptions,
  type ModelRequest,
  type ModelResponse,
  type ModelStreamEvent,
  type ToolCall,
} from './model.js';
import {
  abortReason,
  describeCause,
  GOOGLE_KEY_PATTERN,
  redactSecrets,
  SK_KEY_PATTERN,
} from './provider-http.js';
import { AI_SDK_CAPABILITIES, assertSupported, findUnsupportedField } from './provider-capabilities.js';
import { parseRetryAfter } from './retry-after.js';
import { sumReported, trustedUsage, type ReportedUsage } from './trusted-usage.js';

// ---------------------------------------------------------------------------------------------
// The AI SDK specifications, as far as the bridge reads them

/**
 * An AI SDK language model: specification v2 (AI SDK 5), v3 (AI SDK 6) or v4 (AI SDK 7), as
 * `@ai-sdk/openai` and every other provider package makes them. Structural: what the bridge uses.
 */
export interface AiSdkLanguageModel {
  readonly specificationVersion: 'v2' | 'v3' | 'v4';
  readonly provider: string;
  readonly modelId: string;
  doGenerate(options: AiSdkCallOptions): PromiseLike<AiSdkGenerateResult>;
  doStream(options: AiSdkCallOptions): PromiseLike<{ stream: ReadableStream<{ type: string }> }>;
}

/** The call options the bridge sends; the three specifications share this part. */
export interface AiSdkCallOptions {
  prompt: unknown[];
  tools?: unknown[];
  toolChoice?: { type: 'auto' | 'none' | 'required' } | { type: 'tool'; toolName: string };
  responseFormat?: { type: 'text' } | { type: 'json'; schema?: unknown; name?: string };
  maxOutputTokens?: number;
  temperature?: number;
  topP?: number;
  stopSequences?: string[];
  seed?: number;
  abortSignal?: AbortSignal;
}

/** What `doGenerate` answers, as far as the bridge reads it. */
export interface AiSdkGenerateResult {
  content: { type: string }[];
  finishReason: AiSdkFinishReason;
  usage: AiSdkUsage;
  /** v4: the text to parse as the JSON answer when it differs from all text parts joined. */
  structuredOutputText?: string;
  response?: { modelId?: string };
  warnings?: unknown[];
}

/** v2: a string (`unknown` when the provider gave none); v3 and v4: `{ unified, raw }`. */
export type AiSdkFinishReason = string | { unified: string; raw: string | undefined };

/** v2: flat counts; v3 and v4: `inputTokens` and `outputTokens` nest their parts. */
export interface AiSdkUsage {
  inputTokens:
    number | undefined | { total?: number; noCache?: number; cacheRead?: number; cacheWrite?: number };
  outputTokens: number | undefined | { total?: number; text?: number; reasoning?: number };
  cachedInputTokens?: number;
  reasoningTokens?: number;
}

/**
 * A warning an AI SDK model gave about a call, one shape for v2, v3 and v4: `unsupported` (a
 * setting or tool the model ignored), `compatibility` (emulated), `deprecated`, or `other`.
 */
export interface AiSdkWarning {
  kind: 'unsupported' | 'compatibility' | 'deprecated' | 'other';
  /** The setting, feature or tool concerned, when the warning names one. */
  feature?: string;
  message: string;
}

// The parts the bridge reads, by type (parts of other types pass by unread).
type ToolCallContent = {
  type: 'tool-call';
  toolCallId: string;
  toolName: string;
  input: string;
  providerExecuted?: boolean;
};
type Content = { type: 'text'; text: string } | ToolCallContent | { type: 'other' };
type StreamPart =
  | { type: 'text-delta'; delta: string }
  | {
      type: 'tool-input-start';
      id: string;
      toolName: string;
      providerExecuted?: boolean;
      /** v4: `text` deltas are the raw input text, not pieces of its JSON encoding. */
      inputEncoding?: 'json' | 'text';
    }
  | { type: 'tool-input-delta'; id: string; delta: string }
  | ToolCallContent
  | { type: 'response-metadata'; modelId?: string }
  | { type: 'stream-start'; warnings?: unknown[] }
  | { type: 'finish'; finishReason: AiSdkFinishReason; usage: AiSdkUsage }
  | { type: 'error'; error: unknown }
  | { type: 'other' };
type FinishPart = Extract<StreamPart, { type: 'finish' }>;

type PromptPart =
  | { type: 'text'; text: string }
  | FilePromptPart
  | { type: 'tool-call'; toolCallId: string; toolName: string; input: unknown }
  | {
      type: 'tool-result';
      toolCallId: string;
      toolName: string;
      output: { type: 'text' | 'error-text'; value: string };
    };
/**
 * A file or image of a prompt. v2 and v3 take the data itself (base64 text, or a URL object); v4
 * takes it tagged (`{ type: 'data', data }` or `{ type: 'url', url }`).
 */
type FilePromptPart = {
  type: 'file';
  mediaType: string;
  filename?: string;
  data: string | URL | { type: 'data'; data: string } | { type: 'url'; url: URL };
};
type PromptMessage =
  { role: 'system'; content: string } | { role: 'user' | 'assistant' | 'tool'; content: PromptPart[] };

const SPECIFICATIONS: unknown[] = ['v2', 'v3', 'v4'];

/** Options of {@link fromAiSdk}. */
export interface FromAiSdkOptions {
  /**
   * Provider id reported by the Keel model and used for pricing. Default: the AI SDK provider id
   * up to its first dot (`openai.chat` → `openai`, `google.generative-ai` → `google`).
   */
  provider?: string;
  /**
   * A stream whose finish part has no provider finish reason (v3 `raw` undefined with `other`, or
   * v2 `unknown`) is treated as cut off, because AI SDK 5 and 6 providers report a stream that
   * ended before its finish chunk that way. Set this for a provider that never reports finish
   * reasons. (v4's explicit `interrupted` is always a cut-off answer.)
   */
  acceptMissingFinishReason?: boolean;
  /**
   * Called with the warnings an AI SDK model gives about a call (settings it ignored or emulated,
   * deprecations), in one shape for v2, v3 and v4. Default: none are reported.
   */
  onWarning?: (warning: AiSdkWarning) => void;
  /** Turns a `retry-after` HTTP date into a delay. */
  clock?: Clock;
}

/**
 * Wraps an AI SDK language model as a Keel LanguageModel. Translates Keel's request (messages,
 * tools, tool choice, response format, sampling settings, the abort signal) into the AI SDK's call
 * options, and the content, finish reason and usage back. Errors: an `APICallError` becomes a
 * ProviderError with its status and `retryAfterMs` (a 2xx one, an unreadable answer, a
 * ModelOutputError), an `error` stream part a ProviderError with code `provider_stream_error`, a
 * stream without a finish part a ModelOutputError (`stream_truncated`), an abort the signal's
 * reason; other errors pass through unchanged.
 */
export function fromAiSdk(model: AiSdkLanguageModel, options: FromAiSdkOptions = {}): LanguageModel {
  const {
    provider = model.provider.split('.')[0] || model.provider,
    acceptMissingFinishReason = false,
    clock = systemClock,
    onWarning,
  } = options;
  const version: unknown = model.specificationVersion;
  if (!SPECIFICATIONS.includes(version)) {
    throw new ModelConfigError(
      `The AI SDK model ${model.provider}:${model.modelId} implements specification ${String(version)}; Keel supports v2, v3 and v4.`,
      { provider: model.provider, model: model.modelId },
    );
  }
  const label = `${provider} ${model.modelId}`;

  const check = (request: ModelRequest) =>
    assertSupported({ request, capabilities: AI_SDK_CAPABILITIES, provider, model: model.modelId });

  return {
    provider,
    modelId: model.modelId,
    unsupportedField: (request) => findUnsupportedField(request, AI_SDK_CAPABILITIES),

    async generate(request: ModelRequest, callOptions: ModelCallOptions = {}): Promise<ModelResponse> {
      check(request);
      const { signal } = callOptions;
      let result: AiSdkGenerateResult;
      try {
        result = await model.doGenerate(toCallOptions(request, signal, model.specificationVersion));
      } catch (error) {
        throw toKeelError({ error, signal, provider, label, clock, origin: 'call' });
      }
      reportWarnings(result.warnings, onWarning);
      if (isInterrupted(result.finishReason)) {
        throw new ModelOutputError(`${label}: the answer was interrupted before it finished.`, {
          provider,
          model: model.modelId,
          reason: 'response_truncated',
        });
      }
      let text = '';
      const toolCalls: ToolCall[] = [];
      for (const part of result.content as Content[]) {
        if (part.type === 'text') text += part.text;
        else if (part.type === 'tool-call' && part.providerExecuted !== true) {
          toolCalls.push({ id: part.toolCallId, name: part.toolName, arguments: part.input });
        }
        // Reasoning, files, sources, custom parts, provider-executed tools and their approval
        // requests have no place in Keel's message.
      }
      // v4 names the text that holds a JSON answer when drafts precede it.
      if (request.responseFormat?.type === 'json' && typeof result.structuredOutputText === 'string') {
        text = result.structuredOutputText;
      }
      const message = toAssistantMessage(text, toolCalls);
      return {
        message,
        finishReason: toFinishReason(result.finishReason),
        usage: trustedUsage({
          reported: toReportedUsage(result.usage),
          request,
          message,
          model: model.modelId,
        }),
        modelId: result.response?.modelId ?? model.modelId,
      };
    },

    async *stream(
      request: ModelRequest,
      callOptions: ModelCallOptions = {},
    ): AsyncGenerator<ModelStreamEvent> {
      check(request);
      const { signal } = callOptions;
      let reader: ReadableStreamDefaultReader<StreamPart>;
      try {
        const result = await model.doStream(toCallOptions(request, signal, model.specificationVersion));
        reader = (result.stream as ReadableStream<StreamPart>).getReader();
      } catch (error) {
        throw toKeelError({ error, signal, provider, label, clock, origin: 'call' });
      }
      const assembly = createStreamAssembly(model.modelId);
      let finished = false;
      try {
        while (true) {
          let next: Awaited<ReturnType<typeof reader.read>>;
          try {
            next = await raceAbort(() => reader.read(), signal);
          } catch (error) {
            throw toKeelError({ error, signal, provider, label, clock, origin: 'stream-read' });
          }
          if (next.done) break;
          if (next.value.type === 'error') {
            throw toKeelError({
              error: next.value.error,
              signal,
              provider,
              label,
              clock,
              origin: 'stream-part',
            });
          }
          if (next.value.type === 'stream-start') reportWarnings(next.value.warnings, onWarning);
          yield* assembly.apply(next.value);
        }
        finished = true;
      } finally {
        // Cancelling ends the provider's fetch, so an abandoned stream frees its connection.
        if (!finished) await reader.cancel(signal?.reason).catch(() => undefined);
        reader.releaseLock();
      }
      const finish = assembly.finishPart;
      if (
        finish === undefined ||
        isInterrupted(finish.finishReason) ||
        (!acceptMissingFinishReason && isMissingFinishReason(finish.finishReason))
      ) {
        throw new ModelOutputError(
          `${label}: the stream was truncated: it ended without ${finish === undefined ? 'a finish part' : isInterrupted(finish.finishReason) ? 'its completion signal (interrupted)' : 'a finish reason'}.`,
          { provider, model: model.modelId, reason: 'stream_truncated' },
        );
      }
      yield { type: 'finish', response: assembly.finish(request) };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Request translation

function toCallOptions(
  request: ModelRequest,
  signal: AbortSignal | undefined,
  specification: AiSdkLanguageModel['specificationVersion'],
): AiSdkCallOptions {
  const options: AiSdkCallOptions = { prompt: toPrompt(request.messages, specification) };
  const tools = request.tools ?? [];
  if (tools.length > 0) {
    options.tools = tools.map((tool) => ({
      type: 'function',
      name: tool.name,
      description: tool.description,
      inputSchema: tool.parameters,
    }));
    const choice = request.toolChoice;
    if (choice !== undefined) {
      options.toolChoice =
        typeof choice === 'object' ? { type: 'tool', toolName: choice.name } : { type: choice };
    }
  }
  const format = request.responseFormat;
  if (format?.type === 'json') {
    options.responseFormat = {
      type: 'json',
      ...(format.schema === undefined ? {} : { schema: format.schema }),
      ...(format.name === undefined ? {} : { name: format.name }),
    };
  }
  if (request.maxOutputTokens !== undefined) options.maxOutputTokens = request.maxOutputTokens;
  if (request.temperature !== undefined) options.temperature = request.temperature;
  if (request.topP !== undefined) options.topP = request.topP;
  if (request.stop !== undefined && request.stop.length > 0) options.stopSequences = request.stop;
  if (request.seed !== undefined) options.seed = request.seed;
  if (signal !== undefined) options.abortSignal = signal;
  return options;
}

function fileData(
  data: string | URL,
  specification: AiSdkLanguageModel['specificationVersion'],
): FilePromptPart['data'] {
  if (specification !== 'v4') return data;
  return typeof data === 'string' ? { type: 'data', data } : { type: 'url', url: data };
}

/**
 * Consecutive tool results merge into one `tool` message, as the AI SDK's own prompts have them.
 * A tool result's images and files follow that message in a user message (each after a text part
 * naming its call), as the chat-completions adapter sends them: every specification takes them there.
 */
function toPrompt(
  messages: Message[],
  specification: AiSdkLanguageModel['specificationVersion'],
): PromptMessage[] {
  const prompt: PromptMessage[] = [];
  const toParts = (content: string | ContentPart[]): PromptPart[] =>
    typeof content === 'string'
      ? [{ type: 'text', text: content }]
      : content.map((part) =>
          part.type === 'text'
            ? { type: 'text', text: part.text }
            : {
                type: 'file',
                // A URL string would be read as base64 data: the AI SDK takes URLs as URL objects.
                data: fileData(part.url === undefined ? part.data : new URL(part.url), specification),
                mediaType: part.mediaType ?? 'image/*',
                ...(part.type === 'file' && part.filename !== undefined ? { filename: part.filename } : {}),
              },
        );
  let media: PromptPart[] = [];
  for (const message of messages) {
    if (message.role !== 'tool' && media.length > 0) {
      prompt.push({ role: 'user', content: media });
      media = [];
    }
    switch (message.role) {
      case 'system':
        prompt.push({ role: 'system', content: message.content });
        break;
      case 'user':
        prompt.push({ role: 'user', content: toParts(message.content) });
        break;
      case 'assistant': {
        const content: PromptPart[] = message.content === '' ? [] : [{ type: 'text', text: message.content }];
        for (const call of message.toolCalls ?? []) {
          content.push({
            type: 'tool-call',
            toolCallId: call.id,
            toolName: call.name,
            input: toInput(call.arguments),
          });
        }
        prompt.push({ role: 'assistant', content });
        break;
      }
      case 'tool': {
        const text = toolResultText(message.content);
        const part = {
          type: 'tool-result' as const,
          toolCallId: message.toolCallId,
          toolName: message.name,
          output:
            message.isError === true
              ? { type: 'error-text' as const, value: text }
              : { type: 'text' as const, value: text },
        };
        const last = prompt.at(-1);
        if (last?.role === 'tool') last.content.push(part);
        else prompt.push({ role: 'tool', content: [part] });
        const files = mediaParts(message.content);
        if (files.length > 0)
          media.push({ type: 'text', text: toolMediaCaption(message) }, ...toParts(files));
        break;
      }
    }
  }
  if (media.length > 0) prompt.push({ role: 'user', content: media });
  return prompt;
}

/** Tool-call inputs are objects in AI SDK prompts; arguments that are not JSON become `{}`. */
function toInput(argumentsText: string): unknown {
  try {
    return JSON.parse(argumentsText) as unknown;
  } catch {
    return {};
  }
}

// ---------------------------------------------------------------------------------------------
// Response translation

/** v3 and v4 report `{ unified, raw }`, v2 a string. */
function toFinishReason(reason: AiSdkFinishReason | undefined): FinishReason {
  const unified = typeof reason === 'object' ? reason.unified : reason;
  switch (unified) {
    case 'stop':
    case 'length':
    case 'error':
      return unified;
    case 'tool-calls':
      return 'tool_calls';
    case 'content-filter':
      return 'content_filter';
    default:
      return 'other';
  }
}

/** v4 says `interrupted` when the provider's answer ended without its completion signal. */
function isInterrupted(reason: AiSdkFinishReason | undefined): boolean {
  return typeof reason === 'object' && reason.unified === 'interrupted';
}

function isMissingFinishReason(reason: AiSdkFinishReason | undefined): boolean {
  if (typeof reason === 'object') return reason.raw === undefined && reason.unified === 'other';
  return reason === undefined || reason === 'unknown';
}

/**
 * v2 warns `unsupported-setting` (`setting`), `unsupported-tool` (`tool`) and `other`; v3 and v4
 * `unsupported` and `compatibility` (`feature`) and `other`; v4 adds `deprecated` (`setting`).
 */
function reportWarnings(
  warnings: unknown[] | undefined,
  onWarning: ((warning: AiSdkWarning) => void) | undefined,
): void {
  if (onWarning === undefined || !Array.isArray(warnings)) return;
  for (const raw of warnings) {
    if (typeof raw !== 'object' || raw === null) continue;
    const { type, feature, setting, tool, details, message } = raw as Record<string, unknown>;
    const named = [feature, setting, tool].find((value) => typeof value === 'string') as string | undefined;
    const kind: AiSdkWarning['kind'] =
      type === 'unsupported' || type === 'unsupported-setting' || type === 'unsupported-tool'
        ? 'unsupported'
        : type === 'compatibility' || type === 'deprecated'
          ? type
          : 'other';
    const toolName =
      typeof tool === 'object' && tool !== null ? (tool as { name?: unknown }).name : undefined;
    const subject = named ?? (typeof toolName === 'string' ? toolName : undefined);
    const text =
      typeof message === 'string'
        ? message
        : typeof details === 'string'
          ? details
          : `${kind}${subject === undefined ? '' : `: ${subject}`}`;
    onWarning({ kind, ...(subject === undefined ? {} : { feature: subject }), message: text });
  }
}

/** v3 and v4 nest counts (`inputTokens.total`, `.cacheRead`, `outputTokens.reasoning`); v2 has flat numbers. */
function toReportedUsage(usage: AiSdkUsage | undefined): ReportedUsage | undefined {
  if (usage === undefined || usage === null) return undefined;
  let input: unknown;
  let output: unknown;
  let cached: unknown;
  let reasoning: unknown;
  if (typeof usage.inputTokens === 'object' || typeof usage.outputTokens === 'object') {
    const nested = usage as {
      inputTokens?: Exclude<AiSdkUsage['inputTokens'], number>;
      outputTokens?: Exclude<AiSdkUsage['outputTokens'], number>;
    };
    const { total, noCache, cacheRead, cacheWrite } = nested.inputTokens ?? {};
    input = total ?? sumReported(noCache, cacheRead, cacheWrite);
    output = nested.outputTokens?.total;
    cached = cacheRead;
    reasoning = nested.outputTokens?.reasoning;
  } else {
    const flat = usage;
    input = flat.inputTokens;
    output = flat.outputTokens;
    cached = flat.cachedInputTokens;
    reasoning = flat.reasoningTokens;
  }
  return { inputTokens: input, outputTokens: output, cachedInputTokens: cached, reasoningTokens: reasoning };
}

/**
 * Assembles a streamed answer. Tool calls come either in pieces (`tool-input-start`, `-delta`,
 * `-end`, then a `tool-call` with the whole input) or whole (`tool-call` alone); either way each
 * gets the next index, its first delta carries id and name, and the final arguments are the
 * `tool-call` input. Provider-executed tools are skipped. A v4 call whose deltas are text-encoded
 * (the raw input, not JSON) streams its JSON arguments whole when its `tool-call` arrives.
 */
function createStreamAssembly(modelId: string) {
  let text = '';
  let responseModelId = modelId;
  const calls: { id: string; name: string; arguments: string }[] = [];
  const indexById = new Map<string, number>();
  /** Calls whose deltas are raw text (v4 `inputEncoding: 'text'`): their JSON comes whole with `tool-call`. */
  const textEncoded = new Set<string>();
  const state = {
    finishPart: undefined as FinishPart | undefined,

    *apply(part: StreamPart): Generator<ModelStreamEvent> {
      switch (part.type) {
        case 'text-delta':
          if (part.delta !== '') {
            text += part.delta;
            yield { type: 'text-delta', text: part.delta };
          }
          return;
        case 'tool-input-start': {
          if (part.providerExecuted === true) return;
          const index = calls.length;
          calls.push({ id: part.id, name: part.toolName, arguments: '' });
          indexById.set(part.id, index);
          if (part.inputEncoding === 'text') textEncoded.add(part.id);
          yield { type: 'tool-call-delta', index, id: part.id, name: part.toolName, argumentsDelta: '' };
          return;
        }
        case 'tool-input-delta': {
          const index = indexById.get(part.id);
          const call = index === undefined ? undefined : calls[index];
          if (index === undefined || call === undefined || part.delta === '') return;
          if (textEncoded.has(part.id)) return;
          call.arguments += part.delta;
          yield { type: 'tool-call-delta', index, argumentsDelta: part.delta };
          return;
        }
        case 'tool-call': {
          if (part.providerExecuted === true) return;
          const index = indexById.get(part.toolCallId);
          const call = index === undefined ? undefined : calls[index];
          if (index === undefined || call === undefined) {
            calls.push({ id: part.toolCallId, name: part.toolName, arguments: part.input });
            indexById.set(part.toolCallId, calls.length - 1);
            yield {
              type: 'tool-call-delta',
              index: calls.length - 1,
              id: part.toolCallId,
              name: part.toolName,
              argumentsDelta: part.input,
            };
            return;
          }
          // The input is authoritative; stream what the deltas missed (a no-argument tool's `{}`).
          if (part.input.startsWith(call.arguments) && part.input !== call.arguments) {
            yield { type: 'tool-call-delta', index, argumentsDelta: part.input.slice(call.arguments.length) };
          }
          call.arguments = part.input;
          return;
        }
        case 'response-metadata':
          if (part.modelId) responseModelId = part.modelId;
          return;
        case 'finish':
          state.finishPart = part;
          return;
        default:
          // Reasoning, sources, files, custom parts, approval requests of provider-executed tools,
          // raw chunks, pings, stream-start and text/tool boundaries carry nothing Keel keeps.
          return;
      }
    },

    finish(request: ModelRequest): ModelResponse {
      const toolCalls: ToolCall[] = calls.map((call) => ({ ...call }));
      const message = toAssistantMessage(text, toolCalls);
      return {
        message,
        finishReason: toFinishReason(state.finishPart?.finishReason),
        usage: trustedUsage({
          reported: toReportedUsage(state.finishPart?.usage),
          request,
          message,
          model: modelId,
        }),
        modelId: responseModelId,
      };
    },
  };
  return state;
}

// ---------------------------------------------------------------------------------------------
// Errors

/** AI SDK errors carry a global-symbol marker per class, so they are recognized without importing the SDK. */
function isAiSdkError(error: unknown, name: string): error is Error & Record<string, unknown> {
  if (typeof error !== 'object' || error === null) return false;
  const marker = Symbol.for(`vercel.ai.error.AI_${name}`);
  return (error as Record<symbol, unknown>)[marker] === true;
}

const OUTPUT_ERRORS = [
  'JSONParseError',
  'TypeValidationError',
  'EmptyResponseBodyError',
  'InvalidResponseDataError',
];
const CONFIG_ERRORS = [
  'InvalidPromptError',
  'UnsupportedFunctionalityError',
  'InvalidArgumentError',
  'LoadAPIKeyError',
];

/**
 * Where an error came from: the call itself (`doGenerate`, `doStream`), an `error` part of the
 * stream, or reading the stream (a failure there is the connection's, like a reset).
 */
type ErrorOrigin = 'call' | 'stream-part' | 'stream-read';

function toKeelError({
  error,
  signal,
  provider,
  label,
  clock,
  origin,
}: {
  error: unknown;
  signal: AbortSignal | undefined;
  provider: string;
  label: string;
  clock: Clock;
  origin: ErrorOrigin;
}): unknown {
  if (signal?.aborted) return abortReason(signal);
  if (isKeelError(error)) return error;
  const code = origin === 'stream-part' ? { code: 'provider_stream_error' } : {};
  if (isAiSdkError(error, 'APICallError')) {
    const status = typeof error.statusCode === 'number' ? error.statusCode : undefined;
    if (status !== undefined && status >= 200 && status < 300) {
      // A 2xx that failed: unreadable content is the model's fault, a broken connection the provider's.
      const cause = error.cause;
      if (cause === undefined || OUTPUT_ERRORS.some((name) => isAiSdkError(cause, name))) {
        return new ModelOutputError(`${label}: ${error.message}`, {
          provider,
          status,
          reason: 'response_invalid',
        });
      }
      return new ProviderError({
        provider,
        message: redactKeys(`network failure: ${describeCause(error, { maxDepth: CAUSE_DEPTH })}`),
        ...code,
        cause: error,
      });
    }
    const headers = (error.responseHeaders ?? {}) as Record<string, string | undefined>;
    return new ProviderError({
      provider,
      status,
      message: redactKeys(
        `${status === undefined ? 'network failure' : `HTTP ${status}`}: ${describeCause(error, { maxDepth: CAUSE_DEPTH })}`,
      ),
      retryAfterMs: parseRetryAfter({ headers, clock }),
      ...code,
      cause: error,
    });
  }
  if (OUTPUT_ERRORS.some((name) => isAiSdkError(error, name))) {
    return new ModelOutputError(`${label}: ${(error as Error).message}`, {
      provider,
      reason: origin === 'call' ? 'response_invalid' : 'stream_chunk_invalid',
    });
  }
  if (CONFIG_ERRORS.some((name) => isAiSdkError(error, name))) {
    return new ModelConfigError(`${label}: ${(error as Error).message}`, { provider });
  }
  if (origin === 'stream-read') {
    return new ProviderError({
      provider,
      message: redactKeys(
        `network failure while reading the stream: ${describeCause(error, { maxDepth: CAUSE_DEPTH })}`,
      ),
      cause: error,
    });
  }
  // An error part of a stream is often the provider's own error body (`{ message, type, code }`).
  if (origin === 'stream-part') {
    return new ProviderError({
      provider,
      message: redactKeys(describeStreamError(error)),
      ...code,
      cause: error,
    });
  }
  return error;
}

/** An AI SDK error wraps the fetch failure, which wraps its cause: one level deeper than an adapter reads. */
const CAUSE_DEPTH = 4;

function describeStreamError(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null) {
    const { message, type, code } = error as { message?: unknown; type?: unknown; code?: unknown };
    const kind = [type, code]
      .filter((part) => typeof part === 'string' || typeof part === 'number')
      .join(', ');
    if (typeof message === 'string') return `${message}${kind === '' ? '' : ` (${kind})`}`;
  }
  if (typeof error === 'string') return error;
  return 'the provider sent an error in the stream';
}

/**
 * The bridge never sees the provider's key, so it masks the shapes providers echo back in errors:
 * OpenAI and Anthropic keys (`sk-...`) and Google keys (`AIza...`).
 */
function redactKeys(text: string): string {
  return redactSecrets({ text, echoedKeys: [SK_KEY_PATTERN, GOOGLE_KEY_PATTERN] });
}
