/**
 * OpenAI's wire formats at the gateway's edge: chat completions (`POST /v1/chat/completions`,
 * plain and streamed), embeddings, the models list and error bodies. Requests are validated with
 * zod and translated into the gateway's provider-neutral request; answers are translated back. A
 * chat body's unknown top-level field is refused (400 naming it), never silently dropped.
 */
import { cacheMarkOf, compactContent, parseDataUrl } from '../../model/content-parts.js';
import {
  chatCompletionRequestSchema,
  embeddingsRequestSchema,
  type ChatChunkDelta,
  type ChatCompletion,
  type ChatCompletionRequest,
  type ChatFinishReason,
  type ChatContent,
  type ChatUsage,
  type EmbeddingsResponse,
  type OpenAIErrorBody,
} from '../../model/providers/openai/wire.js';
import type {
  CacheControl,
  ContentPart,
  Message,
  ModelResponse,
  ResponseFormat,
  ToolChoice,
  ToolSpec,
  Usage,
} from '../../model/model.js';
import type { EmbeddingRequest, GatewayRequest } from '../gateway-types.js';
import {
  invalidRequest,
  type GatewayErrorClass,
  type GatewayErrorKind,
  type StreamEncoder,
  type WireWriter,
} from './gateway-http-errors.js';
import { parseRequestBody } from './parse-request-body.js';

/** A chat-completions request as the gateway will make it. */
export interface ChatCompletionCall {
  request: GatewayRequest;
  stream: boolean;
  /** `stream_options.include_usage`: send a usage chunk before `[DONE]`. */
  includeUsage: boolean;
  /** OpenAI's `user` field (an end-user id), for the caller's own attribution. */
  user?: string;
}

/**
 * Validates an OpenAI chat-completions body and translates it. Throws a 400 `GatewayRequestError`
 * naming the field at fault. Nothing is silently dropped: an unknown top-level field, audio and
 * other unknown parts, `n` other than 1, non-function tools and non-neutral penalties are refused;
 * a few bookkeeping fields (`store`, `metadata`, `service_tier`, `prompt_cache_key`,
 * `safety_identifier`) are accepted and ignored, as docs/gateway.md lists.
 */
export function parseChatCompletionRequest(body: unknown): ChatCompletionCall {
  const parsed = parseRequestBody(chatCompletionRequestSchema, body);
  if (parsed.n !== undefined && parsed.n !== null && parsed.n !== 1)
    throw invalidRequest('n: only n = 1 is supported by this gateway.', 'n');

  const toolNames = new Map<string, string>();
  const messages: Message[] = parsed.messages.map((entry, index): Message => {
    switch (entry.role) {
      case 'system':
      case 'developer':
        return {
          role: 'system',
          content: textOf(entry.content, `messages.${index}.content`),
          ...messageCacheMarkOf(entry.content),
        };
      case 'user':
        return { role: 'user', content: userContentOf(entry.content, `messages.${index}.content`) };
      case 'assistant': {
        const text = entry.content == null ? '' : textOf(entry.content, `messages.${index}.content`);
        const calls = entry.tool_calls ?? [];
        for (const call of calls) toolNames.set(call.id, call.function.name);
        const mark = entry.content == null ? {} : messageCacheMarkOf(entry.content);
        return calls.length === 0
          ? { role: 'assistant', content: text, ...mark }
          : {
              role: 'assistant',
              content: text,
              toolCalls: calls.map((call) => ({
                id: call.id,
                name: call.function.name,
                arguments: call.function.arguments,
              })),
              ...mark,
            };
      }
      case 'tool':
        return {
          role: 'tool',
          toolCallId: entry.tool_call_id,
          name: toolNames.get(entry.tool_call_id) ?? '',
          content: textOf(entry.content, `messages.${index}.content`),
          ...messageCacheMarkOf(entry.content),
        };
    }
  });

  const request: GatewayRequest = { model: parsed.model, messages };
  if (parsed.tools != null && parsed.tools.length > 0)
    request.tools = parsed.tools.map((entry): ToolSpec => ({
      name: entry.function.name,
      description: entry.function.description ?? '',
      parameters: entry.function.parameters ?? { type: 'object', properties: {} },
      ...(entry.function.strict == null ? {} : { strict: entry.function.strict }),
    }));
  const toolChoice = toolChoiceOf(parsed.tool_choice);
  if (toolChoice !== undefined) request.toolChoice = toolChoice;
  const responseFormat = responseFormatOf(parsed.response_format);
  if (responseFormat !== undefined) request.responseFormat = responseFormat;
  const maxOutputTokens = parsed.max_completion_tokens ?? parsed.max_tokens;
  if (maxOutputTokens != null) request.maxOutputTokens = maxOutputTokens;
  if (parsed.temperature != null) request.temperature = parsed.temperature;
  if (parsed.top_p != null) request.topP = parsed.top_p;
  if (parsed.stop != null) {
    const stop = typeof parsed.stop === 'string' ? [parsed.stop] : parsed.stop;
    if (stop.length > 0) request.stop = stop;
  }
  if (parsed.seed != null) request.seed = parsed.seed;
  if (parsed.reasoning_effort != null) request.reasoning = { effort: parsed.reasoning_effort };
  if (parsed.parallel_tool_calls != null) request.parallelToolCalls = parsed.parallel_tool_calls;

  return {
    request,
    stream: parsed.stream === true,
    includeUsage: parsed.stream_options?.include_usage === true,
    ...(parsed.user == null ? {} : { user: parsed.user }),
  };
}

