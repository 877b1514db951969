/**
 * Anthropic's Messages wire format at the gateway's edge (`POST /v1/messages`, plain and
 * streamed) and its error bodies. Any route can be called this way: the request is translated
 * into the gateway's provider-neutral request, whichever provider serves the route.
 */
import type {
  CacheControl,
  ContentPart,
  FilePart,
  ImagePart,
  Message,
  ModelResponse,
  ReasoningBlock,
  ReasoningEffort,
  ToolChoice,
  Usage,
} from '../../model/model.js';
import {
  countTokensRequestSchema,
  messagesRequestSchema,
  type AnthropicCacheControl,
  type AnthropicErrorBody,
  type AnthropicMessage,
  type AnthropicResponseBlock,
  type AnthropicStopReason,
  type AnthropicUsage,
  type DocumentSource,
  type ImageSource,
  type MessagesRequest,
  type NestedBlock,
} from '../../model/providers/anthropic/wire.js';
import { cacheMarkOf, compactContent } from '../../model/content-parts.js';
import type { GatewayRequest } from '../gateway-types.js';
import {
  invalidRequest,
  type GatewayErrorClass,
  type GatewayErrorKind,
  type StreamEncoder,
} from './gateway-http-errors.js';
import { parseRequestBody } from './parse-request-body.js';
import { fromRedactedThinking, toMessagesReasoning } from './responses-reasoning.js';

/** A Messages request as the gateway will make it. */
export interface MessagesCall {
  request: GatewayRequest;
  stream: boolean;
}

/**
 * Validates an Anthropic Messages body and translates it. A user turn's `tool_result` blocks
 * become tool messages (named after the `tool_use` they answer) and its text, image and document
 * blocks a user message, in their order; `thinking` becomes the reasoning budget,
 * `tool_choice.disable_parallel_tool_use` parallel tool calls off, `cache_control` a cache mark on
 * the block's part, message or tool. `thinking` and `redacted_thinking` blocks of earlier turns
 * are carried on the assistant message as they came (signatures intact) for Anthropic upstreams,
 * which check them; a `tool_result`'s text, image and document blocks become its content parts.
 * Server tools and unknown top-level fields are rejected with a 400 rather than silently ignored.
 */
export function parseMessagesRequest(body: unknown, headers: MessagesHeaders = {}): MessagesCall {
  const parsed = parseRequestBody(messagesRequestSchema, body);
  return { request: translateMessages(parsed, headers), stream: parsed.stream === true };
}

/**
 * The request's headers (lowercased names, as Node gives them): `anthropic-beta` is carried on to
 * Anthropic deployments.
 */
export type MessagesHeaders = Readonly<Record<string, string | string[] | undefined>>;

/**
 * Validates a `POST /v1/messages/count_tokens` body: a Messages body without `max_tokens` and
 * `stream`.
 */
export function parseCountTokensRequest(body: unknown, headers: MessagesHeaders = {}): GatewayRequest {
  return translateMessages(parseRequestBody(countTokensRequestSchema, body), headers);
}

/** Reasoning effort for other providers from Anthropic's `output_config.effort` (`max` is `high`). */
const EFFORT_OF: Record<string, ReasoningEffort> = {
  low: 'low',
  medium: 'medium',
  high: 'high',
  max: 'high',
};

