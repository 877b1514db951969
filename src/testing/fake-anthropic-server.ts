/**
 * A local HTTP server that speaks Anthropic's Messages API (`POST /v1/messages`), for tests of
 * anything that calls Claude: Keel's adapter, the official `@anthropic-ai/sdk` client, the gateway.
 * Each request gets the next scripted reply: a message (plain JSON, or the event stream Anthropic
 * sends: `message_start`, `ping`, content blocks, `message_delta`, `message_stop`) or a fault (an
 * error status with Anthropic's error body and `retry-after`, an `event: error` mid-stream, malformed
 * JSON, a stream cut before `message_stop`, a hang, a connection reset, a slow drip). Every request
 * is recorded, including whether the client went away before the answer ended.
 * `POST /v1/messages/count_tokens` answers `{ input_tokens }` by {@link fakeInputTokens}.
 */
import type {
  AnthropicErrorBody,
  AnthropicMessage,
  AnthropicUsage,
} from '../model/providers/anthropic/wire.js';
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isPlainObject } from '../model/json.js';
import { COUNT_TOKENS_FIELDS } from '../model/providers/anthropic/wire.js';
import {
  createReplyScript,
  parseJson,
  resetConnection,
  sendEventStream,
  sendJson,
  sendRaw,
  splitByCodePoints,
  startFakeServer,
  type FakeExchange,
  type FakeRawReply,
  type FakeRecordedRequest,
  type FakeStreamEnding,
} from './fake-server-kit.js';

/** A `tool_use` block of a scripted message. */
export interface FakeAnthropicToolUse {
  /** Default: `toolu_fake_<request>_<position>`. */
  id?: string;
  name: string;
  /** The input object; a string is sent as raw JSON text (streamed as is, to script broken input). */
  input: Record<string, unknown> | string;
}

/** Token counts of a scripted message; missing counts are estimated from the text (4 chars a token). */
export interface FakeAnthropicUsage {
  /** Uncached input tokens, as Anthropic counts them (cache reads and writes are apart). */
  inputTokens?: number;
  outputTokens?: number;
  cacheReadInputTokens?: number;
  cacheCreationInputTokens?: number;
}

/** A successful answer, sent as JSON or as an event stream depending on the request's `stream`. */
export interface FakeAnthropicMessageReply {
  kind?: 'message';
  /** One text block (after any thinking block, before tool_use blocks). */
  text?: string;
  toolUses?: FakeAnthropicToolUse[];
  /** A thinking block first, as extended thinking sends it. */
  thinking?: string;
  /** Default: `tool_use` when there are tool uses, else `end_turn`. */
  stopReason?: string;
  stopSequence?: string;
  usage?: FakeAnthropicUsage;
  /** The model named in the answer. Default: the requested model. */
  model?: string;
  /** Characters per streamed text delta or input JSON fragment. Default 4. */
  chunkSize?: number;
  /** Pause between streamed events, in milliseconds (a slow drip). */
  delayMs?: number;
  headers?: Record<string, string>;
}

/** An HTTP error with Anthropic's body `{ type: 'error', error: { type, message }, request_id }`. */
export interface FakeAnthropicErrorReply {
  kind: 'error';
  /** 400, 401, 403, 404, 413, 429, 500, 503, 529 (overloaded)... */
  status: number;
  message?: string;
  /** Default by status, e.g. `rate_limit_error`, `overloaded_error`. */
  type?: string;
  /** The `retry-after` header: seconds or an HTTP date. */
  retryAfter?: number | string;
  headers?: Record<string, string>;
}

/** A stream that starts normally, then sends `event: error` after `afterEvents` events and ends. */
export interface FakeAnthropicStreamErrorReply {
  kind: 'stream-error';
  reply?: FakeAnthropicMessageReply;
  /** Default 4: after the first content delta (message_start, ping, content_block_start, one delta). */
  afterEvents?: number;
  /** Default `overloaded_error`. */
  type?: string;
  message?: string;
}

/** A 200 whose body is not JSON; on a streaming request, a stream with an event that is not JSON. */
export interface FakeAnthropicMalformedReply {
  kind: 'malformed-json';
  body?: string;
}

