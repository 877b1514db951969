/**
 * The Anthropic adapter: Claude through the native Messages API (`POST {baseURL}/v1/messages`),
 * streaming or not. It translates Keel's provider-neutral request to Anthropic's shape (a top-level
 * `system`, tool results as `tool_result` blocks of a user turn, tool calls as `tool_use` blocks)
 * and the answer back. Like every adapter it never retries: the gateway owns retries and reads
 * `ProviderError.status`, `retryable` and `retryAfterMs` to decide.
 */
import type { z } from 'zod';
import { systemClock, type Clock } from '../../../util/clock.js';
import {
  toAssistantMessage,
  type FinishReason,
  type LanguageModel,
  type CacheControl,
  type ContentPart,
  type Message,
  type ReasoningOptions,
  type ModelCallOptions,
  type ModelRequest,
  type ModelResponse,
  type ModelStreamEvent,
  type ReasoningBlock,
  type SystemMessage,
  type ToolCall,
} from '../../model.js';
import { isPlainObject, JSON_INSTRUCTION, toArgumentsObject } from '../../json.js';
import { parseDataUrl } from '../../content-parts.js';
import { assertSupported, EFFORT_BUDGET_TOKENS, findUnsupportedField } from '../../provider-capabilities.js';
import { ANTHROPIC_CAPABILITIES } from './capabilities.js';
import {
  COUNT_TOKENS_FIELDS,
  countTokensResponseSchema,
  errorBodySchema,
  isPlainStreamEvent,
  messageResponseSchema,
  streamEventSchema,
  type StreamEventRead,
  type usageSchema,
} from './wire.js';
import { readEnv, resolveEndpoints } from '../../provider-config.js';
import { sumReported, trustedUsage, type ReportedUsage } from '../../trusted-usage.js';
import { createProviderHttp, SK_KEY_PATTERN, type ProviderErrorBody } from '../../provider-http.js';

/** The official API, used when neither `baseURL` nor `ANTHROPIC_BASE_URL` is set. */
export const DEFAULT_ANTHROPIC_BASE_URL = 'https://api.anthropic.com';

/** Options of {@link createAnthropicModel}. */
export interface AnthropicModelOptions {
  /** Model id sent to the API and used for pricing, e.g. `claude-sonnet-4-5`. */
  model: string;
  /** Sent as `x-api-key`. Default: `ANTHROPIC_API_KEY`. */
  apiKey?: string;
  /** Base URL without the version, e.g. `https://api.anthropic.com`. Default: `ANTHROPIC_BASE_URL`, else the official API. */
  baseURL?: string;
  /** Extra headers on every request (e.g. `anthropic-beta`); they win over the adapter's own. */
  headers?: Record<string, string>;
  fetch?: typeof globalThis.fetch;
  /** Where the `ANTHROPIC_*` defaults are read. Default: `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The `anthropic-version` header. Default `2023-06-01`. */
  anthropicVersion?: string;
  /** `max_tokens` when the request sets no `maxOutputTokens` (the API requires one). Default 4096. */
  maxTokensDefault?: number;
  /** Provider id reported by the model and used for pricing. Default `anthropic`. */
  provider?: string;
  /** Turns a `retry-after` HTTP date into a delay. */
  clock?: Clock;
}

/**
 * Creates a LanguageModel for Claude. Defaults follow the official SDK: `ANTHROPIC_API_KEY`,
 * `ANTHROPIC_BASE_URL`. Throws ModelConfigError when the official API would be called without a key.
 *
 * Choices worth knowing:
 * - All system messages become the top-level `system` text, joined by blank lines, wherever they
 *   stood: the API has no system turn.
 * - A JSON response format is asked for in the system prompt; with a schema, the schema also
 *   becomes a tool (named after the format, default `json_response`) that the model is made to
 *   call, and that call's input is returned as the message text (`finishReason` `stop`). With
 *   tools of the caller's own, that tool is offered beside them instead of forced.
 * - Usage: Anthropic's `input_tokens` excludes prompt-cache reads and writes. Keel's `inputTokens`
 *   is the whole prompt (`input_tokens + cache_read_input_tokens + cache_creation_input_tokens`),
 *   and `cachedInputTokens` the cache reads, so that prices apply as for every other provider
 *   (cache writes are priced at the input rate: the table does not model their surcharge).
 * - `seed` is not supported by the API and is dropped.
 *
 * Errors of a call: a non-2xx answer is a ProviderError with its status (529 when overloaded),
 * the provider's message and `retryAfterMs`; an `event: error` mid-stream is a ProviderError with
 * code `provider_stream_error`, retryable as its error type is (overloaded, api and rate-limit
 * errors are); a network failure is a ProviderError without status; an unreadable answer (bad JSON,
 * a stream that ends without `message_stop`) is a ModelOutputError; an abort rejects with the
 * signal's reason.
 */