function translateMessages(parsed: MessagesRequest, headers: MessagesHeaders): GatewayRequest {
  const messages: Message[] = [];
  if (parsed.system !== undefined) {
    if (typeof parsed.system === 'string') {
      if (parsed.system !== '') messages.push({ role: 'system', content: parsed.system });
    } else {
      // One system message per block: the blocks and their cache marks stay as they were put.
      for (const entry of parsed.system)
        messages.push({ role: 'system', content: entry.text, ...cacheMarkOf(entry.cache_control) });
    }
  }
  const toolNames = new Map<string, string>();
  for (const [index, entry] of parsed.messages.entries()) {
    const param = `messages.${index}.content`;
    if (entry.role === 'system') {
      // In place, one message per block so that each cache mark stays where it was put.
      if (typeof entry.content === 'string') messages.push({ role: 'system', content: entry.content });
      else
        for (const block of entry.content)
          messages.push({ role: 'system', content: block.text, ...cacheMarkOf(block.cache_control) });
      continue;
    }
    if (typeof entry.content === 'string') {
      messages.push({ role: entry.role, content: entry.content });
      continue;
    }
    if (entry.role === 'assistant') {
      let text = '';
      let mark: CacheControl | undefined;
      const toolCalls: { id: string; name: string; arguments: string }[] = [];
      const reasoning: ReasoningBlock[] = [];
      for (const [position, part] of entry.content.entries()) {
        if (part.type === 'thinking')
          reasoning.push({ type: 'thinking', text: part.thinking, signature: part.signature });
        else if (part.type === 'redacted_thinking') reasoning.push(fromRedactedThinking(part.data));
        else if (part.type === 'text') {
          text += part.text;
          mark = cacheMarkOf(part.cache_control).cacheControl ?? mark;
        } else if (part.type === 'tool_use') {
          toolNames.set(part.id, part.name);
          toolCalls.push({ id: part.id, name: part.name, arguments: JSON.stringify(part.input ?? {}) });
          mark = cacheMarkOf(part.cache_control).cacheControl ?? mark;
        } else if (part.type === 'tool_result')
          throw invalidRequest(
            `${param}.${position}: tool_result blocks belong in user turns.`,
            `${param}.${position}`,
          );
        else if (part.type === 'image' || part.type === 'document')
          throw invalidRequest(
            `${param}.${position}: ${part.type} blocks belong in user turns.`,
            `${param}.${position}`,
            'unsupported_content',
          );
      }
      messages.push({
        role: 'assistant',
        content: text,
        ...(toolCalls.length === 0 ? {} : { toolCalls }),
        ...(reasoning.length === 0 ? {} : { reasoning }),
        ...(mark === undefined ? {} : { cacheControl: mark }),
      });
      continue;
    }
    let parts: ContentPart[] | undefined;
    const flush = () => {
      if (parts !== undefined) messages.push({ role: 'user', content: compactContent(parts) });
      parts = undefined;
    };
    for (const [position, part] of entry.content.entries()) {
      if (part.type === 'text')
        (parts ??= []).push({ type: 'text', text: part.text, ...cacheMarkOf(part.cache_control) });
      else if (part.type === 'image') (parts ??= []).push(imagePartOf(part));
      else if (part.type === 'document') (parts ??= []).push(filePartOf(part));
      else if (part.type === 'tool_result') {
        flush();
        messages.push({
          role: 'tool',
          toolCallId: part.tool_use_id,
          name: toolNames.get(part.tool_use_id) ?? '',
          content: toolResultContent(part.content),
          ...(part.is_error === true ? { isError: true } : {}),
          ...cacheMarkOf(part.cache_control),
        });
      } else if (part.type === 'tool_use' || part.type === 'thinking' || part.type === 'redacted_thinking')
        throw invalidRequest(
          `${param}.${position}: ${part.type} blocks belong in assistant turns.`,
          `${param}.${position}`,
        );
    }
    if (parts !== undefined) flush();
    else if (entry.content.length === 0) messages.push({ role: 'user', content: '' });
  }

  const request: GatewayRequest = { model: parsed.model, messages };
  if (parsed.max_tokens !== undefined) request.maxOutputTokens = parsed.max_tokens;
  if (parsed.tools !== undefined && parsed.tools.length > 0) {
    request.tools = parsed.tools.map((entry, index) => {
      if ((entry.type != null && entry.type !== 'custom') || entry.input_schema === undefined)
        throw invalidRequest(
          `tools.${index}: only client tools with an input_schema are supported, not server tools${entry.type == null ? '' : ` ("${entry.type}")`}.`,
          `tools.${index}`,
          'unsupported_tool',
        );
      return {
        name: entry.name,
        description: entry.description ?? '',
        parameters: entry.input_schema,
        ...cacheMarkOf(entry.cache_control),
      };
    });
  }
  if (parsed.tool_choice !== undefined) {
    request.toolChoice = toolChoiceOf(parsed.tool_choice);
    const disabled = parsed.tool_choice.disable_parallel_tool_use;
    if (disabled !== undefined) request.parallelToolCalls = !disabled;
  }
  const anthropic: Record<string, unknown> = {};
  if (parsed.thinking?.type === 'enabled')
    request.reasoning = { budgetTokens: parsed.thinking.budget_tokens };
  // `adaptive` and `disabled` have no neutral counterpart: Anthropic gets them as sent.
  else if (parsed.thinking !== undefined) anthropic.thinking = parsed.thinking;
  if (parsed.output_config !== undefined) {
    anthropic.output_config = parsed.output_config;
    const effort = parsed.output_config.effort;
    if (effort !== undefined) request.reasoning = { ...request.reasoning, effort: EFFORT_OF[effort] };
  }
  if (parsed.context_management !== undefined) anthropic.context_management = parsed.context_management;
  if (parsed.metadata !== undefined) anthropic.metadata = parsed.metadata;
  const betas = betaFlags(headers['anthropic-beta']);
  if (Object.keys(anthropic).length > 0 || betas.length > 0)
    request.anthropic = {
      ...(betas.length === 0 ? {} : { betas }),
      ...(Object.keys(anthropic).length === 0 ? {} : { fields: anthropic }),
    };
  if (parsed.temperature !== undefined) request.temperature = parsed.temperature;
  if (parsed.top_p !== undefined) request.topP = parsed.top_p;
  if (parsed.stop_sequences !== undefined && parsed.stop_sequences.length > 0)
    request.stop = parsed.stop_sequences;
  return request;
}