/**
 * A stream that ends cleanly at the HTTP level but without `message_stop`: after `afterEvents`
 * events, by default just before `message_stop`. On a non-streaming request, half the body.
 */
export interface FakeAnthropicTruncatedReply {
  kind: 'truncated';
  reply?: FakeAnthropicMessageReply;
  afterEvents?: number;
}

/** Never answers (default), or stops sending after `afterEvents` streamed events. */
export interface FakeAnthropicHangReply {
  kind: 'hang';
  reply?: FakeAnthropicMessageReply;
  afterEvents?: number;
}

/** Destroys the connection before answering (default), or after `afterEvents` streamed events. */
export interface FakeAnthropicResetReply {
  kind: 'reset';
  reply?: FakeAnthropicMessageReply;
  afterEvents?: number;
}

/** Exactly these bytes: each string of `body` is written separately. */
export type FakeAnthropicRawReply = FakeRawReply;

/** One scripted answer. */
export type FakeAnthropicReply =
  | FakeAnthropicMessageReply
  | FakeAnthropicErrorReply
  | FakeAnthropicStreamErrorReply
  | FakeAnthropicMalformedReply
  | FakeAnthropicTruncatedReply
  | FakeAnthropicHangReply
  | FakeAnthropicResetReply
  | FakeAnthropicRawReply;

/** A request as received (e.g. on `/v1/messages`). `outcome` is updated while the answer is sent. */
export type FakeAnthropicRequest = FakeRecordedRequest;

/** Options of {@link createFakeAnthropicServer}. */
export interface FakeAnthropicServerOptions {
  /** Replies used in order, one per messages request, before `handler`. */
  script?: FakeAnthropicReply[];
  /** Answers requests once the script is used up. Without it, an unscripted request gets a 500. */
  handler?: (request: FakeAnthropicRequest) => FakeAnthropicReply | Promise<FakeAnthropicReply>;
}

/** A running fake. */
export interface FakeAnthropicServer {
  /** Base URL without a version (`http://127.0.0.1:<port>`), as given to the Anthropic client. */
  url: string;
  /** Every request received, in order. */
  requests: FakeAnthropicRequest[];
  /** Appends a reply to the script. */
  enqueue(reply: FakeAnthropicReply): void;
  /** Stops the server, ending hanging responses and open connections. */
  close(): Promise<void>;
}

/**
 * Starts a fake on 127.0.0.1 with a free port. Like the real API, it answers a request without
 * `anthropic-version` with a 400, one without credentials (`x-api-key` or a bearer token) with a
 * 401 and one without `max_tokens` with a 400, before consuming a scripted reply.
 */
export async function createFakeAnthropicServer(
  options: FakeAnthropicServerOptions = {},
): Promise<FakeAnthropicServer> {
  const { script, handler } = options;
  const replies = createReplyScript({ script, handler, unscripted });
  let messageCount = 0;

  async function handle({ incoming, outgoing, record }: FakeExchange<FakeAnthropicRequest>): Promise<void> {
    const pathname = record.path.split('?')[0] ?? '';
    if (record.method === 'POST' && pathname === '/v1/messages/count_tokens') {
      const body = isPlainObject(record.body) ? record.body : undefined;
      // As the real endpoint: a field a count does not take (max_tokens, temperature...) is refused.
      const extra = Object.keys(body ?? {}).find((key) => !COUNT_TOKENS_FIELDS.has(key));
      const refusal =
        extra !== undefined
          ? ({
              kind: 'error',
              status: 400,
              message: `${extra}: Extra inputs are not permitted`,
              type: 'invalid_request_error',
            } as const)
          : validate(record.headers, body, { needsMaxTokens: false });
      if (refusal !== undefined) sendError(outgoing, refusal);
      else {
        outgoing.writeHead(200, { 'content-type': 'application/json' });
        outgoing.end(JSON.stringify({ input_tokens: fakeInputTokens(body ?? {}) }));
      }
      return;
    }
    if (record.method !== 'POST' || pathname !== '/v1/messages') {
      sendError(outgoing, { kind: 'error', status: 404, message: 'Not found', type: 'not_found_error' });
      return;
    }
    const body = isPlainObject(record.body) ? record.body : undefined;
    const refusal = validate(record.headers, body);
    if (refusal !== undefined) {
      sendError(outgoing, refusal);
      return;
    }
    // Numbered before awaiting a handler, so concurrent requests keep their own ids.
    const number = ++messageCount;
    const reply = await replies.next(record);
    await sendReply(incoming, outgoing, reply, { record, number, body: body ?? {} });
  }

  const server = await startFakeServer({
    handle,
    sendFailure: (outgoing, message) => sendError(outgoing, { kind: 'error', status: 500, message }),
  });

  return {
    url: server.origin,
    requests: server.requests,
    enqueue: replies.enqueue,
    close: server.close,
  };
}

