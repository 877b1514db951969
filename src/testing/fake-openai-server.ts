/**
 * A local HTTP server that speaks OpenAI's chat-completions wire format, for tests of anything
 * that calls an OpenAI-compatible endpoint (Keel's adapter, the official `openai` client, the
 * gateway). Each request gets the next scripted reply: a completion (plain or streamed, exactly as
 * OpenAI streams it: the usage chunk only when the request asks `stream_options.include_usage`),
 * a completion with hostile usage (none at all, negative or absurd counts), or a fault (an error status with `retry-after`, malformed JSON, a stream cut
 * before `[DONE]`, a hang, a connection reset). `POST /v1/embeddings` answers with deterministic
 * vectors (or a scripted fault). Every request is recorded for assertions.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isPlainObject } from '../model/json.js';
import type {
  ChatChunkDelta,
  ChatCompletion,
  ChatCompletionChunk,
  ChatUsage,
  EmbeddingsResponse,
  OpenAIErrorBody,
} from '../model/providers/openai/wire.js';
import {
  createReplyScript,
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

export type { FakeRawReply } from './fake-server-kit.js';

/** A tool call in a scripted completion. */
export interface FakeToolCall {
  /** Default: `call_<request>_<position>`. */
  id?: string;
  name: string;
  /** The arguments JSON text (an object is serialized). */
  arguments: string | Record<string, unknown>;
}

/**
 * Token counts of a scripted completion; missing counts are estimated from the text (4 chars a
 * token). Any number is sent as given, so a reply can carry negative or absurd counts (as a broken
 * proxy would); `Infinity` and `NaN` cannot be written in JSON (use a `raw` reply for `1e999`).
 */
export interface FakeUsage {
  promptTokens?: number;
  completionTokens?: number;
  cachedTokens?: number;
  reasoningTokens?: number;
}

/** A successful answer, sent as JSON or as an event stream depending on the request's `stream`. */
export interface FakeCompletionReply {
  kind?: 'completion';
  content?: string | null;
  toolCalls?: FakeToolCall[];
  /** A structured-outputs refusal, sent in `refusal` instead of `content`. */
  refusal?: string;
  /** Default: `tool_calls` when there are tool calls, else `stop`. */
  finishReason?: string;
  /**
   * The counts to report, or `'omit'`: no usage at all, neither a `usage` field in a JSON answer
   * nor a usage chunk on a stream, even when the request asked for one (as many
   * OpenAI-compatible servers and proxies do).
   */
  usage?: FakeUsage | 'omit';
  /** The model named in the answer. Default: the requested model. */
  model?: string;
  /** Characters per streamed content delta or arguments fragment. Default 4. */
  chunkSize?: number;
  /** Stream the fragments of parallel tool calls round-robin instead of one call after the other. */
  interleaveToolCalls?: boolean;
  /** Pause between streamed chunks, in milliseconds. */
  delayMs?: number;
  headers?: Record<string, string>;
}

/** An HTTP error with an OpenAI error body `{ error: { message, type, param, code } }`. */
export interface FakeErrorReply {
  kind: 'error';
  status: number;
  message?: string;
  /** Default by status, e.g. `invalid_request_error`, `server_error`. */
  type?: string;
  code?: string | null;
  /** The request field at fault. Default null. */
  param?: string | null;
  /** The `retry-after` header: seconds or an HTTP date. */
  retryAfter?: number | string;
  /** The `retry-after-ms` header. */
  retryAfterMs?: number;
  headers?: Record<string, string>;
}

/** A 200 whose body is not JSON; on a streaming request, a stream with a chunk that is not JSON. */
export interface FakeMalformedReply {
  kind: 'malformed-json';
  /** Default: a cut-off JSON object. */
  body?: string;
}

/**
 * A stream that ends cleanly at the HTTP level but before `[DONE]`: after `afterChunks` chunks,
 * by default just before the finish-reason chunk. On a non-streaming request, half the body.
 */
export interface FakeTruncatedReply {
  kind: 'truncated';
  reply?: FakeCompletionReply;
  afterChunks?: number;
}

/** Never answers (default), or stops sending after `afterChunks` streamed chunks. Ends when the client leaves or the server closes. */
export interface FakeHangReply {
  kind: 'hang';
  reply?: FakeCompletionReply;
  afterChunks?: number;
}

/** Destroys the connection before answering (default), or after `afterChunks` streamed chunks. */
export interface FakeResetReply {
  kind: 'reset';
  reply?: FakeCompletionReply;
  afterChunks?: number;
}