/** `anthropic-beta` flags, from one header or several, each once and in order. */
function betaFlags(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const flags = (Array.isArray(header) ? header : [header]).flatMap((value) => value.split(','));
  return [...new Set(flags.map((flag) => flag.trim()).filter((flag) => flag !== ''))];
}

function imagePartOf(part: {
  source: ImageSource;
  cache_control?: AnthropicCacheControl | undefined;
}): ImagePart {
  const { source } = part;
  const media =
    source.type === 'base64' ? { data: source.data, mediaType: source.media_type } : { url: source.url };
  return { type: 'image', ...media, ...cacheMarkOf(part.cache_control) };
}

function filePartOf(part: {
  source: DocumentSource;
  title?: string | null | undefined;
  cache_control?: AnthropicCacheControl | undefined;
}): FilePart {
  const { source } = part;
  const title = part.title == null ? {} : { filename: part.title };
  const cache = cacheMarkOf(part.cache_control);
  if (source.type === 'url')
    return { type: 'file', url: source.url, mediaType: 'application/pdf', ...title, ...cache };
  if (source.type === 'text')
    return {
      type: 'file',
      data: Buffer.from(source.data, 'utf8').toString('base64'),
      mediaType: 'text/plain',
      ...title,
      ...cache,
    };
  return { type: 'file', data: source.data, mediaType: source.media_type, ...title, ...cache };
}

/** A `tool_result`'s content: its string, or its blocks as parts (plain text stays a string). */
function toolResultContent(content: string | NestedBlock[] | undefined): string | ContentPart[] {
  if (content === undefined) return '';
  if (typeof content === 'string') return content;
  return compactContent(
    content.map((block): ContentPart => {
      if (block.type === 'image') return imagePartOf(block);
      if (block.type === 'document') return filePartOf(block);
      return { type: 'text', text: block.text, ...cacheMarkOf(block.cache_control) };
    }),
  );
}

function toolChoiceOf(choice: NonNullable<MessagesRequest['tool_choice']>): ToolChoice {
  switch (choice.type) {
    case 'auto':
      return 'auto';
    case 'any':
      return 'required';
    case 'none':
      return 'none';
    case 'tool':
      return { name: choice.name };
  }
}

function stopReasonOf(reason: ModelResponse['finishReason']): AnthropicStopReason {
  if (reason === 'length') return 'max_tokens';
  if (reason === 'tool_calls') return 'tool_use';
  if (reason === 'content_filter') return 'refusal';
  return 'end_turn';
}

/** Anthropic counts cache reads apart from `input_tokens`; Keel counts them as a subset. */
function usageOf(usage: Usage): AnthropicUsage {
  const cached = usage.cachedInputTokens ?? 0;
  return {
    input_tokens: Math.max(0, usage.inputTokens - cached),
    output_tokens: usage.outputTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
  };
}

/** Tool arguments as the object Anthropic's `input` must be ({} when the model produced no object). */
function inputOf(argumentsText: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(argumentsText);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/** A Messages answer (`type: 'message'`) for a gateway answer; `model` is the route name. */
export function toAnthropicMessage(
  response: ModelResponse,
  { id, model }: { id: string; model: string },
): AnthropicMessage {
  const content: AnthropicResponseBlock[] = (response.message.reasoning ?? []).map(reasoningBlockOf);
  if (response.message.content !== '') content.push({ type: 'text', text: response.message.content });
  for (const call of response.message.toolCalls ?? [])
    content.push({ type: 'tool_use', id: call.id, name: call.name, input: inputOf(call.arguments) });
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: stopReasonOf(response.finishReason),
    stop_sequence: null,
    usage: usageOf(response.usage),
  };
}

/** A reasoning block as Anthropic writes it. */
function reasoningBlockOf(reasoning: ReasoningBlock): AnthropicResponseBlock {
  const block = toMessagesReasoning(reasoning);
  return block.type === 'thinking'
    ? { type: 'thinking', thinking: block.text, signature: block.signature }
    : { type: 'redacted_thinking', data: block.data };
}

type PendingTool = { id?: string; name?: string; arguments: string };