const unscripted: FakeAnthropicErrorReply = {
  kind: 'error',
  status: 500,
  message: 'fake Anthropic server: no reply scripted for this request',
  type: 'api_error',
};

/**
 * The input tokens the fake counts for a body (its count_tokens answer, and the default usage of
 * a message): a quarter of the JSON length of its messages, system and tools, rounded up. Not
 * Keel's tokenizer, so tests can tell an exact count from an estimate.
 */
export function fakeInputTokens(body: Record<string, unknown>): number {
  const promptText =
    JSON.stringify(body.messages ?? []) +
    JSON.stringify(body.system ?? '') +
    JSON.stringify(body.tools ?? []);
  return Math.ceil(promptText.length / 4);
}

/** The checks the real API makes before anything else. */
function validate(
  headers: Record<string, string>,
  body: Record<string, unknown> | undefined,
  { needsMaxTokens }: { needsMaxTokens: boolean } = { needsMaxTokens: true },
): FakeAnthropicErrorReply | undefined {
  if (headers['anthropic-version'] === undefined) {
    return { kind: 'error', status: 400, message: 'anthropic-version: header is required' };
  }
  if (headers['x-api-key'] === undefined && !headers.authorization?.startsWith('Bearer ')) {
    return { kind: 'error', status: 401, message: 'x-api-key header is required' };
  }
  if (body === undefined)
    return { kind: 'error', status: 400, message: 'The request body is not valid JSON.' };
  if (needsMaxTokens && typeof body.max_tokens !== 'number') {
    return { kind: 'error', status: 400, message: 'max_tokens: Field required' };
  }
  // As the real API: an enabled thinking budget is at least 1,024 and below max_tokens.
  const thinking = isPlainObject(body.thinking) ? body.thinking : undefined;
  if (thinking?.type === 'enabled') {
    const budget = thinking.budget_tokens;
    if (typeof budget !== 'number' || budget < 1024)
      return {
        kind: 'error',
        status: 400,
        message: 'thinking.budget_tokens: Input should be greater than or equal to 1024',
      };
    if (needsMaxTokens && typeof body.max_tokens === 'number' && budget >= body.max_tokens)
      return {
        kind: 'error',
        status: 400,
        message: '`max_tokens` must be greater than `thinking.budget_tokens`.',
      };
  }
  // As the real API: system messages stand in `messages` only under the beta that allows them.
  const betas = headers['anthropic-beta'] ?? '';
  const messages = Array.isArray(body.messages) ? (body.messages as unknown[]) : [];
  const system = messages.findIndex((message) => isPlainObject(message) && message.role === 'system');
  if (system !== -1 && !betas.includes('mid-conversation-system'))
    return {
      kind: 'error',
      status: 400,
      message: `messages.${system}.role: Input should be 'user' or 'assistant'`,
    };
  const thinkingError = checkThinkingBlocks(body);
  if (thinkingError !== undefined) return { kind: 'error', status: 400, message: thinkingError };
  return undefined;
}

/** The fake's signature over a thinking block's text: a request must hand both back unchanged. */
export function fakeSignature(thinking: string): string {
  return `sig_fake_${createHash('sha256').update(thinking).digest('hex').slice(0, 16)}`;
}

