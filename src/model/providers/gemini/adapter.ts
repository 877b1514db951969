/**
 * The Gemini adapter: Google's Gemini API (`models/{model}:generateContent` and
 * `:streamGenerateContent?alt=sse`), streaming or not. It translates Keel's provider-neutral
 * request to Gemini's shape (`systemInstruction`, `contents` of `user` and `model` turns,
 * `functionCall` and `functionResponse` parts, a JSON-Schema subset for tools and response
 * schemas) and the answer back. Like every adapter it never retries: the gateway owns retries.
 */
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { ModelOutputError } from '../../../errors/model-errors.js';
import { systemClock, type Clock } from '../../../util/clock.js';
import {
  toAssistantMessage,
  type FinishReason,
  type LanguageModel,
  type ContentPart,
  type Message,
  type ModelCallOptions,
  type ModelRequest,
  type ModelResponse,
  type ModelStreamEvent,
  type ToolCall,
} from '../../model.js';
import { isPlainObject, JSON_INSTRUCTION, parseJsonOrText, toArgumentsObject } from '../../json.js';
import { contentText, mediaParts, parseDataUrl } from '../../content-parts.js';
import { assertSupported, EFFORT_BUDGET_TOKENS, findUnsupportedField } from '../../provider-capabilities.js';
import { GEMINI_CAPABILITIES } from './capabilities.js';
import type { usageSchema } from './wire.js';
import {
  errorBodySchema,
  responseSchema,
  type GenerateContentResponseRead,
  type GoogleErrorRead,
} from './wire.js';
import { readEnv, resolveEndpoints } from '../../provider-config.js';
import { createProviderHttp, GOOGLE_KEY_PATTERN, type ProviderErrorBody } from '../../provider-http.js';
import { MAX_RETRY_AFTER_MS } from '../../retry-after.js';
import { sumReported, trustedUsage, type ReportedUsage } from '../../trusted-usage.js';

/** The official API, with its version. */
export const DEFAULT_GEMINI_BASE_URL = 'https://generativelanguage.googleapis.com/v1beta';

/** Options of {@link createGeminiModel}. */
export interface GeminiModelOptions {
  /** Model id, e.g. `gemini-2.5-flash` (a `models/` or `tunedModels/` path is used as is). */
  model: string;
  /** Sent as `x-goog-api-key`. Default: `GOOGLE_API_KEY`, else `GEMINI_API_KEY` (the official SDKs' order). */
  apiKey?: string;
  /** Base URL including the version. Default: `GEMINI_BASE_URL`, else the official API. */
  baseURL?: string;
  /** Extra headers on every request; they win over the adapter's own. */
  headers?: Record<string, string>;
  fetch?: typeof globalThis.fetch;
  /** Where the defaults are read. Default: `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Provider id reported by the model and used for pricing. Default `google` (the price table's id). */
  provider?: string;
  /** Turns a `retry-after` HTTP date into a delay. */
  clock?: Clock;
}

/**
 * Creates a LanguageModel for Gemini. Throws ModelConfigError when the official API would be
 * called without a key.
 *
 * Choices worth knowing:
 * - Gemini gives most tool calls no id. Keel gives each one `call_<position>_<hash>`, the hash of
 *   the answer's `responseId`, the position, the name and the arguments: the same answer always
 *   yields the same ids, and repeated calls in later answers do not collide. An id Gemini does
 *   send is kept, and sent back with the call and its result.
 * - Tool results go back as `functionResponse` parts of a `user` turn (`{ result }`, or
 *   `{ error }` for a failed tool, holding the content parsed as JSON when it is JSON).
 * - Gemini 3 requires the `thoughtSignature` of a model turn's first function call to be sent
 *   back; Keel's messages have no place for it, so the adapter sends Google's documented
 *   placeholder (`skip_thought_signature_validator`). Calls still work; the model may reason a
 *   little less well across tool turns.
 * - Schemas (tool parameters, response schema) are reduced to the subset Gemini accepts: local
 *   `$ref`s inlined, `allOf` merged, `oneOf` and nullable unions turned into `anyOf`/`nullable`,
 *   unsupported keywords (`additionalProperties`, `$schema`, non-string enums, most formats)
 *   dropped. The model then sees a looser schema; the tool layer still validates arguments.
 * - A JSON response format sets `responseMimeType` (and `responseSchema`), except when tools are
 *   offered: Gemini 2.x rejects that combination, so JSON is then asked for in the system prompt.
 * - Usage: `outputTokens` includes thinking tokens (`thoughtsTokenCount`, which Gemini counts
 *   apart and bills as output), also reported as `reasoningTokens`; `cachedInputTokens` is
 *   `cachedContentTokenCount` (part of the prompt count).
 *
 * Errors of a call: a non-2xx answer is a ProviderError with its status, Google's message and
 * status name, and `retryAfterMs` (from `retry-after` or the body's `RetryInfo`); an error inside a
 * stream is a ProviderError with code `provider_stream_error`, retryable as its code is; a network
 * failure is a ProviderError without status; an unreadable answer (bad JSON, a stream that ends
 * without a finish reason) is a ModelOutputError; an abort rejects with the signal's reason.
 */