/**
 * Creates the event encoder of one streamed answer into Anthropic's streaming events: `start` is
 * `message_start`; `finish` ends with `message_stop`; an error after the first byte is
 * `event: error`, with no `message_stop` after it. Anthropic content blocks are sequential:
 * text streams in a text block; the first tool call streams live in its `tool_use` block; the
 * block moves on to the next call as soon as the open call's arguments form a complete JSON
 * object (so a call whose fragments are interleaved with another's is never cut); fragments that
 * cannot be sent yet are held and sent, whole, before `message_delta`. Usage is only known at the
 * end: `message_start` reports 0 tokens, `message_delta` the totals (input included).
 */
export function createAnthropicEventEncoder({ id, model }: { id: string; model: string }): StreamEncoder {
  const event = (type: string, data: unknown): string => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
  let nextBlock = 0;
  let open:
    | { kind: 'text'; block: number }
    | { kind: 'tool'; block: number; index: number; arguments: string }
    | { kind: 'reasoning'; block: number; index: number }
    | undefined;
  let sentReasoning = false;
  const pending = new Map<number, PendingTool>();
  const seenTools = new Set<number>();
  const closedTools = new Set<number>();
  let heldText = '';
  let sentText = false;

  const close = (): string => {
    if (open === undefined) return '';
    if (open.kind === 'tool') closedTools.add(open.index);
    const text = event('content_block_stop', { type: 'content_block_stop', index: open.block });
    open = undefined;
    return text;
  };
  const openText = (text: string): string => {
    const block = nextBlock++;
    open = { kind: 'text', block };
    sentText = true;
    return (
      event('content_block_start', {
        type: 'content_block_start',
        index: block,
        content_block: { type: 'text', text: '' },
      }) +
      event('content_block_delta', {
        type: 'content_block_delta',
        index: block,
        delta: { type: 'text_delta', text },
      })
    );
  };
  const openTool = (index: number, tool: PendingTool): string => {
    const block = nextBlock++;
    open = { kind: 'tool', block, index, arguments: tool.arguments };
    let text = event('content_block_start', {
      type: 'content_block_start',
      index: block,
      content_block: {
        type: 'tool_use',
        id: tool.id ?? `toolu_${id.slice(-12)}_${index}`,
        name: tool.name ?? '',
        input: {},
      },
    });
    if (tool.arguments !== '') text += argumentsDelta(block, tool.arguments);
    return text;
  };
  const reasoningDeltas = (block: number, piece: { text?: string; signature?: string }): string =>
    (piece.text ? delta(block, { type: 'thinking_delta', thinking: piece.text }) : '') +
    (piece.signature ? delta(block, { type: 'signature_delta', signature: piece.signature }) : '');
  const delta = (block: number, body: Record<string, unknown>): string =>
    event('content_block_delta', { type: 'content_block_delta', index: block, delta: body });
  const openReasoning = (index: number, reasoning: ReasoningBlock): string => {
    const block = toMessagesReasoning(reasoning);
    const at = nextBlock++;
    open = { kind: 'reasoning', block: at, index };
    sentReasoning = true;
    const start = (contentBlock: Record<string, unknown>) =>
      event('content_block_start', { type: 'content_block_start', index: at, content_block: contentBlock });
    if (block.type === 'redacted_thinking') return start({ type: 'redacted_thinking', data: block.data });
    return (
      start({ type: 'thinking', thinking: '', signature: '' }) +
      reasoningDeltas(at, { text: block.text, signature: block.signature })
    );
  };
  const argumentsDelta = (block: number, partial: string): string =>
    event('content_block_delta', {
      type: 'content_block_delta',
      index: block,
      delta: { type: 'input_json_delta', partial_json: partial },
    });

  return {
    start: () =>
      event('message_start', {
        type: 'message_start',
        message: {
          id,
          type: 'message',
          role: 'assistant',
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 0, output_tokens: 0 },
        },
      }),
    encode(input) {
      switch (input.type) {
        case 'reasoning-delta': {
          // Anthropic streams one block after another, so a block's pieces follow its start.
          if (open?.kind === 'reasoning' && open.index === input.index && input.kind === undefined)
            return reasoningDeltas(open.block, input);
          if (input.kind === undefined) return '';
          const block: ReasoningBlock =
            input.kind === 'thinking'
              ? { type: 'thinking', text: input.text ?? '', signature: input.signature ?? '' }
              : input.kind === 'openai_item' && input.item !== undefined
                ? {
                    type: 'openai_item',
                    item: input.item,
                    ...(input.position === undefined ? {} : { position: input.position }),
                  }
                : { type: 'redacted_thinking', data: input.data ?? '' };
          return close() + openReasoning(input.index, block);
        }
        case 'text-delta': {
          if (input.text === '') return '';
          if (open?.kind === 'text')
            return event('content_block_delta', {
              type: 'content_block_delta',
              index: open.block,
              delta: { type: 'text_delta', text: input.text },
            });
          if (open?.kind === 'tool') {
            heldText += input.text;
            return '';
          }
          return close() + openText(input.text);
        }
        case 'tool-call-delta': {
          seenTools.add(input.index);
          if (open?.kind === 'tool' && open.index === input.index) {
            if (input.argumentsDelta === '') return '';
            open.arguments += input.argumentsDelta;
            return argumentsDelta(open.block, input.argumentsDelta);
          }
          // Only after a call's arguments were already a whole object: malformed, nowhere to put it.
          if (closedTools.has(input.index)) return '';
          const held = pending.get(input.index) ?? { arguments: '' };
          if (input.id !== undefined) held.id ??= input.id;
          if (input.name !== undefined) held.name ??= input.name;
          held.arguments += input.argumentsDelta;
          if (open?.kind === 'tool' && !isCompleteObject(open.arguments)) {
            pending.set(input.index, held);
            return '';
          }
          pending.delete(input.index);
          return close() + openTool(input.index, held);
        }
        case 'finish': {
          const { response } = input;
          const calls = response.message.toolCalls ?? [];
          let text = close();
          // An answer that streamed no reasoning (a cached one) still hands it over, first.
          if (!sentReasoning && nextBlock === 0)
            for (const [index, block] of (response.message.reasoning ?? []).entries())
              text += openReasoning(index, block) + close();
          if (!sentText && heldText === '' && response.message.content !== '')
            heldText = response.message.content;
          if (heldText !== '') {
            text += openText(heldText) + close();
          }
          for (const [index, tool] of [...pending.entries()].sort(([a], [b]) => a - b)) {
            const known = calls[index];
            text +=
              openTool(index, {
                id: tool.id ?? known?.id,
                name: tool.name ?? known?.name,
                arguments: tool.arguments,
              }) + close();
          }
          if (seenTools.size === 0)
            for (const [index, call] of calls.entries()) text += openTool(index, call) + close();
          return (
            text +
            event('message_delta', {
              type: 'message_delta',
              delta: { stop_reason: stopReasonOf(response.finishReason), stop_sequence: null },
              usage: usageOf(response.usage),
            }) +
            event('message_stop', { type: 'message_stop' })
          );
        }
      }
    },
    error: (errorClass) => event('error', toAnthropicError(errorClass)),
  };
}