/** A user message's content: text, or text, image and file parts. */
function userContentOf(value: ChatContent, param: string): string | ContentPart[] {
  if (typeof value === 'string') return value;
  const parts = value.map((part, index): ContentPart => {
    const where = `${param}.${index}`;
    const cache = cacheMarkOf(part.cache_control);
    if (part.type === 'text' && typeof part.text === 'string')
      return { type: 'text', text: part.text, ...cache };
    if (part.type === 'image_url' && part.image_url !== undefined) {
      const { url, detail } = part.image_url;
      const inline = parseDataUrl(url);
      const source = inline === undefined ? { url } : { data: inline.data, mediaType: inline.mediaType };
      return { type: 'image', ...source, ...(detail === undefined ? {} : { detail }), ...cache };
    }
    if (part.type === 'file' && part.file !== undefined) {
      const inline = part.file.file_data === undefined ? undefined : parseDataUrl(part.file.file_data);
      if (inline === undefined)
        throw invalidRequest(
          `${where}.file: send the file as file_data, a base64 data URL (data:application/pdf;base64,...); this gateway keeps no uploaded files, so file_id cannot be used.`,
          `${where}.file`,
          'unsupported_content',
        );
      return {
        type: 'file',
        data: inline.data,
        mediaType: inline.mediaType,
        ...(part.file.filename === undefined ? {} : { filename: part.file.filename }),
        ...cache,
      };
    }
    throw invalidRequest(
      `${where}: content parts of type "${part.type}" are not supported; send text, image_url or file parts.`,
      where,
      'unsupported_content',
    );
  });
  return compactContent(parts);
}

/** The cache mark of a message's parts (the last marked one), as a message member. */
function messageCacheMarkOf(value: ChatContent): { cacheControl?: CacheControl } {
  if (typeof value === 'string') return {};
  return cacheMarkOf(value.findLast((part) => part.cache_control !== undefined)?.cache_control);
}

function textOf(value: ChatContent, param: string): string {
  if (typeof value === 'string') return value;
  let text = '';
  for (const [index, part] of value.entries()) {
    if (part.type === 'text' && typeof part.text === 'string') text += part.text;
    else if (part.type === 'refusal' && typeof part.refusal === 'string') text += part.refusal;
    else if (part.type === 'image_url' || part.type === 'file')
      throw invalidRequest(
        `${param}.${index}: ${part.type} parts are accepted in user messages only.`,
        `${param}.${index}`,
        'unsupported_content',
      );
    else
      throw invalidRequest(
        `${param}.${index}: content parts of type "${part.type}" are not supported; send text parts only.`,
        `${param}.${index}`,
        'unsupported_content',
      );
  }
  return text;
}

function toolChoiceOf(value: ChatCompletionRequest['tool_choice']): ToolChoice | undefined {
  if (value == null) return undefined;
  if (typeof value === 'string') return value;
  return { name: value.function.name };
}

function responseFormatOf(value: ChatCompletionRequest['response_format']): ResponseFormat | undefined {
  if (value == null || value.type === 'text') return undefined;
  if (value.type === 'json_object') return { type: 'json' };
  return {
    type: 'json',
    name: value.json_schema.name,
    ...(value.json_schema.schema == null ? {} : { schema: value.json_schema.schema }),
  };
}

