/**
 * The OpenAI chat-completions adapter: OpenAI itself and every server that speaks its wire format
 * (vLLM, Ollama, LM Studio, OpenRouter, LiteLLM, Keel's own gateway). It translates Keel's
 * provider-neutral request to `POST {baseURL}/chat/completions` and the answer back, streaming or
 * not. It never retries: retries have one owner (the gateway), which reads `ProviderError.status`,
 * `retryable` and `retryAfterMs` to decide.
 */
import type { z } from 'zod';
import { ModelOutputError } from '../../../errors/model-errors.js';
import { systemClock, type Clock } from '../../../util/clock.js';
import {
  toAssistantMessage,
  type EmbeddingModel,
  type FinishReason,
  type LanguageModel,
  type ContentPart,
  type Message,
  type ModelCallOptions,
  type ModelRequest,
  type ModelResponse,
  type ModelStreamEvent,
  type ToolCall,
  type WireStream,
} from '../../model.js';
import { defaultFilename, mediaParts, toolMediaCaption, toolResultText } from '../../content-parts.js';
import { assertSupported, effortForBudget, findUnsupportedField } from '../../provider-capabilities.js';
import { OPENAI_CAPABILITIES } from './capabilities.js';
import { readEnv, resolveEndpoints } from '../../provider-config.js';
import { estimateTextTokens } from '../../token-estimate.js';
import type { usageSchema } from './wire.js';
import {
  chatCompletionChunkSchema,
  isPlainChatCompletionChunk,
  chatCompletionSchema,
  embeddingsResponseSchema,
  errorBodySchema,
  type ChatCompletionChunkRead,
  type ResponseContent,
} from './wire.js';
import { trustedCount, trustedUsage, type ReportedUsage } from '../../trusted-usage.js';
import {
  createProviderHttp,
  SK_KEY_PATTERN,
  type ProviderErrorBody,
  type ProviderHttp,
} from '../../provider-http.js';

/** The official API, used when neither `baseURL` nor `OPENAI_BASE_URL` is set. */
export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';

/** How an OpenAI-wire model reaches its server: the options every OpenAI adapter shares. */
export type OpenAIConnectionOptions = Omit<OpenAICompatibleModelOptions, 'maxTokensField' | 'streamUsage'>;

/** Options of {@link createOpenAICompatibleModel}. */
export interface OpenAICompatibleModelOptions {
  /** Model id sent to the server and used for pricing, e.g. `gpt-4o-mini`. */
  model: string;
  /** Sent as a bearer token. Default: `OPENAI_API_KEY`. Local servers may need none. */
  apiKey?: string;
  /** Base URL up to and including the version, e.g. `http://127.0.0.1:8000/v1`. Default: `OPENAI_BASE_URL`, else the official API. */
  baseURL?: string;
  /** Sent as `OpenAI-Organization`. Default: `OPENAI_ORG_ID`. */
  organization?: string;
  /** Extra headers on every request; they win over the adapter's own. */
  headers?: Record<string, string>;
  fetch?: typeof globalThis.fetch;
  /** Provider id reported by the model and used for pricing: `openai` (default), `openai-compatible`, `openrouter`... */
  provider?: string;
  /** Where the `OPENAI_*` defaults are read. Default: `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Turns a `Retry-After` HTTP date into a delay. */
  clock?: Clock;
  /**
   * The request field for `maxOutputTokens`. `max_completion_tokens` (default) is the current one:
   * OpenAI deprecated `max_tokens`, and its reasoning models reject it. Some older compatible
   * servers only know `max_tokens`.
   */
  maxTokensField?: 'max_completion_tokens' | 'max_tokens';
  /**
   * Ask for the usage chunk on streams (`stream_options: { include_usage: true }`). Default true:
   * without it a stream carries no token counts and Keel must estimate them. Turn it off for a
   * server that rejects `stream_options`.
   */
  streamUsage?: boolean;
}