/**
 * As the real API, with thinking on: each thinking block handed back must carry its signature
 * over its text, and an assistant turn of tool calls that the request continues must start with
 * its thinking.
 */
function checkThinkingBlocks(body: Record<string, unknown>): string | undefined {
  const messages = Array.isArray(body.messages) ? (body.messages as unknown[]) : [];
  for (const [index, message] of messages.entries()) {
    if (!isPlainObject(message) || message.role !== 'assistant' || !Array.isArray(message.content)) continue;
    for (const [position, block] of (message.content as unknown[]).entries()) {
      if (!isPlainObject(block) || block.type !== 'thinking') continue;
      if (typeof block.thinking !== 'string' || block.signature !== fakeSignature(block.thinking))
        return `messages.${index}.content.${position}: Invalid \`signature\` in \`thinking\` block`;
    }
  }
  const thinking = isPlainObject(body.thinking) ? body.thinking : undefined;
  if (thinking?.type !== 'enabled' && thinking?.type !== 'adaptive') return undefined;
  const lastAssistant = messages.findLastIndex(
    (message) => isPlainObject(message) && message.role === 'assistant',
  );
  const turn = messages[lastAssistant];
  if (!isPlainObject(turn) || !Array.isArray(turn.content)) return undefined;
  const blocks = turn.content as unknown[];
  const usesTools = blocks.some((block) => isPlainObject(block) && block.type === 'tool_use');
  const first = blocks[0];
  if (
    usesTools &&
    !(isPlainObject(first) && (first.type === 'thinking' || first.type === 'redacted_thinking'))
  )
    return `messages.${lastAssistant}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${isPlainObject(first) ? String(first.type) : 'nothing'}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block.`;
  return undefined;
}

interface ReplyContext {
  record: FakeAnthropicRequest;
  /** 1-based number of this messages request, for ids. */
  number: number;
  body: Record<string, unknown>;
}

async function sendReply(
  incoming: IncomingMessage,
  outgoing: ServerResponse,
  reply: FakeAnthropicReply,
  context: ReplyContext,
): Promise<void> {
  const streaming = context.body.stream === true;
  switch (reply.kind) {
    case undefined:
    case 'message':
      if (streaming) await sendEvents(outgoing, streamEvents(reply, context), reply, context, 'end');
      else sendJson(outgoing, 200, messageBody(reply, context), requestIdHeaders(context, reply.headers));
      return;
    case 'error':
      sendError(outgoing, reply, requestIdHeaders(context));
      return;
    case 'stream-error': {
      const message = reply.reply ?? { text: 'This answer will be interrupted' };
      const events = streamEvents(message, context);
      const at = reply.afterEvents ?? 4;
      const error = {
        event: 'error',
        data: {
          type: 'error',
          error: { type: reply.type ?? 'overloaded_error', message: reply.message ?? 'Overloaded' },
        },
      };
      await sendEvents(outgoing, [...events.slice(0, at), error], message, context, 'end');
      return;
    }
    case 'malformed-json':
      if (streaming) {
        outgoing.writeHead(200, streamHeaders(context));
        const start = streamEvents({ text: 'x' }, context)[0];
        if (start !== undefined) outgoing.write(formatEvent(start));
        outgoing.end(
          `event: content_block_delta\ndata: ${reply.body ?? '{"type":"content_block_delta","index":0,"delta":{"type":'}\n\n`,
        );
      } else {
        outgoing.writeHead(200, { 'content-type': 'application/json', ...requestIdHeaders(context) });
        outgoing.end(reply.body ?? '{"id":"msg_broken","type":"message","content":[{"type":');
      }
      return;
    case 'truncated': {
      const message = reply.reply ?? { text: 'This answer is cut off' };
      if (streaming) {
        const events = streamEvents(message, context);
        await sendEvents(
          outgoing,
          events.slice(0, reply.afterEvents ?? events.length - 1),
          message,
          context,
          'end',
        );
      } else {
        const body = JSON.stringify(messageBody(message, context));
        outgoing.writeHead(200, { 'content-type': 'application/json', ...requestIdHeaders(context) });
        outgoing.end(body.slice(0, Math.floor(body.length / 2)));
      }
      return;
    }
    case 'hang':
    case 'reset': {
      const ending = reply.kind;
      if (reply.afterEvents === undefined || !streaming) {
        if (ending === 'reset') resetConnection(context.record, incoming.socket);
        // A hang answers nothing; the response ends when the client leaves or close() destroys it.
        return;
      }
      const message = reply.reply ?? { text: 'Hello from a stream that stops' };
      const events = streamEvents(message, context).slice(0, reply.afterEvents);
      await sendEvents(outgoing, events, message, context, ending);
      return;
    }
    case 'raw':
      await sendRaw(outgoing, reply);
      return;
  }
}