export function createGeminiModel({
  model,
  env = process.env,
  apiKey = readEnv(env, 'GOOGLE_API_KEY') ?? readEnv(env, 'GEMINI_API_KEY'),
  baseURL = readEnv(env, 'GEMINI_BASE_URL') ?? DEFAULT_GEMINI_BASE_URL,
  headers = {},
  fetch: fetchFunction = globalThis.fetch,
  provider = 'google',
  clock = systemClock,
}: GeminiModelOptions): LanguageModel {
  const modelPath = /^(models|tunedModels)\//.test(model) ? model : `models/${model}`;
  const { generate: generateURL, stream: streamURL } = resolveEndpoints({
    provider,
    model,
    baseURL,
    paths: {
      generate: `${modelPath}:generateContent`,
      stream: `${modelPath}:streamGenerateContent?alt=sse`,
    },
    apiKey,
    officialBaseURL: DEFAULT_GEMINI_BASE_URL,
    service: 'Gemini',
    keyVariables: ['GEMINI_API_KEY', 'GOOGLE_API_KEY'],
  });
  const http = createProviderHttp({
    provider,
    model,
    fetch: fetchFunction,
    providerHeaders: apiKey === undefined ? {} : { 'x-goog-api-key': apiKey },
    headers,
    apiKey,
    // Google API keys the provider may echo back.
    echoedKeys: [GOOGLE_KEY_PATTERN],
    clock,
    readErrorBody,
    // The code is an HTTP status; without one the failure counts as a (retryable) server error.
    defaultErrorStatus: 500,
  });

  const check = (request: ModelRequest) =>
    assertSupported({ request, capabilities: GEMINI_CAPABILITIES, provider, model });

  return {
    provider,
    modelId: model,
    unsupportedField: (request) => findUnsupportedField(request, GEMINI_CAPABILITIES),

    async generate(request: ModelRequest, options: ModelCallOptions = {}): Promise<ModelResponse> {
      check(request);
      const { signal } = options;
      const response = await http.post({
        endpoint: generateURL,
        body: toRequestBody(request),
        stream: false,
        signal,
      });
      const answer = await http.readJson({
        response,
        signal,
        schema: responseSchema,
        expected: 'a GenerateContentResponse',
      });
      if ((answer.candidates ?? []).length === 0 && !answer.promptFeedback?.blockReason) {
        throw new ModelOutputError(`${http.label}: the response has no candidate.`, { provider, model });
      }
      // A whole answer is assembled like a stream of one chunk; its deltas are not needed.
      const assembly = createAssembly(model);
      Array.from(assembly.apply(answer));
      return assembly.finish(request);
    },

    async *stream(request: ModelRequest, options: ModelCallOptions = {}): AsyncGenerator<ModelStreamEvent> {
      check(request);
      const { signal } = options;
      const response = await http.post({
        endpoint: streamURL,
        body: toRequestBody(request),
        stream: true,
        signal,
      });
      const assembly = createAssembly(model);
      for await (const chunk of http.readEvents({
        response,
        signal,
        schema: responseSchema,
        itemName: 'chunk',
        // Gemini sends no end marker: the connection just closes after the finish reason.
        isComplete: () => assembly.complete,
      })) {
        yield* assembly.apply(chunk);
      }
      yield { type: 'finish', response: assembly.finish(request) };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Request translation

/** Google's documented stand-in for a thought signature the client cannot send back. */
const SKIP_THOUGHT_SIGNATURE = 'skip_thought_signature_validator';
const GENERATED_ID = /^call_\d+_[0-9a-f]{12}$/;

function toRequestBody(request: ModelRequest): Record<string, unknown> {
  // The system messages before the conversation are its systemInstruction; later ones stay in
  // place (see toContents).
  const firstTurn = request.messages.findIndex((message) => message.role !== 'system');
  const leading = firstTurn === -1 ? request.messages : request.messages.slice(0, firstTurn);
  const systemParts = leading.flatMap((message) => (message.role === 'system' ? [message.content] : []));
  const tools = request.tools ?? [];
  const generationConfig: Record<string, unknown> = {};
  const format = request.responseFormat;
  if (format?.type === 'json') {
    if (tools.length > 0) systemParts.push(JSON_INSTRUCTION);
    else {
      generationConfig.responseMimeType = 'application/json';
      if (format.schema !== undefined) generationConfig.responseSchema = toGeminiSchema(format.schema);
    }
  }
  if (request.maxOutputTokens !== undefined) generationConfig.maxOutputTokens = request.maxOutputTokens;
  if (request.temperature !== undefined) generationConfig.temperature = request.temperature;
  if (request.topP !== undefined) generationConfig.topP = request.topP;
  if (request.stop !== undefined && request.stop.length > 0) generationConfig.stopSequences = request.stop;
  if (request.seed !== undefined) generationConfig.seed = request.seed;
  const { reasoning } = request;
  if (reasoning !== undefined) {
    // An effort has no counterpart here: it becomes its budget (EFFORT_BUDGET_TOKENS).
    const budget =
      reasoning.budgetTokens ??
      (reasoning.effort === undefined ? undefined : EFFORT_BUDGET_TOKENS[reasoning.effort]);
    if (budget !== undefined) generationConfig.thinkingConfig = { thinkingBudget: budget };
  }
  // cacheControl marks are not sent: Gemini caches long prompt prefixes on its own (implicit caching).

  const body: Record<string, unknown> = {
    contents: toContents(firstTurn === -1 ? [] : request.messages.slice(firstTurn)),
  };
  // One part per system message: a Messages caller's `system[]` blocks stay blocks.
  if (systemParts.length > 0) body.systemInstruction = { parts: systemParts.map((text) => ({ text })) };
  if (tools.length > 0) {
    body.tools = [
      {
        functionDeclarations: tools.map((tool) => {
          const parameters = isEmptyObjectSchema(tool.parameters)
            ? undefined
            : toGeminiSchema(tool.parameters);
          return {
            name: tool.name,
            description: tool.description,
            ...(parameters === undefined ? {} : { parameters }),
          };
        }),
      },
    ];
    const choice = request.toolChoice;
    if (choice !== undefined) {
      body.toolConfig = {
        functionCallingConfig:
          typeof choice === 'object'
            ? { mode: 'ANY', allowedFunctionNames: [choice.name] }
            : { mode: choice === 'required' ? 'ANY' : choice.toUpperCase() },
      };
    }
  }
  if (Object.keys(generationConfig).length > 0) body.generationConfig = generationConfig;
  return body;
}

type Part = Record<string, unknown>;

/**
 * User and tool messages become `user` turns, assistant messages `model` turns; consecutive
 * messages of one side merge, so the results of parallel calls arrive in one turn, in call order,
 * as Gemini expects. Gemini's turns have no system role: a system message in the middle of the
 * conversation becomes, in its place, a user text part wrapped in `<system>` tags
 * ({@link systemTextOf}), so the model reads it at the point it was given and as instructions.
 */
function toContents(messages: Message[]): { role: 'user' | 'model'; parts: Part[] }[] {
  const contents: { role: 'user' | 'model'; parts: Part[] }[] = [];
  const append = (role: 'user' | 'model', parts: Part[]) => {
    const last = contents.at(-1);
    if (last?.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  for (const message of messages) {
    switch (message.role) {
      case 'system':
        append('user', [{ text: systemTextOf(message.content) }]);
        break;
      case 'user':
        append(
          'user',
          typeof message.content === 'string'
            ? [{ text: message.content }]
            : message.content.map(toGeminiPart),
        );
        break;
      case 'assistant': {
        const parts: Part[] = message.content === '' ? [] : [{ text: message.content }];
        for (const [position, call] of (message.toolCalls ?? []).entries()) {
          parts.push({
            functionCall: { ...geminiId(call.id), name: call.name, args: toArgumentsObject(call.arguments) },
            ...(position === 0 ? { thoughtSignature: SKIP_THOUGHT_SIGNATURE } : {}),
          });
        }
        if (parts.length > 0) append('model', parts);
        break;
      }
      case 'tool': {
        const value = parseJsonOrText(contentText(message.content));
        append('user', [
          {
            functionResponse: {
              ...geminiId(message.toolCallId),
              name: message.name,
              response: message.isError === true ? { error: value } : { result: value },
            },
          },
          // A result's images and files follow its response in the same turn.
          ...mediaParts(message.content).map(toGeminiPart),
        ]);
        break;
      }
    }
  }
  return contents;
}

/** A system message given mid-conversation, as the text of a user part (Gemini has no system turn). */
function systemTextOf(content: string): string {
  return `<system>\n${content}\n</system>`;
}

/** A user content part: text, or media as `inlineData` (base64, data URLs too) or `fileData` (a URL). */
function toGeminiPart(part: ContentPart): Part {
  if (part.type === 'text') return { text: part.text };
  const inline =
    part.data !== undefined ? { data: part.data, mediaType: part.mediaType } : parseDataUrl(part.url);
  if (inline !== undefined)
    return { inlineData: { mimeType: inline.mediaType ?? part.mediaType, data: inline.data } };
  // URLs without a media type are refused before sending (GEMINI_CAPABILITIES).
  return { fileData: { mimeType: part.mediaType ?? '', fileUri: part.url } };
}

/** Ids Gemini gave are sent back; the ids Keel generated mean nothing to Gemini. */
function geminiId(id: string): { id?: string } {
  return GENERATED_ID.test(id) ? {} : { id };
}

function isEmptyObjectSchema(schema: Record<string, unknown>): boolean {
  const properties = schema.properties;
  return (
    (schema.type === undefined || schema.type === 'object') &&
    (!isPlainObject(properties) || Object.keys(properties).length === 0) &&
    schema.$ref === undefined &&
    schema.anyOf === undefined &&
    schema.oneOf === undefined &&
    schema.allOf === undefined
  );
}

const COPIED_KEYWORDS = [
  'title',
  'description',
  'nullable',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'minProperties',
  'maxProperties',
  'pattern',
  'default',
  'example',
  'propertyOrdering',
] as const;
const FORMATS: Record<string, readonly string[]> = {
  string: ['enum', 'date-time'],
  number: ['float', 'double'],
  integer: ['int32', 'int64'],
};
/** Deeper than this, a `$ref` is not inlined any more (recursive schemas) and becomes a plain object. */
const MAX_REF_DEPTH = 6;

/** Reduces a JSON Schema to the OpenAPI subset Gemini accepts (see {@link createGeminiModel}). */
function toGeminiSchema(
  schema: unknown,
  definitions: Record<string, unknown> = collectDefinitions(schema),
  depth = 0,
): Record<string, unknown> {
  if (!isPlainObject(schema)) return {};
  let source = schema;
  if (typeof source.$ref === 'string') {
    const target = lookupDefinition(source.$ref, definitions);
    if (!isPlainObject(target) || depth >= MAX_REF_DEPTH) return { type: 'object' };
    const { $ref: _reference, ...rest } = source;
    return toGeminiSchema({ ...target, ...rest }, definitions, depth + 1);
  }
  if (Array.isArray(source.allOf)) {
    const { allOf, ...rest } = source;
    source = mergeAll([rest, ...allOf.map((part) => resolveReference(part, definitions))]);
  }
  const result: Record<string, unknown> = {};
  for (const keyword of COPIED_KEYWORDS) if (source[keyword] !== undefined) result[keyword] = source[keyword];

  const types = (Array.isArray(source.type) ? source.type : [source.type]).filter(
    (type): type is string => typeof type === 'string',
  );
  const concrete = types.filter((type) => type !== 'null');
  if (types.includes('null') && concrete.length > 0) result.nullable = true;
  if (concrete.length === 1) result.type = concrete[0];
  else if (concrete.length > 1) result.anyOf = concrete.map((type) => ({ type }));
  else if (types.includes('null')) result.type = 'null';

  const type = typeof result.type === 'string' ? result.type : undefined;
  if (typeof source.format === 'string' && type !== undefined && FORMATS[type]?.includes(source.format)) {
    result.format = source.format;
  }
  const enumValues = source.const !== undefined ? [source.const] : source.enum;
  // Gemini's enums are string-only.
  if (
    Array.isArray(enumValues) &&
    enumValues.length > 0 &&
    enumValues.every((value) => typeof value === 'string')
  ) {
    result.enum = enumValues;
    result.type ??= 'string';
  }
  if (isPlainObject(source.properties)) {
    const properties: Record<string, unknown> = {};
    for (const [name, property] of Object.entries(source.properties)) {
      properties[name] = toGeminiSchema(property, definitions, depth);
    }
    if (Object.keys(properties).length > 0) result.properties = properties;
    if (Array.isArray(source.required)) {
      const required = source.required.filter(
        (name): name is string => typeof name === 'string' && name in properties,
      );
      if (required.length > 0) result.required = required;
    }
  }
  const items = Array.isArray(source.items) ? source.items[0] : source.items;
  if (isPlainObject(items)) result.items = toGeminiSchema(items, definitions, depth);
  const alternatives = [
    ...(Array.isArray(source.anyOf) ? source.anyOf : []),
    ...(Array.isArray(source.oneOf) ? source.oneOf : []),
  ];
  if (alternatives.length > 0) {
    const nonNull = alternatives.filter((option) => !(isPlainObject(option) && option.type === 'null'));
    if (nonNull.length < alternatives.length) result.nullable = true;
    const converted = nonNull.map((option) => toGeminiSchema(option, definitions, depth));
    if (converted.length === 1)
      Object.assign(result, converted[0], result.nullable ? { nullable: true } : {});
    else if (converted.length > 1) result.anyOf = converted;
  }
  return result;
}

function collectDefinitions(schema: unknown): Record<string, unknown> {
  if (!isPlainObject(schema)) return {};
  return {
    ...(isPlainObject(schema.definitions) ? schema.definitions : {}),
    ...(isPlainObject(schema.$defs) ? schema.$defs : {}),
  };
}

function resolveReference(part: unknown, definitions: Record<string, unknown>): Record<string, unknown> {
  if (!isPlainObject(part)) return {};
  const target = typeof part.$ref === 'string' ? lookupDefinition(part.$ref, definitions) : undefined;
  return isPlainObject(target) ? target : part;
}

/** The definition a local `$ref` (`#/$defs/Name` or `#/definitions/Name`) points to, if any. */
function lookupDefinition(ref: string, definitions: Record<string, unknown>): unknown {
  const name = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(ref)?.[1];
  return name === undefined ? undefined : definitions[decodeURIComponent(name)];
}

/** Merges `allOf` parts: properties and required lists are combined, other keywords the last wins. */
function mergeAll(parts: Record<string, unknown>[]): Record<string, unknown> {
  const merged: Record<string, unknown> = {};
  const properties: Record<string, unknown> = {};
  const required: unknown[] = [];
  for (const part of parts) {
    Object.assign(merged, part);
    if (isPlainObject(part.properties)) Object.assign(properties, part.properties);
    if (Array.isArray(part.required)) required.push(...part.required);
  }
  if (Object.keys(properties).length > 0) merged.properties = properties;
  if (required.length > 0) merged.required = [...new Set(required)];
  return merged;
}

// ---------------------------------------------------------------------------------------------
// Response translation (schemas are lenient: unknown fields are ignored, most fields optional)

type GenerateContentResponse = GenerateContentResponseRead;

const FILTER_REASONS = new Set([
  'SAFETY',
  'RECITATION',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
]);

function toFinishReason(raw: string | undefined, hasToolCalls: boolean): FinishReason {
  if (raw === 'STOP') return hasToolCalls ? 'tool_calls' : 'stop';
  if (raw === 'MAX_TOKENS') return 'length';
  if (raw !== undefined && FILTER_REASONS.has(raw)) return 'content_filter';
  if (raw === 'MALFORMED_FUNCTION_CALL' || raw === 'UNEXPECTED_TOOL_CALL') return 'error';
  return 'other';
}

function toReportedUsage(usage: z.infer<typeof usageSchema>): ReportedUsage | undefined {
  if (usage === null || usage === undefined) return undefined;
  const candidates = usage.candidatesTokenCount ?? undefined;
  const thoughts = usage.thoughtsTokenCount ?? undefined;
  return {
    inputTokens: usage.promptTokenCount,
    // An answer of thoughts only may come without candidatesTokenCount.
    outputTokens:
      candidates === undefined && thoughts === undefined ? undefined : sumReported(candidates ?? 0, thoughts),
    cachedInputTokens: usage.cachedContentTokenCount,
    reasoningTokens: usage.thoughtsTokenCount,
  };
}

/**
 * Assembles an answer from its chunks (a whole answer is one chunk). Text arrives in pieces;
 * function calls arrive whole, each becoming one `tool-call-delta` with its id, name and all its
 * arguments. Thought parts are skipped. The answer is complete once a finish reason (or a blocked
 * prompt) arrived; the usage of the last chunk holds the final counts.
 */
function createAssembly(model: string) {
  let text = '';
  let modelId = model;
  let usage: ReportedUsage | undefined;
  let finishReason: string | undefined;
  let blocked = false;
  const toolCalls: ToolCall[] = [];

  const state = {
    complete: false,

    *apply(chunk: GenerateContentResponse): Generator<ModelStreamEvent> {
      if (chunk.modelVersion) modelId = chunk.modelVersion;
      if (chunk.usageMetadata) usage = toReportedUsage(chunk.usageMetadata);
      if (chunk.promptFeedback?.blockReason && (chunk.candidates ?? []).length === 0) {
        blocked = true;
        state.complete = true;
        return;
      }
      const candidate = chunk.candidates?.find((entry) => (entry.index ?? 0) === 0);
      if (candidate === undefined) return;
      for (const part of candidate.content?.parts ?? []) {
        if (part.functionCall) {
          const index = toolCalls.length;
          const argumentsText = JSON.stringify(part.functionCall.args ?? {});
          const id =
            part.functionCall.id ||
            generatedId({
              responseId: chunk.responseId ?? '',
              index,
              name: part.functionCall.name,
              argumentsText,
            });
          toolCalls.push({ id, name: part.functionCall.name, arguments: argumentsText });
          yield {
            type: 'tool-call-delta',
            index,
            id,
            name: part.functionCall.name,
            argumentsDelta: argumentsText,
          };
        } else if (part.text && part.thought !== true) {
          text += part.text;
          yield { type: 'text-delta', text: part.text };
        }
      }
      if (candidate.finishReason) {
        finishReason = candidate.finishReason;
        state.complete = true;
      }
    },

    finish(request: ModelRequest): ModelResponse {
      const message = toAssistantMessage(text, [...toolCalls]);
      return {
        message,
        finishReason: blocked ? 'content_filter' : toFinishReason(finishReason, toolCalls.length > 0),
        usage: trustedUsage({ reported: usage, request, message, model }),
        modelId,
      };
    },
  };
  return state;
}

function generatedId({
  responseId,
  index,
  name,
  argumentsText,
}: {
  responseId: string;
  index: number;
  name: string;
  argumentsText: string;
}): string {
  const hash = createHash('sha256').update(`${responseId}\u0000${index}\u0000${name}\u0000${argumentsText}`);
  return `call_${index}_${hash.digest('hex').slice(0, 12)}`;
}

// ---------------------------------------------------------------------------------------------
// Errors

type GoogleError = GoogleErrorRead;

/** A Google error body: the answer to a failed request, or an error sent mid-stream. */
function readErrorBody(value: unknown): ProviderErrorBody | undefined {
  const parsed = errorBodySchema.safeParse(value);
  if (!parsed.success) return undefined;
  const error = Array.isArray(parsed.data) ? parsed.data[0]?.error : parsed.data.error;
  if (error === undefined) return undefined;
  // The code is an HTTP status.
  return {
    message: describeError(error),
    status: error.code ?? undefined,
    retryAfterMs: retryDelayOf(error),
  };
}

function describeError(error: GoogleError): string {
  return `${error.message ?? 'unknown error'}${error.status ? ` (${error.status})` : ''}`;
}

/** The `google.rpc.RetryInfo` detail, a protobuf duration such as `34.5s`. */
function retryDelayOf(error: GoogleError): number | undefined {
  const detail = error.details?.find((entry) => entry['@type']?.endsWith('google.rpc.RetryInfo'));
  const match = /^(\d+(?:\.\d+)?)s$/.exec(detail?.retryDelay ?? '');
  if (match?.[1] === undefined) return undefined;
  return Math.min(Math.round(Number.parseFloat(match[1]) * 1000), MAX_RETRY_AFTER_MS);
}