/** Identity of one answer, shared by its JSON body or all its chunks. */
export interface CompletionIdentity {
  /** `chatcmpl-...` */
  id: string;
  /** Epoch seconds. */
  created: number;
  /** The route name the caller asked for (not the upstream's model id). */
  model: string;
}

function finishReasonOf(reason: ModelResponse['finishReason']): ChatFinishReason {
  return reason === 'length' || reason === 'tool_calls' || reason === 'content_filter' ? reason : 'stop';
}

/** OpenAI's usage object, including the cached and reasoning subsets. */
function usageOf(usage: Usage): ChatUsage {
  return {
    prompt_tokens: usage.inputTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.inputTokens + usage.outputTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedInputTokens ?? 0 },
    completion_tokens_details: { reasoning_tokens: usage.reasoningTokens ?? 0 },
  };
}

/** A `chat.completion` body for a gateway answer. */
export function toChatCompletion(response: ModelResponse, identity: CompletionIdentity): ChatCompletion {
  const { message: answer } = response;
  const toolCalls = answer.toolCalls ?? [];
  return {
    id: identity.id,
    object: 'chat.completion',
    created: identity.created,
    model: identity.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: answer.content === '' && toolCalls.length > 0 ? null : answer.content,
          refusal: null,
          ...(toolCalls.length === 0
            ? {}
            : {
                tool_calls: toolCalls.map((call) => ({
                  id: call.id,
                  type: 'function',
                  function: { name: call.name, arguments: call.arguments },
                })),
              }),
        },
        logprobs: null,
        finish_reason: finishReasonOf(response.finishReason),
      },
    ],
    usage: usageOf(response.usage),
  };
}

/**
 * Creates the chunk encoder of one streamed answer: gateway stream events become
 * `chat.completion.chunk` server-sent events, as OpenAI sends them. `start` is the assistant role
 * with empty content; `finish` ends with `[DONE]`; an error after the first byte is a
 * `data: {"error": ...}` event with no `[DONE]` after it. Tool-call fragments keep their index; the
 * first fragment of each call carries its id, type and name. If the stream's `finish` carries
 * content or tool calls that no delta announced (a cached answer replayed as a stream), they are
 * sent whole before the finish chunk, so the client's accumulated answer always matches.
 */
export function createChatCompletionChunkEncoder({
  identity,
  includeUsage,
}: {
  identity: CompletionIdentity;
  includeUsage: boolean;
}): StreamEncoder {
  const envelope = chunkEnvelope(identity);
  const usageNull = includeUsage ? ',"usage":null' : '';
  const chunk = (delta: ChatChunkDelta, finishReason: string | null = null): string =>
    `data: ${envelope},"choices":[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":${finishReason === null ? 'null' : JSON.stringify(finishReason)}}]${usageNull}}\n\n`;
  const startedCalls = new Set<number>();
  let sentText = false;

  const toolCallChunk = (index: number, id: string, name: string, argumentsText: string): string => {
    startedCalls.add(index);
    return chunk({
      tool_calls: [{ index, id, type: 'function', function: { name, arguments: argumentsText } }],
    });
  };

  return {
    start: () => chunk({ role: 'assistant', content: '', refusal: null }),
    encode(event) {
      switch (event.type) {
        case 'text-delta':
          if (event.text === '') return '';
          sentText = true;
          return chunk({ content: event.text });
        case 'reasoning-delta':
          // Chat completions has no field for reasoning blocks: not streamed (docs/gateway.md).
          return '';
        case 'tool-call-delta':
          if (!startedCalls.has(event.index))
            return toolCallChunk(
              event.index,
              event.id ?? `call_${identity.id.slice(-12)}_${event.index}`,
              event.name ?? '',
              event.argumentsDelta,
            );
          if (event.argumentsDelta === '') return '';
          return chunk({
            tool_calls: [{ index: event.index, function: { arguments: event.argumentsDelta } }],
          });
        case 'finish': {
          const { response } = event;
          let text = '';
          if (!sentText && response.message.content !== '')
            text += chunk({ content: response.message.content });
          if (startedCalls.size === 0)
            for (const [index, call] of (response.message.toolCalls ?? []).entries())
              text += toolCallChunk(index, call.id, call.name, call.arguments);
          text += chunk({}, finishReasonOf(response.finishReason));
          if (includeUsage)
            text += `data: ${envelope},"choices":[],"usage":${JSON.stringify(usageOf(response.usage))}}\n\n`;
          return `${text}data: [DONE]\n\n`;
        }
      }
    },
    error: (errorClass) => `data: ${JSON.stringify(toOpenAIError(errorClass))}\n\n`,
  };
}