/** One scripted answer. */
export type FakeOpenAIReply =
  | FakeCompletionReply
  | FakeErrorReply
  | FakeMalformedReply
  | FakeTruncatedReply
  | FakeHangReply
  | FakeResetReply
  | FakeRawReply;

/** A fault of an embeddings request. */
export type FakeEmbeddingFault = FakeErrorReply | FakeMalformedReply | FakeHangReply | FakeResetReply;

/** Length of a fake embedding when the request names no `dimensions`. */
export const FAKE_EMBEDDING_DIMENSIONS = 8;

/** A request as received (e.g. on `/v1/chat/completions`). `outcome` is updated while the answer is sent. */
export type FakeOpenAIRequest = FakeRecordedRequest;

/** Options of {@link createFakeOpenAIServer}. */
export interface FakeOpenAIServerOptions {
  /** Replies used in order, one per chat-completions request, before `handler`. */
  script?: FakeOpenAIReply[];
  /** Answers requests once the script is used up. Without it, an unscripted request gets a 500. */
  handler?: (request: FakeOpenAIRequest) => FakeOpenAIReply | Promise<FakeOpenAIReply>;
  /** Epoch milliseconds for the `created` field. */
  now?: () => number;
}

/** A running fake. */
export interface FakeOpenAIServer {
  /** Base URL ending in `/v1`, as given to an OpenAI client. */
  url: string;
  /** Every request received, in order. */
  requests: FakeOpenAIRequest[];
  /** Appends a reply to the script. */
  enqueue(reply: FakeOpenAIReply): void;
  /** Makes the next embeddings request fail this way; without one, embeddings requests succeed. */
  enqueueEmbeddingFault(fault: FakeEmbeddingFault): void;
  /** Stops the server, ending hanging responses and open connections. */
  close(): Promise<void>;
}

/** Starts a fake on 127.0.0.1 with a free port. */
export async function createFakeOpenAIServer(
  options: FakeOpenAIServerOptions = {},
): Promise<FakeOpenAIServer> {
  const { script, handler, now = () => Date.now() } = options;
  const replies = createReplyScript({ script, handler, unscripted });
  const embeddingFaults: FakeEmbeddingFault[] = [];
  let completionCount = 0;

  async function handle({ incoming, outgoing, record }: FakeExchange<FakeOpenAIRequest>): Promise<void> {
    const pathname = record.path.split('?')[0];
    if (record.method === 'POST' && pathname === '/v1/embeddings') {
      const fault = embeddingFaults.shift();
      if (fault === undefined) sendEmbeddings(outgoing, isPlainObject(record.body) ? record.body : {});
      else if (fault.kind === 'error') sendError(outgoing, fault);
      else if (fault.kind === 'malformed-json') {
        outgoing.writeHead(200, { 'content-type': 'application/json' });
        outgoing.end(fault.body ?? '{"object":"list","data":[{"embedding":[0.1,');
      } else if (fault.kind === 'reset') resetConnection(record, incoming.socket);
      // A hang answers nothing.
      return;
    }
    if (record.method !== 'POST' || pathname !== '/v1/chat/completions') {
      sendError(outgoing, {
        kind: 'error',
        status: 404,
        message: `Invalid URL (${record.method} ${pathname ?? ''})`,
        type: 'invalid_request_error',
      });
      return;
    }
    // As the real API, before consuming a reply.
    const completionBody = isPlainObject(record.body) ? record.body : {};
    if (completionBody.parallel_tool_calls !== undefined && !Array.isArray(completionBody.tools)) {
      sendError(outgoing, {
        kind: 'error',
        status: 400,
        message: "Invalid value for 'parallel_tool_calls': only allowed when 'tools' are specified.",
        type: 'invalid_request_error',
      });
      return;
    }
    const messagesError = checkMessages(completionBody.messages);
    if (messagesError !== undefined) {
      sendError(outgoing, { kind: 'error', status: 400, type: 'invalid_request_error', ...messagesError });
      return;
    }
    // Numbered before awaiting a handler, so concurrent requests keep their own ids.
    const number = ++completionCount;
    const reply = await replies.next(record);
    const context: ReplyContext = {
      record,
      number,
      body: isPlainObject(record.body) ? record.body : {},
      created: Math.floor(now() / 1000),
    };
    await sendReply(incoming, outgoing, reply, context);
  }

  const server = await startFakeServer({
    handle,
    sendFailure: (outgoing, message) => sendError(outgoing, { kind: 'error', status: 500, message }),
  });

  return {
    url: `${server.origin}/v1`,
    requests: server.requests,
    enqueue: replies.enqueue,
    enqueueEmbeddingFault(fault) {
      embeddingFaults.push(fault);
    },
    close: server.close,
  };
}