export function createAnthropicModel({
  model,
  env = process.env,
  apiKey = readEnv(env, 'ANTHROPIC_API_KEY'),
  baseURL = readEnv(env, 'ANTHROPIC_BASE_URL') ?? DEFAULT_ANTHROPIC_BASE_URL,
  headers = {},
  fetch: fetchFunction = globalThis.fetch,
  anthropicVersion = '2023-06-01',
  maxTokensDefault = 4096,
  provider = 'anthropic',
  clock = systemClock,
}: AnthropicModelOptions): LanguageModel {
  const { messages: endpoint, countTokens: countTokensEndpoint } = resolveEndpoints({
    provider,
    model,
    baseURL,
    paths: { messages: 'v1/messages', countTokens: 'v1/messages/count_tokens' },
    apiKey,
    officialBaseURL: DEFAULT_ANTHROPIC_BASE_URL,
    service: 'Anthropic',
    keyVariables: ['ANTHROPIC_API_KEY'],
  });
  const http = createProviderHttp({
    provider,
    model,
    fetch: fetchFunction,
    providerHeaders: {
      'anthropic-version': anthropicVersion,
      ...(apiKey === undefined ? {} : { 'x-api-key': apiKey }),
    },
    headers,
    apiKey,
    // `sk-ant-...` keys the provider may echo back.
    echoedKeys: [SK_KEY_PATTERN],
    clock,
    readErrorBody,
    requestIdHeader: 'request-id',
    // Unknown error types count as server errors: retryable, like a network failure mid-stream.
    defaultErrorStatus: 500,
  });

  const check = (request: ModelRequest) =>
    assertSupported({ request, capabilities: ANTHROPIC_CAPABILITIES, provider, model });

  return {
    provider,
    modelId: model,
    unsupportedField: (request) => findUnsupportedField(request, ANTHROPIC_CAPABILITIES),

    async countTokens(request: ModelRequest, options: ModelCallOptions = {}): Promise<number> {
      check(request);
      const { signal } = options;
      const { body: message } = toRequestBody({ model, request, stream: false, maxTokensDefault });
      // The same body as a message, less what count_tokens refuses (max_tokens, temperature, ...).
      const body = Object.fromEntries(
        Object.entries(message).filter(([key]) => COUNT_TOKENS_FIELDS.has(key)),
      );
      const response = await http.post({
        endpoint: countTokensEndpoint,
        body,
        stream: false,
        signal,
        headers: betaHeaders(request, headers),
      });
      const counted = await http.readJson({
        response,
        signal,
        schema: countTokensResponseSchema,
        expected: 'a token count',
      });
      return counted.input_tokens;
    },

    async generate(request: ModelRequest, options: ModelCallOptions = {}): Promise<ModelResponse> {
      check(request);
      const { signal } = options;
      const wire = toRequestBody({ model, request, stream: false, maxTokensDefault });
      const response = await http.post({
        endpoint,
        body: wire.body,
        stream: false,
        signal,
        headers: betaHeaders(request, headers),
      });
      const message = await http.readJson({
        response,
        signal,
        schema: messageResponseSchema,
        expected: 'a message',
      });
      let content = '';
      let answeredInJson = false;
      const toolCalls: ToolCall[] = [];
      const reasoning: ReasoningBlock[] = [];
      for (const block of message.content) {
        if (block.type === 'text') content += block.text ?? '';
        else if (block.type === 'thinking')
          reasoning.push({ type: 'thinking', text: block.thinking ?? '', signature: block.signature ?? '' });
        else if (block.type === 'redacted_thinking')
          reasoning.push({ type: 'redacted_thinking', data: block.data ?? '' });
        else if (block.type === 'tool_use' && block.name === wire.jsonToolName) {
          answeredInJson = true;
          content += JSON.stringify(block.input ?? {});
        } else if (block.type === 'tool_use' && block.name) {
          toolCalls.push({
            id: block.id ?? `toolu_${toolCalls.length}`,
            name: block.name,
            arguments: JSON.stringify(block.input ?? {}),
          });
        }
        // Server-tool blocks carry nothing Keel's message holds.
      }
      const answer = toAssistantMessage(content, toolCalls, reasoning);
      return {
        message: answer,
        finishReason: toFinishReason(message.stop_reason, answeredInJson && toolCalls.length === 0),
        usage: trustedUsage({ reported: toReportedUsage(message.usage), request, message: answer, model }),
        modelId: message.model ?? model,
      };
    },

    async *stream(request: ModelRequest, options: ModelCallOptions = {}): AsyncGenerator<ModelStreamEvent> {
      check(request);
      const { signal } = options;
      const wire = toRequestBody({ model, request, stream: true, maxTokensDefault });
      const response = await http.post({
        endpoint,
        body: wire.body,
        stream: true,
        signal,
        headers: betaHeaders(request, headers),
      });
      const assembly = createStreamAssembly({ model, jsonToolName: wire.jsonToolName });
      for await (const event of http.readEvents({
        response,
        signal,
        schema: streamEventSchema,
        itemName: 'event',
        isComplete: () => assembly.stopped,
        isIgnored: (serverEvent) => serverEvent.event === 'ping',
        // New event types may appear at any time (Anthropic says so): skip what is not known.
        isKnown: isKnownEvent,
        isPlain: isPlainStreamEvent,
      })) {
        yield* assembly.apply(event);
      }
      yield { type: 'finish', response: assembly.finish(request) };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Request translation

/**
 * The request's `anthropic-beta` flags joined with the adapter's own (its `headers` option), each
 * once; nothing when the request has none, so the adapter's header stands alone.
 */
function betaHeaders(request: ModelRequest, own: Record<string, string>): Record<string, string> | undefined {
  const betas = request.anthropic?.betas ?? [];
  if (betas.length === 0) return undefined;
  const configured = Object.entries(own).find(([name]) => name.toLowerCase() === 'anthropic-beta')?.[1];
  const flags = new Set([...(configured ?? '').split(','), ...betas].map((flag) => flag.trim()));
  flags.delete('');
  return { 'anthropic-beta': [...flags].join(',') };
}

/** Whether system messages may stand in the middle of `messages` (Anthropic's beta for it). */
function midConversationSystem(request: ModelRequest): boolean {
  return (request.anthropic?.betas ?? []).some((flag) => flag.startsWith('mid-conversation-system'));
}

interface WireRequest {
  body: Record<string, unknown>;
  /** The tool that carries a JSON answer, when the response format has a schema. */
  jsonToolName: string | undefined;
}

function toRequestBody({
  model,
  request,
  stream,
  maxTokensDefault,
}: {
  model: string;
  request: ModelRequest;
  stream: boolean;
  maxTokensDefault: number;
}): WireRequest {
  // The system messages before the conversation form `system`; later ones stay in place when the
  // beta that allows it is on, and otherwise join `system` (the API has no system turn without it).
  const inPlace = midConversationSystem(request);
  const firstTurn = request.messages.findIndex((message) => message.role !== 'system');
  const systemMessages = request.messages.filter(
    (message, index): message is SystemMessage =>
      message.role === 'system' && (!inPlace || firstTurn === -1 || index < firstTurn),
  );
  const systemParts = systemMessages.map((message) => message.content);
  const tools: WireBlock[] = (request.tools ?? []).map((tool) => ({
    name: tool.name,
    description: tool.description,
    input_schema: tool.parameters,
    ...cacheControlOf(tool.cacheControl),
  }));
  let toolChoice = tools.length === 0 ? undefined : toWireToolChoice(request.toolChoice);
  let jsonToolName: string | undefined;
  const format = request.responseFormat;
  if (format?.type === 'json') {
    if (format.schema === undefined) systemParts.push(JSON_INSTRUCTION);
    else {
      jsonToolName = toToolName(format.name ?? 'json_response');
      systemParts.push(`${JSON_INSTRUCTION} Give your final answer by calling the ${jsonToolName} tool.`);
      // Forced only when it is the sole tool: forcing it would forbid the caller's own tools.
      if (tools.length === 0) toolChoice = { type: 'tool', name: jsonToolName };
      tools.push({
        name: jsonToolName,
        description: 'Returns the final answer as JSON matching the schema.',
        input_schema: format.schema,
      });
    }
  }
  let maxTokens = request.maxOutputTokens ?? maxTokensDefault;
  const body: Record<string, unknown> = {
    model,
    messages: toWireMessages(
      inPlace ? request.messages.slice(firstTurn === -1 ? 0 : firstTurn) : request.messages,
      inPlace,
    ),
  };
  const own = request.anthropic?.fields ?? {};
  // The caller's own thinking or effort settings win: no budget derived from an effort then.
  const budget =
    own.thinking !== undefined
      ? undefined
      : own.output_config !== undefined
        ? request.reasoning?.budgetTokens
        : thinkingBudgetOf(request.reasoning);
  if (budget !== undefined) {
    // max_tokens counts thinking too and must exceed the budget: the answer keeps its own room.
    if (budget >= maxTokens) maxTokens += budget;
    body.thinking = { type: 'enabled', budget_tokens: budget };
  }
  body.max_tokens = maxTokens;
  if (systemParts.length > 1 || systemMessages.some((message) => message.cacheControl !== undefined)) {
    // Block form: one block per system message (a Messages caller's `system[]` as it came), each
    // cache mark where it was put.
    body.system = systemParts.map((text, index) => ({
      type: 'text',
      text,
      ...cacheControlOf(systemMessages[index]?.cacheControl),
    }));
  } else if (systemParts.length > 0) body.system = systemParts[0];
  if (tools.length > 0) body.tools = tools;
  if (tools.length > 0 && request.parallelToolCalls !== undefined)
    toolChoice = {
      ...(toolChoice ?? { type: 'auto' }),
      disable_parallel_tool_use: !request.parallelToolCalls,
    };
  if (toolChoice !== undefined) body.tool_choice = toolChoice;
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.topP !== undefined) body.top_p = request.topP;
  if (request.stop !== undefined && request.stop.length > 0) body.stop_sequences = request.stop;
  for (const [name, value] of Object.entries(own)) body[name] = value;
  if (stream) body.stream = true;
  return { body, jsonToolName };
}

function toWireToolChoice(choice: ModelRequest['toolChoice']): Record<string, unknown> | undefined {
  if (choice === undefined) return undefined;
  if (typeof choice === 'object') return { type: 'tool', name: choice.name };
  return { type: choice === 'required' ? 'any' : choice };
}

type WireBlock = Record<string, unknown>;
interface WireMessage {
  role: 'user' | 'assistant' | 'system';
  content: string | WireBlock[];
}

/**
 * User and tool messages become user turns, assistant messages assistant turns; consecutive
 * messages of one side merge into one turn, so parallel tool results arrive as one user message
 * with a `tool_result` block each (which the API requires).
 */
function toWireMessages(messages: Message[], systemInPlace = false): WireMessage[] {
  const turns: { role: 'user' | 'assistant' | 'system'; blocks: WireBlock[] }[] = [];
  const append = (role: 'user' | 'assistant' | 'system', blocks: WireBlock[]) => {
    const last = turns.at(-1);
    if (last?.role === role) last.blocks.push(...blocks);
    else turns.push({ role, blocks });
  };
  for (const message of messages) {
    switch (message.role) {
      case 'system':
        if (systemInPlace)
          append('system', [
            { type: 'text', text: message.content, ...cacheControlOf(message.cacheControl) },
          ]);
        break;
      case 'user':
        append(
          'user',
          typeof message.content === 'string'
            ? [{ type: 'text', text: message.content }]
            : message.content.map(toWireBlock),
        );
        break;
      case 'assistant': {
        // Reasoning first, as it came: the API checks the signatures and the order.
        // OpenAI's reasoning items are readable by OpenAI alone: dropped (docs/gateway.md).
        const blocks: WireBlock[] = (message.reasoning ?? []).flatMap((block): WireBlock[] => {
          if (block.type === 'thinking')
            return [{ type: 'thinking', thinking: block.text, signature: block.signature }];
          return block.type === 'redacted_thinking' ? [{ type: 'redacted_thinking', data: block.data }] : [];
        });
        // The API rejects empty text blocks; an assistant turn of tool calls only has none.
        if (message.content !== '') blocks.push({ type: 'text', text: message.content });
        for (const call of message.toolCalls ?? []) {
          blocks.push({
            type: 'tool_use',
            id: call.id,
            name: call.name,
            input: toArgumentsObject(call.arguments),
          });
        }
        const last = blocks.at(-1);
        if (last !== undefined && message.cacheControl !== undefined)
          Object.assign(last, cacheControlOf(message.cacheControl));
        if (blocks.length > 0) append('assistant', blocks);
        break;
      }
      case 'tool':
        append('user', [
          {
            type: 'tool_result',
            tool_use_id: message.toolCallId,
            content: typeof message.content === 'string' ? message.content : message.content.map(toWireBlock),
            ...(message.isError === true ? { is_error: true } : {}),
            ...cacheControlOf(message.cacheControl),
          },
        ]);
        break;
    }
  }
  // A turn of a single text block is sent as a plain string, as most callers write it.
  return turns.map(({ role, blocks }) => {
    const [only] = blocks;
    return blocks.length === 1 &&
      only?.type === 'text' &&
      typeof only.text === 'string' &&
      !('cache_control' in only)
      ? { role, content: only.text }
      : { role, content: blocks };
  });
}

/** `cache_control` as a block member, or nothing. */
function cacheControlOf(mark: CacheControl | undefined): { cache_control?: Record<string, unknown> } {
  if (mark === undefined) return {};
  return { cache_control: { type: mark.type, ...(mark.ttl === undefined ? {} : { ttl: mark.ttl }) } };
}

/** The thinking budget: given, or the effort's (EFFORT_BUDGET_TOKENS); undefined for no thinking. */
function thinkingBudgetOf(reasoning: ReasoningOptions | undefined): number | undefined {
  if (reasoning?.budgetTokens !== undefined) return reasoning.budgetTokens;
  if (reasoning?.effort !== undefined) return EFFORT_BUDGET_TOKENS[reasoning.effort];
  return undefined;
}

/** A user content part as a block: `text`, `image` or `document` (base64, URL or plain text). */
function toWireBlock(part: ContentPart): WireBlock {
  const cache = cacheControlOf(part.cacheControl);
  if (part.type === 'text') return { type: 'text', text: part.text, ...cache };
  const inline =
    part.data !== undefined ? { data: part.data, mediaType: part.mediaType } : parseDataUrl(part.url);
  if (part.type === 'image') {
    const source =
      inline === undefined
        ? { type: 'url', url: part.url }
        : { type: 'base64', media_type: inline.mediaType ?? part.mediaType, data: inline.data };
    return { type: 'image', source, ...cache };
  }
  let source: Record<string, unknown>;
  if (inline === undefined) source = { type: 'url', url: part.url };
  else if (part.mediaType === 'text/plain')
    source = {
      type: 'text',
      media_type: 'text/plain',
      data: Buffer.from(inline.data, 'base64').toString('utf8'),
    };
  else source = { type: 'base64', media_type: part.mediaType, data: inline.data };
  return {
    type: 'document',
    source,
    ...(part.filename === undefined ? {} : { title: part.filename }),
    ...cache,
  };
}

/** Tool names must match `^[a-zA-Z0-9_-]{1,64}$`. */
function toToolName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64) || 'json_response';
}