/** True when a tool call's arguments so far already form a whole JSON object: nothing can follow. */
function isCompleteObject(text: string): boolean {
  if (!text.trimEnd().endsWith('}')) return false;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null;
  } catch {
    return false;
  }
}

const ANTHROPIC_ERROR_TYPES: Record<GatewayErrorKind, string> = {
  invalid_request: 'invalid_request_error',
  authentication: 'authentication_error',
  permission: 'permission_error',
  not_found: 'not_found_error',
  request_too_large: 'request_too_large',
  rate_limit: 'rate_limit_error',
  upstream: 'api_error',
  overloaded: 'overloaded_error',
  timeout: 'api_error',
  internal: 'api_error',
};

/** The one mapping of a classified error to Anthropic's error body `{ type: 'error', error: { type, message } }`. */
export function toAnthropicError(errorClass: GatewayErrorClass): AnthropicErrorBody {
  // The body has no param: a field no deployment can honour is named at the head of the message.
  const field =
    errorClass.field !== undefined ? `${MESSAGES_WIRE_FIELDS[errorClass.field] ?? errorClass.field}: ` : '';
  return {
    type: 'error',
    error: { type: ANTHROPIC_ERROR_TYPES[errorClass.kind], message: `${field}${errorClass.message}` },
  };
}

/** `UnsupportedField.field` in Messages terms, for the 400 naming it. */
const MESSAGES_WIRE_FIELDS: Record<string, string> = {
  'reasoning.effort': 'thinking',
  'reasoning.budgetTokens': 'thinking.budget_tokens',
  parallelToolCalls: 'tool_choice.disable_parallel_tool_use',
  cacheControl: 'cache_control',
  'content.image': 'image',
  'content.image.url': 'image.source.url',
  'content.image.detail': 'image',
  'content.image.mediaType': 'image.source.media_type',
  'content.file': 'document',
  'content.file.url': 'document.source.url',
  'content.file.mediaType': 'document.source.media_type',
  stop: 'stop_sequences',
};