interface StreamEvent {
  event: string;
  data: Record<string, unknown>;
}

async function sendEvents(
  outgoing: ServerResponse,
  events: StreamEvent[],
  reply: FakeAnthropicMessageReply,
  context: ReplyContext,
  ending: FakeStreamEnding,
): Promise<void> {
  await sendEventStream(outgoing, {
    record: context.record,
    headers: streamHeaders(context, reply.headers),
    frames: events.map(formatEvent),
    delayMs: reply.delayMs,
    ending,
  });
}

function formatEvent({ event, data }: StreamEvent): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The events of a streamed answer, in the order Anthropic sends them. */
function streamEvents(reply: FakeAnthropicMessageReply, context: ReplyContext): StreamEvent[] {
  const size = reply.chunkSize ?? 4;
  const usage = usageBody(reply, context);
  const message = messageBody(reply, context);
  const events: StreamEvent[] = [
    {
      event: 'message_start',
      data: {
        type: 'message_start',
        message: {
          ...message,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          // The real stream reports a placeholder output count here and the true one in message_delta.
          usage: { ...usage, output_tokens: 1 },
        },
      },
    },
    { event: 'ping', data: { type: 'ping' } },
  ];
  const blocks = contentBlocks(reply, context);
  for (const [index, block] of blocks.entries()) {
    const start = (content_block: Record<string, unknown>) => ({
      event: 'content_block_start',
      data: { type: 'content_block_start', index, content_block },
    });
    const delta = (value: Record<string, unknown>) => ({
      event: 'content_block_delta',
      data: { type: 'content_block_delta', index, delta: value },
    });
    if (block.type === 'thinking') {
      events.push(start({ type: 'thinking', thinking: '', signature: '' }));
      for (const piece of splitByCodePoints(block.thinking, size))
        events.push(delta({ type: 'thinking_delta', thinking: piece }));
      events.push(delta({ type: 'signature_delta', signature: block.signature }));
    } else if (block.type === 'text') {
      events.push(start({ type: 'text', text: '' }));
      for (const piece of splitByCodePoints(block.text, size))
        events.push(delta({ type: 'text_delta', text: piece }));
    } else {
      events.push(start({ type: 'tool_use', id: block.id, name: block.name, input: {} }));
      // Anthropic opens every tool input with an empty fragment.
      events.push(delta({ type: 'input_json_delta', partial_json: '' }));
      for (const piece of splitByCodePoints(block.inputText, size)) {
        events.push(delta({ type: 'input_json_delta', partial_json: piece }));
      }
    }
    events.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index } });
  }
  events.push({
    event: 'message_delta',
    data: {
      type: 'message_delta',
      delta: { stop_reason: message.stop_reason, stop_sequence: message.stop_sequence },
      usage: { output_tokens: usage.output_tokens },
    },
  });
  events.push({ event: 'message_stop', data: { type: 'message_stop' } });
  return events;
}

type Block =
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown; inputText: string };

function contentBlocks(reply: FakeAnthropicMessageReply, context: ReplyContext): Block[] {
  const blocks: Block[] = [];
  if (reply.thinking !== undefined) {
    blocks.push({ type: 'thinking', thinking: reply.thinking, signature: fakeSignature(reply.thinking) });
  }
  if (reply.text !== undefined && reply.text !== '') blocks.push({ type: 'text', text: reply.text });
  for (const [position, use] of (reply.toolUses ?? []).entries()) {
    const inputText = typeof use.input === 'string' ? use.input : JSON.stringify(use.input);
    blocks.push({
      type: 'tool_use',
      id: use.id ?? `toolu_fake_${context.number}_${position}`,
      name: use.name,
      input: typeof use.input === 'string' ? (parseJson(use.input) ?? {}) : use.input,
      inputText,
    });
  }
  return blocks;
}