// ---------------------------------------------------------------------------------------------
// Response translation (schemas are lenient: unknown fields are ignored, most fields optional)

type StreamEvent = StreamEventRead;

const KNOWN_EVENT_TYPES = new Set<string>(streamEventSchema.options.map((option) => option.shape.type.value));

function isKnownEvent(value: unknown): boolean {
  return isPlainObject(value) && typeof value.type === 'string' && KNOWN_EVENT_TYPES.has(value.type);
}
type WireUsage = z.infer<typeof usageSchema>;

/** A JSON answer given through the schema tool is a plain stop, not a tool call. */
function toFinishReason(raw: string | null | undefined, answeredInJson: boolean): FinishReason {
  switch (raw) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return answeredInJson ? 'stop' : 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'other';
  }
}

function toReportedUsage(usage: WireUsage): ReportedUsage | undefined {
  if (usage === null || usage === undefined) return undefined;
  return {
    inputTokens: sumReported(
      usage.input_tokens,
      usage.cache_read_input_tokens,
      usage.cache_creation_input_tokens,
    ),
    outputTokens: usage.output_tokens,
    cachedInputTokens: usage.cache_read_input_tokens,
  };
}

/**
 * Assembles a streamed answer. Content blocks are keyed by their `index`; a `tool_use` block
 * becomes tool call number n (in the order the blocks start), whose first delta carries its id
 * and name and the next ones fragments of its input JSON. Usage starts in `message_start` and is
 * completed by `message_delta`; the answer is complete only once `message_stop` arrived.
 */