/** Content part types each role takes, as the real API checks them. */
const PART_TYPES: Record<string, readonly string[]> = {
  system: ['text'],
  developer: ['text'],
  user: ['text', 'image_url', 'input_audio', 'file'],
  assistant: ['text', 'refusal'],
  tool: ['text'],
};

/**
 * The real API's checks of `messages`: known roles, each role's content part types (a tool
 * message takes text alone: images go in a user message), tool messages answering the tool calls
 * of the assistant message before them, and every such call answered before the next message.
 */
function checkMessages(messages: unknown): { message: string; param: string } | undefined {
  // A bare body (tests of the fake's own faults) has nothing to check.
  if (!Array.isArray(messages)) return undefined;
  let unanswered: string[] = [];
  for (const [index, message] of (messages as unknown[]).entries()) {
    if (!isPlainObject(message)) return { message: 'Invalid type for message.', param: `messages[${index}]` };
    const role = typeof message.role === 'string' ? message.role : '';
    const types = PART_TYPES[role];
    if (types === undefined)
      return {
        message: `Invalid value: '${role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`,
        param: `messages[${index}].role`,
      };
    if (Array.isArray(message.content))
      for (const [position, part] of (message.content as unknown[]).entries()) {
        const type = isPlainObject(part) && typeof part.type === 'string' ? part.type : '';
        if (!types.includes(type))
          return {
            message: `Invalid value: '${type}'. Supported values are: ${types.map((name) => `'${name}'`).join(', ')}.`,
            param: `messages[${index}].content[${position}].type`,
          };
      }
    if (role === 'tool') {
      const id = message.tool_call_id;
      if (typeof id !== 'string' || !unanswered.includes(id))
        return {
          message:
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
          param: `messages[${index}].role`,
        };
      unanswered = unanswered.filter((pending) => pending !== id);
      continue;
    }
    if (unanswered.length > 0)
      return {
        message: `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${unanswered.join(', ')}`,
        param: 'messages',
      };
    if (role === 'assistant' && Array.isArray(message.tool_calls))
      unanswered = (message.tool_calls as unknown[]).map((call) =>
        isPlainObject(call) && typeof call.id === 'string' ? call.id : '',
      );
  }
  return undefined;
}

const unscripted: FakeErrorReply = {
  kind: 'error',
  status: 500,
  message: 'fake OpenAI server: no reply scripted for this request',
  type: 'server_error',
};

interface ReplyContext {
  record: FakeOpenAIRequest;
  /** 1-based number of this chat-completions request, for ids. */
  number: number;
  body: Record<string, unknown>;
  created: number;
}

async function sendReply(
  incoming: IncomingMessage,
  outgoing: ServerResponse,
  reply: FakeOpenAIReply,
  context: ReplyContext,
): Promise<void> {
  const streaming = context.body.stream === true;
  switch (reply.kind) {
    case undefined:
    case 'completion':
      if (streaming) await sendStream(outgoing, reply, context, {});
      else sendJson(outgoing, 200, completionBody(reply, context), requestIdHeaders(context, reply.headers));
      return;
    case 'error':
      sendError(outgoing, reply, requestIdHeaders(context));
      return;
    case 'malformed-json':
      if (streaming) {
        outgoing.writeHead(200, streamHeaders(context));
        outgoing.end(`data: ${reply.body ?? '{"id":"chatcmpl-broken","choices":[{"delta":{"content":'}\n\n`);
      } else {
        outgoing.writeHead(200, { 'content-type': 'application/json', ...requestIdHeaders(context) });
        outgoing.end(reply.body ?? '{"id":"chatcmpl-broken","choices":[{"message":');
      }
      return;
    case 'truncated': {
      const completion = reply.reply ?? { content: 'This answer is cut off' };
      if (streaming) {
        const chunks = streamChunks(completion, context);
        // By default, cut right before the finish-reason chunk: no terminal event at all.
        const cut = reply.afterChunks ?? chunks.findIndex((chunk) => chunk.finishing);
        await sendStream(outgoing, completion, context, { stopAfter: cut, ending: 'end' });
      } else {
        const body = JSON.stringify(completionBody(completion, context));
        outgoing.writeHead(200, { 'content-type': 'application/json', ...requestIdHeaders(context) });
        outgoing.end(body.slice(0, Math.floor(body.length / 2)));
      }
      return;
    }
    case 'hang':
    case 'reset': {
      const ending = reply.kind === 'hang' ? 'hang' : 'reset';
      if (reply.afterChunks === undefined || !streaming) {
        if (ending === 'reset') resetConnection(context.record, incoming.socket);
        // A hang answers nothing; the response ends when the client leaves or close() destroys it.
        return;
      }
      await sendStream(outgoing, reply.reply ?? { content: 'Hello from a stream that stops' }, context, {
        stopAfter: reply.afterChunks,
        ending,
      });
      return;
    }
    case 'raw':
      await sendRaw(outgoing, reply);
      return;
  }
}