/** The start of every chunk the gateway sends: its answer id, `created` and the model the caller named. */
function chunkEnvelope(identity: CompletionIdentity): string {
  return `{"id":${JSON.stringify(identity.id)},"object":"chat.completion.chunk","created":${identity.created},"model":${JSON.stringify(identity.model)}`;
}

/** An OpenAI chunk's envelope as OpenAI (and most compatible servers) write it, first in the data. */
/** How OpenAI ends a chunk when usage was asked for (and the chunk carries none). */
const USAGE_NULL_END = ',"usage":null}';
const UPSTREAM_ENVELOPE =
  /^\{"id":"[^"\\]*","object":"chat\.completion\.chunk","created":\d+,"model":"[^"\\]*"/;

/**
 * Creates the writer of a relayed chat-completions stream (an OpenAI-wire upstream's chunks,
 * `wire-relay.ts`). Each chunk leaves as the upstream wrote it, but for what every chunk of the
 * gateway's carries: its envelope (`id`, `created`, and `model`, the name the caller asked for) is
 * the gateway's, as in {@link createChatCompletionChunkEncoder}. With OpenAI's field order that is
 * a splice of the first bytes; another order is re-serialized (same fields, envelope first).
 * Usage is the gateway's to give: the upstream's usage chunk is held to the end and sent when the
 * caller asked for usage and the call recorded the upstream's counts; when it recorded Keel's
 * estimate instead (no usage, or impossible counts) the estimate is sent as the encoder sends it.
 * A caller that did not ask gets no usage (nor `"usage": null` fields). Chunks without choices or
 * usage (Azure's filter results) are not sent, as the encoder never sent them. The end marker and
 * errors are the encoder's.
 */
export function createChatChunkRelay({
  identity,
  includeUsage,
}: {
  identity: CompletionIdentity;
  includeUsage: boolean;
}): WireWriter {
  const envelope = chunkEnvelope(identity);
  const encoder = createChatCompletionChunkEncoder({ identity, includeUsage });
  let upstreamUsage: string | undefined;

  /** The chunk's fields again, the gateway's envelope first, `usage` last (left out when undefined). */
  const reserialize = (fields: Record<string, unknown>, usage: unknown): string => {
    const { id: _id, object: _object, created: _created, model: _model, usage: _usage, ...rest } = fields;
    const chunk: Record<string, unknown> = {
      id: identity.id,
      object: 'chat.completion.chunk',
      created: identity.created,
      model: identity.model,
      ...rest,
    };
    if (usage !== undefined) chunk.usage = usage;
    return JSON.stringify(chunk);
  };
  const withEnvelope = (data: string, fields: Record<string, unknown>, usage: unknown): string => {
    const upstream = UPSTREAM_ENVELOPE.exec(data);
    return upstream === null ? reserialize(fields, usage) : envelope + data.slice(upstream[0].length);
  };

  return {
    event(data, value) {
      const fields = value as Record<string, unknown>;
      const { usage, choices } = fields;
      const noChoices = !Array.isArray(choices) || choices.length === 0;
      if (usage != null && noChoices) {
        if (includeUsage) upstreamUsage = withEnvelope(data, fields, usage);
        return '';
      }
      if (noChoices) return '';
      // Usage inside a chunk with choices: the chunk goes without it, Keel's usage chunk ends the answer.
      if (usage != null) return `data: ${reserialize(fields, includeUsage ? null : undefined)}\n\n`;
      if (!includeUsage && usage === null) {
        if (!data.endsWith(USAGE_NULL_END)) return `data: ${reserialize(fields, undefined)}\n\n`;
        return `data: ${withEnvelope(`${data.slice(0, -USAGE_NULL_END.length)}}`, fields, undefined)}\n\n`;
      }
      return `data: ${withEnvelope(data, fields, usage)}\n\n`;
    },
    end(answer) {
      if (!includeUsage) return 'data: [DONE]\n\n';
      const usage =
        upstreamUsage !== undefined && answer.usage.source === 'reported'
          ? `data: ${upstreamUsage}\n\n`
          : `data: ${envelope},"choices":[],"usage":${JSON.stringify(usageOf(answer.usage))}}\n\n`;
      return `${usage}data: [DONE]\n\n`;
    },
    error: encoder.error,
  };
}