function messageBody(reply: FakeAnthropicMessageReply, context: ReplyContext): AnthropicMessage {
  const blocks = contentBlocks(reply, context);
  const hasToolUse = blocks.some((block) => block.type === 'tool_use');
  return {
    id: `msg_fake_${context.number}`,
    type: 'message',
    role: 'assistant',
    model: reply.model ?? requestedModel(context),
    content: blocks.map((block) =>
      block.type === 'tool_use'
        ? { type: 'tool_use', id: block.id, name: block.name, input: block.input }
        : block,
    ),
    stop_reason: reply.stopReason ?? (hasToolUse ? 'tool_use' : 'end_turn'),
    stop_sequence: reply.stopSequence ?? null,
    usage: usageBody(reply, context),
  };
}

function usageBody(reply: FakeAnthropicMessageReply, context: ReplyContext): AnthropicUsage {
  const outputText = contentBlocks(reply, context)
    .map((block) =>
      block.type === 'text'
        ? block.text
        : block.type === 'thinking'
          ? block.thinking
          : block.name + block.inputText,
    )
    .join('');
  const promptText = JSON.stringify(context.body.messages ?? []) + JSON.stringify(context.body.system ?? '');
  return {
    input_tokens: reply.usage?.inputTokens ?? Math.ceil(promptText.length / 4),
    cache_creation_input_tokens: reply.usage?.cacheCreationInputTokens ?? 0,
    cache_read_input_tokens: reply.usage?.cacheReadInputTokens ?? 0,
    output_tokens: reply.usage?.outputTokens ?? Math.max(1, Math.ceil(outputText.length / 4)),
    service_tier: 'standard',
  };
}

const ERROR_TYPES: Record<number, { type: string; message: string }> = {
  400: { type: 'invalid_request_error', message: 'Invalid request.' },
  401: { type: 'authentication_error', message: 'invalid x-api-key' },
  403: {
    type: 'permission_error',
    message: 'Your API key does not have permission to use the specified resource.',
  },
  404: { type: 'not_found_error', message: 'The requested resource could not be found.' },
  413: { type: 'request_too_large', message: 'Request exceeds the maximum allowed number of bytes.' },
  429: {
    type: 'rate_limit_error',
    message: 'Number of request tokens has exceeded your per-minute rate limit.',
  },
  500: { type: 'api_error', message: 'Internal server error' },
  503: { type: 'api_error', message: 'Service unavailable' },
  529: { type: 'overloaded_error', message: 'Overloaded' },
};

function sendError(
  outgoing: ServerResponse,
  reply: FakeAnthropicErrorReply,
  headers: Record<string, string> = {},
): void {
  const defaults = ERROR_TYPES[reply.status] ?? { type: 'api_error', message: 'Error.' };
  const requestId = headers['request-id'];
  const body: AnthropicErrorBody = {
    type: 'error',
    error: { type: reply.type ?? defaults.type, message: reply.message ?? defaults.message },
    ...(requestId === undefined ? {} : { request_id: requestId }),
  };
  sendJson(outgoing, reply.status, body, {
    ...headers,
    ...(reply.retryAfter === undefined ? {} : { 'retry-after': String(reply.retryAfter) }),
    ...reply.headers,
  });
}

function streamHeaders(context: ReplyContext, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    ...requestIdHeaders(context),
    ...extra,
  };
}

function requestIdHeaders(context: ReplyContext, extra: Record<string, string> = {}): Record<string, string> {
  return { 'request-id': `req_fake_${context.number}`, ...extra };
}

function requestedModel(context: ReplyContext): string {
  return typeof context.body.model === 'string' ? context.body.model : 'claude-sonnet-4-5';
}