interface StreamChunk {
  data: ChatCompletionChunk;
  /** The chunk that carries the finish reason. */
  finishing: boolean;
}

async function sendStream(
  outgoing: ServerResponse,
  reply: FakeCompletionReply,
  context: ReplyContext,
  { stopAfter, ending = 'end' }: { stopAfter?: number; ending?: FakeStreamEnding },
): Promise<void> {
  const chunks = streamChunks(reply, context);
  await sendEventStream(outgoing, {
    record: context.record,
    headers: streamHeaders(context, reply.headers),
    // A negative stopAfter sends nothing, as "stop after that many chunks" reads.
    frames: chunks
      .slice(0, Math.max(0, stopAfter ?? chunks.length))
      .map((chunk) => `data: ${JSON.stringify(chunk.data)}\n\n`),
    delayMs: reply.delayMs,
    ending,
    // Only a complete stream gets the terminator; a cut one must look cut.
    trailer: stopAfter === undefined ? 'data: [DONE]\n\n' : undefined,
  });
}

/** The chunks of a streamed answer, in OpenAI's order. */
function streamChunks(reply: FakeCompletionReply, context: ReplyContext): StreamChunk[] {
  const includeUsage =
    reply.usage !== 'omit' &&
    isPlainObject(context.body.stream_options) &&
    context.body.stream_options.include_usage === true;
  const model = reply.model ?? requestedModel(context);
  const size = Math.max(1, reply.chunkSize ?? 4);
  const chunk = (delta: ChatChunkDelta, finishReason: string | null = null): StreamChunk => ({
    data: {
      id: `chatcmpl-fake-${context.number}`,
      object: 'chat.completion.chunk',
      created: context.created,
      model,
      service_tier: 'default',
      system_fingerprint: 'fp_fake',
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      ...(includeUsage ? { usage: null } : {}),
    },
    finishing: finishReason !== null,
  });
  const content = reply.content ?? '';
  const toolCalls = normalizeToolCalls(reply, context);
  const chunks: StreamChunk[] = [
    chunk({ role: 'assistant', content: content === '' ? null : '', refusal: null }),
  ];
  for (const piece of splitByCodePoints(content, size)) chunks.push(chunk({ content: piece }));
  for (const piece of splitByCodePoints(reply.refusal ?? '', size)) chunks.push(chunk({ refusal: piece }));

  const callChunks = toolCalls.map((call, index) => [
    chunk({
      tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }],
    }),
    ...splitByCodePoints(call.arguments, size).map((piece) =>
      chunk({ tool_calls: [{ index, function: { arguments: piece } }] }),
    ),
  ]);
  if (reply.interleaveToolCalls) {
    const longest = Math.max(0, ...callChunks.map((list) => list.length));
    for (let step = 0; step < longest; step++) {
      for (const list of callChunks) {
        const next = list[step];
        if (next !== undefined) chunks.push(next);
      }
    }
  } else chunks.push(...callChunks.flat());

  chunks.push(chunk({}, finishReasonOf(reply, toolCalls)));
  if (includeUsage) {
    const { choices: _choices, ...envelope } = chunk({}).data;
    chunks.push({
      data: { ...envelope, choices: [], usage: usageBody(reply, context, toolCalls) },
      finishing: false,
    });
  }
  return chunks;
}

function completionBody(reply: FakeCompletionReply, context: ReplyContext): ChatCompletion {
  const toolCalls = normalizeToolCalls(reply, context);
  return {
    id: `chatcmpl-fake-${context.number}`,
    object: 'chat.completion',
    created: context.created,
    model: reply.model ?? requestedModel(context),
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: reply.content ?? null,
          refusal: reply.refusal ?? null,
          annotations: [],
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
        finish_reason: finishReasonOf(reply, toolCalls),
      },
    ],
    ...(reply.usage === 'omit' ? {} : { usage: usageBody(reply, context, toolCalls) }),
    service_tier: 'default',
    system_fingerprint: 'fp_fake',
  };
}

function normalizeToolCalls(
  reply: FakeCompletionReply,
  context: ReplyContext,
): { id: string; name: string; arguments: string }[] {
  return (reply.toolCalls ?? []).map((call, index) => ({
    id: call.id ?? `call_${context.number}_${index}`,
    name: call.name,
    arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments),
  }));
}