/**
 * Creates a LanguageModel that talks to an OpenAI-compatible chat-completions endpoint. Defaults
 * follow the official SDK: `OPENAI_API_KEY`, `OPENAI_BASE_URL`, `OPENAI_ORG_ID`. Throws
 * ModelConfigError when the official API would be called without a key.
 *
 * Errors of a call: a non-2xx answer is a ProviderError with its status, the provider's message
 * and `retryAfterMs`; a network failure is a ProviderError without status (retryable); an answer
 * that cannot be read (bad JSON, truncated stream) is a ModelOutputError; an abort rejects with the
 * signal's reason.
 */
export function createOpenAICompatibleModel({
  model,
  maxTokensField = 'max_completion_tokens',
  streamUsage = true,
  ...connection
}: OpenAICompatibleModelOptions): LanguageModel {
  const { provider, endpoint, http } = connectOpenAI({ model, ...connection, path: 'chat/completions' });

  const check = (request: ModelRequest) =>
    assertSupported({ request, capabilities: OPENAI_CAPABILITIES, provider, model });

  return {
    provider,
    modelId: model,
    unsupportedField: (request) => findUnsupportedField(request, OPENAI_CAPABILITIES),

    async generate(request: ModelRequest, options: ModelCallOptions = {}): Promise<ModelResponse> {
      check(request);
      const { signal } = options;
      const response = await http.post({
        endpoint,
        body: toRequestBody({ model, request, stream: false, maxTokensField, streamUsage }),
        stream: false,
        signal,
      });
      const completion = await http.readJson({
        response,
        signal,
        schema: chatCompletionSchema,
        expected: 'a chat completion',
      });
      const choice =
        completion.choices.find((candidate) => (candidate.index ?? 0) === 0) ?? completion.choices[0];
      if (choice === undefined) {
        throw new ModelOutputError(`${http.label}: the response has no choices.`, { provider, model });
      }
      const message = choice.message ?? {};
      const toolCalls: ToolCall[] = (message.tool_calls ?? []).map((call, index) => ({
        id: call.id ?? `call_${index}`,
        name: call.function.name,
        arguments: call.function.arguments ?? '',
      }));
      if (message.function_call) {
        toolCalls.push({
          id: 'call_0',
          name: message.function_call.name,
          arguments: message.function_call.arguments ?? '',
        });
      }
      const refusal = message.refusal || undefined;
      const content = responseText(message.content);
      const answer = toAssistantMessage(
        content === '' && refusal !== undefined ? refusal : content,
        toolCalls,
      );
      return {
        message: answer,
        finishReason: toFinishReason(choice.finish_reason, refusal !== undefined),
        usage: trustedUsage({ reported: toReportedUsage(completion.usage), request, message: answer, model }),
        modelId: completion.model ?? model,
      };
    },

    async *stream(request: ModelRequest, options: ModelCallOptions = {}): AsyncGenerator<ModelStreamEvent> {
      check(request);
      const { signal } = options;
      const response = await http.post({
        endpoint,
        body: toRequestBody({ model, request, stream: true, maxTokensField, streamUsage }),
        stream: true,
        signal,
      });
      const assembly = createStreamAssembly(model);
      for await (const chunk of http.readEvents({
        response,
        signal,
        ...CHUNK_READING,
        isComplete: () => assembly.finishReason !== undefined,
      })) {
        yield* assembly.apply(chunk);
      }
      yield { type: 'finish', response: assembly.finish(http.label, provider, request) };
    },

    wire: 'openai-chat',

    async openWireStream(request: ModelRequest, options: ModelCallOptions = {}): Promise<WireStream> {
      check(request);
      const response = await http.post({
        endpoint,
        body: toRequestBody({ model, request, stream: true, maxTokensField, streamUsage }),
        stream: true,
        signal: options.signal,
      });
      const body = await http.eventStreamBody(response);
      const assembly = createStreamAssembly(model);
      return {
        wire: 'openai-chat',
        label: http.label,
        body,
        read(event) {
          const read = http.readEventData(event, CHUNK_READING);
          if (read === undefined) return undefined;
          let events = 0;
          for (const _ of assembly.apply(read.parsed)) events++;
          return { value: read.raw, events };
        },
        failure: (thrown) => http.streamFailure(thrown, options.signal),
        isComplete: () => assembly.finishReason !== undefined,
        finish: () => assembly.finish(http.label, provider, request),
      };
    },
  };
}