function createStreamAssembly({ model, jsonToolName }: { model: string; jsonToolName: string | undefined }) {
  let text = '';
  let modelId = model;
  let usage: NonNullable<WireUsage> = {};
  let stopReason: string | null | undefined;
  let answeredInJson = false;
  const calls: { id: string; name: string; arguments: string }[] = [];
  const reasoning: ReasoningBlock[] = [];
  const blocks = new Map<
    number,
    | { kind: 'text' | 'json' | 'other' }
    | { kind: 'tool'; call: number }
    | { kind: 'reasoning'; block: number }
  >();

  const state = {
    stopped: false,

    *apply(event: StreamEvent): Generator<ModelStreamEvent> {
      switch (event.type) {
        case 'message_start':
          if (event.message.model) modelId = event.message.model;
          usage = { ...usage, ...definedFields(event.message.usage) };
          return;
        case 'content_block_start': {
          const block = event.content_block;
          if (block.type === 'text') {
            blocks.set(event.index, { kind: 'text' });
            if (block.text) {
              text += block.text;
              yield { type: 'text-delta', text: block.text };
            }
          } else if (block.type === 'tool_use' && block.name === jsonToolName) {
            answeredInJson = true;
            blocks.set(event.index, { kind: 'json' });
          } else if (block.type === 'tool_use' && block.name) {
            const id = block.id ?? `toolu_${calls.length}`;
            calls.push({ id, name: block.name, arguments: '' });
            blocks.set(event.index, { kind: 'tool', call: calls.length - 1 });
            yield {
              type: 'tool-call-delta',
              index: calls.length - 1,
              id,
              name: block.name,
              argumentsDelta: '',
            };
          } else if (block.type === 'thinking') {
            const text = block.thinking ?? '';
            const signature = block.signature ?? '';
            reasoning.push({ type: 'thinking', text, signature });
            blocks.set(event.index, { kind: 'reasoning', block: reasoning.length - 1 });
            yield {
              type: 'reasoning-delta',
              index: reasoning.length - 1,
              kind: 'thinking',
              ...(text === '' ? {} : { text }),
              ...(signature === '' ? {} : { signature }),
            };
          } else if (block.type === 'redacted_thinking') {
            const data = block.data ?? '';
            reasoning.push({ type: 'redacted_thinking', data });
            blocks.set(event.index, { kind: 'reasoning', block: reasoning.length - 1 });
            yield { type: 'reasoning-delta', index: reasoning.length - 1, kind: 'redacted_thinking', data };
          } else blocks.set(event.index, { kind: 'other' });
          return;
        }
        case 'content_block_delta': {
          const block = blocks.get(event.index);
          const { delta } = event;
          if (block?.kind === 'text' && delta.type === 'text_delta' && delta.text) {
            text += delta.text;
            yield { type: 'text-delta', text: delta.text };
          } else if (block?.kind === 'json' && delta.type === 'input_json_delta' && delta.partial_json) {
            // The JSON answer streams as text, so the deltas add up to the final message content.
            text += delta.partial_json;
            yield { type: 'text-delta', text: delta.partial_json };
          } else if (block?.kind === 'tool' && delta.type === 'input_json_delta' && delta.partial_json) {
            const call = calls[block.call];
            if (call !== undefined) call.arguments += delta.partial_json;
            yield { type: 'tool-call-delta', index: block.call, argumentsDelta: delta.partial_json };
          } else if (block?.kind === 'reasoning') {
            const thinking = reasoning[block.block];
            if (thinking?.type !== 'thinking') return;
            if (delta.type === 'thinking_delta' && delta.thinking) {
              thinking.text += delta.thinking;
              yield { type: 'reasoning-delta', index: block.block, text: delta.thinking };
            } else if (delta.type === 'signature_delta' && delta.signature) {
              thinking.signature += delta.signature;
              yield { type: 'reasoning-delta', index: block.block, signature: delta.signature };
            }
          }
          return;
        }
        case 'content_block_stop': {
          const block = blocks.get(event.index);
          // A tool without input streams no fragment; its arguments are `{}` as in a plain answer.
          if (block?.kind === 'tool' && calls[block.call]?.arguments === '') {
            const call = calls[block.call];
            if (call !== undefined) call.arguments = '{}';
            yield { type: 'tool-call-delta', index: block.call, argumentsDelta: '{}' };
          }
          return;
        }
        case 'message_delta':
          if (event.delta?.stop_reason) stopReason = event.delta.stop_reason;
          // Later counts are cumulative: they replace the ones of message_start.
          usage = { ...usage, ...definedFields(event.usage) };
          return;
        case 'message_stop':
          state.stopped = true;
          return;
        case 'ping':
          return;
      }
    },

    finish(request: ModelRequest): ModelResponse {
      const toolCalls: ToolCall[] = calls.map((call) => ({ ...call }));
      const message = toAssistantMessage(
        text,
        toolCalls,
        reasoning.map((block) => ({ ...block })),
      );
      return {
        message,
        finishReason: toFinishReason(stopReason, answeredInJson && toolCalls.length === 0),
        usage: trustedUsage({
          reported: toReportedUsage(usage),
          request,
          message,
          model,
        }),
        modelId,
      };
    },
  };
  return state;
}

function definedFields(usage: WireUsage): NonNullable<WireUsage> {
  if (usage === null || usage === undefined) return {};
  return Object.fromEntries(
    Object.entries(usage).filter(([, value]) => value !== undefined && value !== null),
  );
}

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * The HTTP status Anthropic uses for each error type. An `event: error` arrives inside a 200
 * stream; its type's status decides whether retrying may help.
 */
const STATUS_BY_ERROR_TYPE: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

/** An Anthropic error body: the answer to a failed request, or an error sent mid-stream. */
function readErrorBody(value: unknown): ProviderErrorBody | undefined {
  const parsed = errorBodySchema.safeParse(value);
  if (!parsed.success) return undefined;
  const { error, request_id: requestId } = parsed.data;
  return {
    message: describeError(error),
    status: error.type ? STATUS_BY_ERROR_TYPE[error.type] : undefined,
    requestId: requestId ?? undefined,
  };
}

function describeError(error: { type?: string | null; message?: string | null }): string {
  return `${error.message ?? 'unknown error'}${error.type ? ` (${error.type})` : ''}`;
}