const OPENAI_ERROR_TYPES: Record<GatewayErrorKind, string> = {
  invalid_request: 'invalid_request_error',
  authentication: 'invalid_request_error',
  permission: 'permission_error',
  not_found: 'invalid_request_error',
  request_too_large: 'invalid_request_error',
  rate_limit: 'rate_limit_error',
  upstream: 'server_error',
  overloaded: 'server_error',
  timeout: 'server_error',
  internal: 'server_error',
};

/** The one mapping of a classified error to OpenAI's error body `{ error: { message, type, param, code } }`. */
export function toOpenAIError(
  errorClass: GatewayErrorClass,
  wireFields: Readonly<Record<string, string>> = CHAT_WIRE_FIELDS,
): OpenAIErrorBody {
  let code = errorClass.code;
  if (errorClass.kind === 'authentication') code = 'invalid_api_key';
  else if (errorClass.kind === 'not_found' && errorClass.param === 'model') code = 'model_not_found';
  // A spent budget keeps its own code: retrying soon will not help, unlike a rate limit.
  else if (errorClass.kind === 'rate_limit' && code !== 'budget_exhausted') code = 'rate_limit_exceeded';
  const type =
    errorClass.kind === 'rate_limit' && errorClass.limit !== undefined
      ? errorClass.limit === 'rpm'
        ? 'requests'
        : 'tokens'
      : OPENAI_ERROR_TYPES[errorClass.kind];
  if (errorClass.field !== undefined) {
    const param = wireFields[errorClass.field] ?? errorClass.field;
    return { error: { message: `${param}: ${errorClass.message}`, type, param, code } };
  }
  return { error: { message: errorClass.message, type, param: errorClass.param ?? null, code } };
}

/** `UnsupportedField.field` in chat-completions terms, for the 400 naming it. */
const CHAT_WIRE_FIELDS: Record<string, string> = {
  'reasoning.effort': 'reasoning_effort',
  'reasoning.budgetTokens': 'reasoning_effort',
  parallelToolCalls: 'parallel_tool_calls',
  cacheControl: 'cache_control',
  'content.image': 'image_url',
  'content.image.url': 'image_url.url',
  'content.image.detail': 'image_url.detail',
  'content.image.mediaType': 'image_url.url',
  'content.file': 'file',
  'content.file.url': 'file.file_data',
  'content.file.mediaType': 'file.file_data',
};

/** An embeddings request as the gateway will make it. */
export interface EmbeddingsCall {
  request: EmbeddingRequest;
  encoding: 'float' | 'base64';
}

/** Validates an OpenAI embeddings body. Token-array input is rejected: the gateway embeds text. */
export function parseEmbeddingsRequest(body: unknown): EmbeddingsCall {
  const parsed = parseRequestBody(embeddingsRequestSchema, body);
  const input = typeof parsed.input === 'string' ? [parsed.input] : parsed.input;
  if (!input.every((item): item is string => typeof item === 'string'))
    throw invalidRequest(
      'input: token arrays are not supported; send strings.',
      'input',
      'unsupported_content',
    );
  if (input.length === 0) throw invalidRequest('input: must not be empty.', 'input');
  return {
    request: {
      model: parsed.model,
      input,
      ...(parsed.dimensions == null ? {} : { dimensions: parsed.dimensions }),
    },
    encoding: parsed.encoding_format ?? 'float',
  };
}

/** An OpenAI embeddings list; `base64` packs each vector as little-endian float32, as OpenAI does. */
export function toEmbeddingsResponse({
  embeddings,
  inputTokens,
  model,
  encoding,
}: {
  embeddings: number[][];
  inputTokens: number;
  model: string;
  encoding: 'float' | 'base64';
}): EmbeddingsResponse {
  return {
    object: 'list',
    data: embeddings.map((vector, index) => ({
      object: 'embedding',
      index,
      embedding:
        encoding === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector,
    })),
    model,
    usage: { prompt_tokens: inputTokens, total_tokens: inputTokens },
  };
}

/** OpenAI's model object for one route. */
export function toModel(route: string): Record<string, unknown> {
  return { id: route, object: 'model', created: 0, owned_by: 'keel' };
}

/** OpenAI's models list for the gateway's routes. */
export function toModelList(routes: readonly string[]): Record<string, unknown> {
  return { object: 'list', data: routes.map(toModel) };
}