/** How a chat-completion chunk is read, streamed or relayed. */
const CHUNK_READING = {
  schema: chatCompletionChunkSchema,
  isPlain: isPlainChatCompletionChunk,
  itemName: 'chunk',
};

/** Options of {@link createOpenAIEmbeddingModel}: the chat model's, without `maxTokensField` and `streamUsage`. */
export interface OpenAIEmbeddingModelOptions extends Omit<
  OpenAICompatibleModelOptions,
  'model' | 'maxTokensField' | 'streamUsage'
> {
  /** Embedding model id, e.g. `text-embedding-3-small`. */
  model: string;
}

/**
 * Creates an EmbeddingModel for `POST {baseURL}/embeddings` (OpenAI and compatible servers). One
 * call embeds the whole input array; the vectors come back in input order (by their `index`), and
 * `dimensions` is passed through for models that can shorten their vectors. An empty input makes
 * no call. Errors are those of {@link createOpenAICompatibleModel}; an answer with the wrong number
 * of vectors is a ModelOutputError. Never retries.
 */
export function createOpenAIEmbeddingModel({
  model,
  ...connection
}: OpenAIEmbeddingModelOptions): EmbeddingModel {
  const { provider, endpoint, http } = connectOpenAI({ model, ...connection, path: 'embeddings' });

  return {
    provider,
    modelId: model,

    async embed({ input, dimensions }, options = {}) {
      if (input.length === 0) return { embeddings: [], usage: { inputTokens: 0 } };
      const { signal } = options;
      const body = {
        model,
        input,
        // Floats, not the base64 the official SDK asks for: no decoding step, one code path.
        encoding_format: 'float',
        ...(dimensions === undefined ? {} : { dimensions }),
      };
      const response = await http.post({ endpoint, body, stream: false, signal });
      const answer = await http.readJson({
        response,
        signal,
        schema: embeddingsResponseSchema,
        expected: 'an embeddings list',
      });
      const data = [...answer.data].sort((left, right) => (left.index ?? 0) - (right.index ?? 0));
      if (data.length !== input.length) {
        throw new ModelOutputError(
          `${http.label}: ${data.length} embeddings came back for ${input.length} inputs.`,
          {
            provider,
            model,
          },
        );
      }
      return {
        embeddings: data.map((entry) => entry.embedding),
        usage: {
          inputTokens: trustedCount(answer.usage?.prompt_tokens, () =>
            input.reduce((sum, text) => sum + estimateTextTokens(text, { model }), 0),
          ),
        },
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Request translation

function toRequestBody({
  model,
  request,
  stream,
  maxTokensField,
  streamUsage,
}: {
  model: string;
  request: ModelRequest;
  stream: boolean;
  maxTokensField: 'max_completion_tokens' | 'max_tokens';
  streamUsage: boolean;
}): Record<string, unknown> {
  const body: Record<string, unknown> = { model, messages: toWireMessages(request.messages) };
  if (request.tools !== undefined && request.tools.length > 0) {
    body.tools = request.tools.map((tool) => ({
      type: 'function',
      function: {
        name: tool.name,
        description: tool.description,
        parameters: tool.parameters,
        ...(tool.strict === undefined ? {} : { strict: tool.strict }),
      },
    }));
  }
  if (request.toolChoice !== undefined) {
    body.tool_choice =
      typeof request.toolChoice === 'string'
        ? request.toolChoice
        : { type: 'function', function: { name: request.toolChoice.name } };
  }
  const format = request.responseFormat;
  if (format?.type === 'json') {
    body.response_format =
      format.schema === undefined
        ? { type: 'json_object' }
        : {
            type: 'json_schema',
            json_schema: { name: format.name ?? 'response', schema: format.schema, strict: true },
          };
  }
  if (request.maxOutputTokens !== undefined) body[maxTokensField] = request.maxOutputTokens;
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.topP !== undefined) body.top_p = request.topP;
  if (request.stop !== undefined && request.stop.length > 0) body.stop = request.stop;
  if (request.seed !== undefined) body.seed = request.seed;
  // A thinking budget has no counterpart here: it becomes the nearest effort (docs/gateway.md).
  const { reasoning } = request;
  if (reasoning?.effort !== undefined) body.reasoning_effort = reasoning.effort;
  else if (reasoning?.budgetTokens !== undefined)
    body.reasoning_effort = effortForBudget(reasoning.budgetTokens);
  if (request.parallelToolCalls !== undefined && request.tools !== undefined && request.tools.length > 0)
    body.parallel_tool_calls = request.parallelToolCalls;
  // cacheControl marks are not sent: OpenAI caches every long prompt prefix on its own.
  if (stream) {
    body.stream = true;
    // Without it a stream carries no token counts, and they would have to be estimated.
    if (streamUsage) body.stream_options = { include_usage: true };
  }
  return body;
}

/**
 * The messages in order, system messages where they stand. A tool message takes text alone on
 * this wire: the images and files of tool results go, in order, into one user message right after
 * the run of tool messages they came in (each after a text part naming its tool call), as the
 * API wants every tool call answered before any other message.
 */
function toWireMessages(messages: Message[]): Record<string, unknown>[] {
  const wire: Record<string, unknown>[] = [];
  let media: Record<string, unknown>[] = [];
  const flushMedia = () => {
    if (media.length > 0) wire.push({ role: 'user', content: media });
    media = [];
  };
  for (const message of messages) {
    if (message.role !== 'tool') flushMedia();
    else {
      const parts = mediaParts(message.content);
      if (parts.length > 0)
        media.push({ type: 'text', text: toolMediaCaption(message) }, ...parts.map(toWirePart));
    }
    const last = wire.at(-1);
    // One assistant turn split in two (a Responses caller's turn whose reasoning items came
    // between its calls: the items are dropped here) is sent as one, its calls then answered.
    if (message.role === 'assistant' && last?.role === 'assistant')
      mergeAssistant(last, toWireMessage(message));
    else wire.push(toWireMessage(message));
  }
  flushMedia();
  return wire;
}

/** Joins an assistant message into the one before it: texts one after the other, then the calls. */
function mergeAssistant(into: Record<string, unknown>, next: Record<string, unknown>): void {
  const text = [into.content, next.content]
    .filter((part) => typeof part === 'string' && part !== '')
    .join('');
  const calls = [
    ...((into.tool_calls as unknown[] | undefined) ?? []),
    ...((next.tool_calls as unknown[] | undefined) ?? []),
  ];
  into.content = text === '' && calls.length > 0 ? null : text;
  if (calls.length > 0) into.tool_calls = calls;
}

function toWireMessage(message: Message): Record<string, unknown> {
  switch (message.role) {
    case 'system':
      return { role: 'system', content: message.content };
    case 'user':
      return {
        role: 'user',
        content: typeof message.content === 'string' ? message.content : message.content.map(toWirePart),
      };
    case 'assistant': {
      const toolCalls = message.toolCalls ?? [];
      if (toolCalls.length === 0) return { role: 'assistant', content: message.content };
      return {
        role: 'assistant',
        // OpenAI's own answers carry null content beside tool calls.
        content: message.content === '' ? null : message.content,
        tool_calls: toolCalls.map((call) => ({
          id: call.id,
          type: 'function',
          function: { name: call.name, arguments: call.arguments },
        })),
      };
    }
    case 'tool':
      // The wire has no error flag: the tool layer states failures in the content itself.
      return {
        role: 'tool',
        tool_call_id: message.toolCallId,
        content: toolResultText(message.content),
      };
  }
}

/** A content part as chat completions takes it: images as `image_url`, files as `file` data URLs. */
function toWirePart(part: ContentPart): Record<string, unknown> {
  switch (part.type) {
    case 'text':
      return { type: 'text', text: part.text };
    case 'image':
      return {
        type: 'image_url',
        image_url: {
          url: part.url ?? `data:${part.mediaType};base64,${part.data}`,
          ...(part.detail === undefined ? {} : { detail: part.detail }),
        },
      };
    case 'file':
      // File URLs are refused before sending (OPENAI_CAPABILITIES): the wire takes data or file ids.
      return {
        type: 'file',
        file: {
          file_data: `data:${part.mediaType};base64,${part.data ?? ''}`,
          // OpenAI asks for a file name with file_data.
          filename: part.filename ?? defaultFilename(part.mediaType),
        },
      };
  }
}

// ---------------------------------------------------------------------------------------------
// Response translation (schemas are lenient: unknown fields are ignored, most fields optional)

type Chunk = ChatCompletionChunkRead;

function responseText(content: ResponseContent): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  return content.map((part) => part.text ?? '').join('');
}

/** A refusal (structured outputs) is the model declining on safety grounds: `content_filter`. */
function toFinishReason(raw: string | null | undefined, refused: boolean): FinishReason {
  if (refused) return 'content_filter';
  switch (raw) {
    case 'stop':
    case 'length':
    case 'tool_calls':
    case 'content_filter':
      return raw;
    case 'function_call':
      return 'tool_calls';
    default:
      return 'other';
  }
}

function toReportedUsage(usage: z.infer<typeof usageSchema>): ReportedUsage | undefined {
  if (usage === null || usage === undefined) return undefined;
  return {
    inputTokens: usage.prompt_tokens,
    outputTokens: usage.completion_tokens,
    cachedInputTokens: usage.prompt_tokens_details?.cached_tokens,
    reasoningTokens: usage.completion_tokens_details?.reasoning_tokens,
  };
}

/**
 * Assembles a streamed answer. Tool calls arrive as deltas keyed by `index`: the first delta of an
 * index carries the id and name, the next ones fragments of the arguments; parallel calls may
 * interleave. Usage arrives in a last chunk with no choices.
 */
function createStreamAssembly(model: string) {
  let text = '';
  let refused = false;
  let modelId = model;
  let usage: ReportedUsage | undefined;
  const toolCalls = new Map<number, { id?: string; name?: string; arguments: string }>();
  const state = {
    finishReason: undefined as string | undefined,

    *apply(chunk: Chunk): Generator<ModelStreamEvent> {
      if (chunk.model) modelId = chunk.model;
      if (chunk.usage) usage = toReportedUsage(chunk.usage);
      const choice = chunk.choices?.find((candidate) => (candidate.index ?? 0) === 0);
      if (choice === undefined) return;
      const delta = choice.delta ?? {};
      if (delta.content) {
        text += delta.content;
        yield { type: 'text-delta', text: delta.content };
      }
      if (delta.refusal) {
        // Streamed like content so the deltas still add up to the final message.
        refused = true;
        text += delta.refusal;
        yield { type: 'text-delta', text: delta.refusal };
      }
      const callDeltas = [...(delta.tool_calls ?? [])];
      if (delta.function_call) callDeltas.push({ index: 0, id: 'call_0', function: delta.function_call });
      for (const [position, callDelta] of callDeltas.entries()) {
        const index = callDelta.index ?? position;
        let call = toolCalls.get(index);
        if (call === undefined) toolCalls.set(index, (call = { arguments: '' }));
        const id = callDelta.id || undefined;
        const name = callDelta.function?.name || undefined;
        const argumentsDelta = callDelta.function?.arguments ?? '';
        if (id !== undefined && call.id === undefined) call.id = id;
        // Some servers repeat the full name in every delta; others would send fragments.
        if (name !== undefined && name !== call.name) call.name = (call.name ?? '') + name;
        call.arguments += argumentsDelta;
        if (id === undefined && name === undefined && argumentsDelta === '') continue;
        yield {
          type: 'tool-call-delta',
          index,
          ...(id === undefined ? {} : { id }),
          ...(name === undefined ? {} : { name }),
          argumentsDelta,
        };
      }
      if (choice.finish_reason) state.finishReason = choice.finish_reason;
    },

    finish(label: string, provider: string, request: ModelRequest): ModelResponse {
      const calls: ToolCall[] = [...toolCalls.entries()]
        .sort(([left], [right]) => left - right)
        .map(([index, call]) => {
          if (call.name === undefined) {
            throw new ModelOutputError(`${label}: the streamed tool call at index ${index} has no name.`, {
              provider,
              model,
              reason: 'stream_chunk_invalid',
            });
          }
          return { id: call.id ?? `call_${index}`, name: call.name, arguments: call.arguments };
        });
      const message = toAssistantMessage(text, calls);
      return {
        message,
        finishReason: toFinishReason(state.finishReason, refused),
        usage: trustedUsage({ reported: usage, request, message, model }),
        modelId,
      };
    },
  };
  return state;
}

// ---------------------------------------------------------------------------------------------
// Transport and errors

/**
 * What the OpenAI models (chat, Responses, embeddings) share: the official SDK's defaults, the endpoint `path` below
 * the base URL, checked (ModelConfigError for an empty model id, an invalid base URL, or the
 * official API without a key), and the transport: bearer auth, OpenAI's error body, `x-request-id`.
 */
export function connectOpenAI({
  model,
  path,
  env = process.env,
  apiKey = readEnv(env, 'OPENAI_API_KEY'),
  baseURL = readEnv(env, 'OPENAI_BASE_URL') ?? DEFAULT_OPENAI_BASE_URL,
  organization = readEnv(env, 'OPENAI_ORG_ID'),
  headers = {},
  fetch = globalThis.fetch,
  provider = 'openai',
  clock = systemClock,
  readErrorBody: readBody = readErrorBody,
}: OpenAIConnectionOptions & {
  path: string;
  readErrorBody?: (value: unknown) => ProviderErrorBody | undefined;
}): {
  provider: string;
  endpoint: URL;
  http: ProviderHttp;
} {
  const { endpoint } = resolveEndpoints({
    provider,
    model,
    baseURL,
    paths: { endpoint: path },
    apiKey,
    officialBaseURL: DEFAULT_OPENAI_BASE_URL,
    service: 'OpenAI',
    keyVariables: ['OPENAI_API_KEY'],
  });
  const http = createProviderHttp({
    provider,
    model,
    fetch,
    providerHeaders: {
      ...(apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` }),
      ...(organization === undefined ? {} : { 'openai-organization': organization }),
    },
    headers,
    apiKey,
    // Providers echo keys back in 401s, OpenAI masked (`sk-proj-****abcd`).
    echoedKeys: [SK_KEY_PATTERN],
    clock,
    readErrorBody: readBody,
    requestIdHeader: 'x-request-id',
  });
  return { provider, endpoint, http };
}

/** A body of the form `{ error: ... }` (some servers send it with 200, or mid-stream). */
export function readErrorBody(value: unknown): ProviderErrorBody | undefined {
  const parsed = errorBodySchema.safeParse(value);
  return parsed.success ? { message: describeError(parsed.data.error) } : undefined;
}

function describeError(error: z.infer<typeof errorBodySchema>['error']): string {
  if (typeof error === 'string') return error;
  const kind = [error.type, error.code].filter((part) => part !== null && part !== undefined).join(', ');
  return `${error.message ?? 'unknown error'}${kind === '' ? '' : ` (${kind})`}`;
}