function finishReasonOf(reply: FakeCompletionReply, toolCalls: unknown[]): string {
  return reply.finishReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop');
}

function usageBody(
  reply: FakeCompletionReply,
  context: ReplyContext,
  toolCalls: { name: string; arguments: string }[],
): ChatUsage {
  const usage = reply.usage === 'omit' ? undefined : reply.usage;
  const outputText =
    (reply.content ?? '') +
    (reply.refusal ?? '') +
    toolCalls.map((call) => call.name + call.arguments).join('');
  const promptTokens =
    usage?.promptTokens ?? Math.ceil(JSON.stringify(context.body.messages ?? []).length / 4);
  const completionTokens = usage?.completionTokens ?? Math.ceil(outputText.length / 4);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: usage?.cachedTokens ?? 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: usage?.reasoningTokens ?? 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

/**
 * An embeddings answer: per input, a unit vector derived from a hash of the text, so equal texts
 * get equal vectors, as floats or base64 per `encoding_format`; `prompt_tokens` counts 4
 * characters a token.
 */
function sendEmbeddings(outgoing: ServerResponse, body: Record<string, unknown>): void {
  const inputs = Array.isArray(body.input) ? body.input : [body.input];
  const texts = inputs.map((input) => (typeof input === 'string' ? input : JSON.stringify(input)));
  const dimensions = typeof body.dimensions === 'number' ? body.dimensions : FAKE_EMBEDDING_DIMENSIONS;
  const promptTokens = texts.reduce((sum, text) => sum + Math.ceil(text.length / 4), 0);
  const answer: EmbeddingsResponse = {
    object: 'list',
    data: texts.map((text, index) => {
      const vector = fakeEmbedding(text, dimensions);
      // The official SDK asks for base64 (little-endian float32s) unless told otherwise.
      const embedding =
        body.encoding_format === 'base64'
          ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
          : vector;
      return { object: 'embedding', index, embedding };
    }),
    model: typeof body.model === 'string' ? body.model : 'text-embedding-3-small',
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
  sendJson(outgoing, 200, answer);
}

/** A deterministic unit vector for a text. */
export function fakeEmbedding(text: string, dimensions = FAKE_EMBEDDING_DIMENSIONS): number[] {
  const values: number[] = [];
  for (let block = 0; values.length < dimensions; block++) {
    const digest = createHash('sha256').update(`${block}:${text}`).digest();
    for (let offset = 0; offset + 1 < digest.length && values.length < dimensions; offset += 2) {
      values.push(digest.readUInt16BE(offset) / 32_767.5 - 1);
    }
  }
  const norm = Math.hypot(...values) || 1;
  return values.map((value) => value / norm);
}

const ERROR_TYPES: Record<number, { type: string; code: string | null; message: string }> = {
  400: { type: 'invalid_request_error', code: null, message: 'Invalid request.' },
  401: { type: 'invalid_request_error', code: 'invalid_api_key', message: 'Incorrect API key provided.' },
  403: { type: 'invalid_request_error', code: 'unsupported_country_region_territory', message: 'Forbidden.' },
  404: { type: 'invalid_request_error', code: 'model_not_found', message: 'The model does not exist.' },
  429: {
    type: 'requests',
    code: 'rate_limit_exceeded',
    message: 'Rate limit reached. Please try again later.',
  },
  500: {
    type: 'server_error',
    code: null,
    message: 'The server had an error while processing your request.',
  },
  503: {
    type: 'server_error',
    code: null,
    message: 'The engine is currently overloaded, please try again later.',
  },
};

function sendError(
  outgoing: ServerResponse,
  reply: FakeErrorReply,
  headers: Record<string, string> = {},
): void {
  const defaults = ERROR_TYPES[reply.status] ?? { type: 'server_error', code: null, message: 'Error.' };
  const body: OpenAIErrorBody = {
    error: {
      message: reply.message ?? defaults.message,
      type: reply.type ?? defaults.type,
      param: reply.param ?? null,
      code: reply.code === undefined ? defaults.code : reply.code,
    },
  };
  sendJson(outgoing, reply.status, body, {
    ...headers,
    ...(reply.retryAfter === undefined ? {} : { 'retry-after': String(reply.retryAfter) }),
    ...(reply.retryAfterMs === undefined ? {} : { 'retry-after-ms': String(reply.retryAfterMs) }),
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
  return { 'x-request-id': `req_fake_${context.number}`, ...extra };
}

function requestedModel(context: ReplyContext): string {
  return typeof context.body.model === 'string' ? context.body.model : 'gpt-4o-mini';
}
