/**
 * A local HTTP server that speaks OpenAI's chat-completions and Responses wire formats, for tests
 * of anything that calls an OpenAI-compatible endpoint (Keel's adapters, the official `openai`
 * client, the gateway, the Codex CLI). Each request to `POST /v1/chat/completions` or
 * `POST /v1/responses` gets the next scripted reply, encoded for the endpoint it came to: a
 * completion (plain or streamed, exactly as OpenAI streams it: on chat, the usage chunk only when
 * the request asks `stream_options.include_usage`; on Responses, the events of
 * fake-openai-responses.ts), a completion with hostile usage (none at all, negative or absurd
 * counts), or a fault (an error status with `retry-after`, malformed JSON, a stream cut before its
 * end, a provider error mid-stream, a hang, a connection reset). `POST /v1/embeddings` answers
 * with deterministic vectors (or a scripted fault). Every request is recorded for assertions.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isPlainObject } from '../model/json.js';
import type { EmbeddingsResponse, OpenAIErrorBody } from '../model/providers/openai/wire.js';
import {
  createReplyScript,
  resetConnection,
  sendEventStream,
  sendJson,
  sendRaw,
  startFakeServer,
  type FakeExchange,
  type FakeRawReply,
  type FakeRecordedRequest,
  type FakeStreamEnding,
} from './fake-server-kit.js';
import { chatStream, checkMessages, completionBody } from './fake-openai-chat.js';
import {
  checkResponsesInput,
  failedResponseBody,
  responseBody,
  responsesStream,
} from './fake-openai-responses.js';

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

/**
 * A reasoning output item of a Responses answer. Its `encrypted_content` is sent only when the
 * request's `include` has `reasoning.encrypted_content`, and its summary only when the request
 * asks one (`reasoning.summary`), as OpenAI does.
 */
export interface FakeReasoningItem {
  /** Default: `rs_fake_<request>_<position>`. */
  id?: string;
  encryptedContent: string;
  /** Summary texts, one `summary_text` part each. */
  summary?: string[];
}

/**
 * A successful answer, sent as JSON or as an event stream depending on the request's `stream`,
 * in the format of the endpoint the request came to (chat completions or Responses). On
 * Responses, the output items come in this order: `reasoning`, `outputItems`, a `message` with the
 * content and refusal, one `function_call` per tool call.
 */
export interface FakeCompletionReply {
  kind?: 'completion';
  content?: string | null;
  toolCalls?: FakeToolCall[];
  /** A structured-outputs refusal, sent in `refusal` instead of `content` (a `refusal` part on Responses). */
  refusal?: string;
  /**
   * Default: `tool_calls` when there are tool calls, else `stop`. On Responses, `length` makes the
   * response `incomplete` with reason `max_output_tokens`, `content_filter` with reason
   * `content_filter`.
   */
  finishReason?: string;
  /** Responses only (ignored on chat completions): reasoning items, first in the output. */
  reasoning?: FakeReasoningItem[];
  /**
   * Responses only (ignored on chat completions): output items of hosted tools sent as given, e.g.
   * `{ type: 'web_search_call', id: 'ws_1', status: 'completed', action: { type: 'search', query: 'x' } }`,
   * after the reasoning and before the message. Streamed as added (with status `in_progress`),
   * the tool's progress events for web, file search, code interpreter and image items, and done.
   */
  outputItems?: Record<string, unknown>[];
  /**
   * The counts to report, or `'omit'`: no usage at all, neither a `usage` field in a JSON answer
   * nor a usage chunk on a stream, even when the request asked for one (as many
   * OpenAI-compatible servers and proxies do).
   */
  usage?: FakeUsage | 'omit';
  /** The model named in the answer. Default: the requested model. */
  model?: string;
  /** Characters per streamed content delta, arguments or summary fragment. Default 4. */
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
 * A stream that ends cleanly at the HTTP level but before its end: after `afterChunks` chunks
 * (events on Responses), by default just before the finish-reason chunk (`response.completed` on
 * Responses), so no terminal event comes. On a non-streaming request, half the body.
 */
export interface FakeTruncatedReply {
  kind: 'truncated';
  reply?: FakeCompletionReply;
  afterChunks?: number;
}

/** Never answers (default), or stops sending after `afterChunks` streamed chunks (events on Responses). Ends when the client leaves or the server closes. */
export interface FakeHangReply {
  kind: 'hang';
  reply?: FakeCompletionReply;
  afterChunks?: number;
}

/** Destroys the connection before answering (default), or after `afterChunks` streamed chunks (events on Responses). */
export interface FakeResetReply {
  kind: 'reset';
  reply?: FakeCompletionReply;
  afterChunks?: number;
}

/**
 * A provider error once the answer began, as OpenAI reports one mid-stream. On a stream, after
 * `afterChunks` chunks (events on Responses; by default just before the terminal one), a
 * `response.failed` event on Responses
 * (its response `status: 'failed'` with `error: { code, message }` and the items done so far) or
 * a `data: {"error": ...}` chunk on chat completions, then the stream ends. On a non-streaming
 * request, a 200 Response with status `failed` on Responses, a 500 on chat completions.
 */
export interface FakeFailedReply {
  kind: 'failed';
  reply?: FakeCompletionReply;
  afterChunks?: number;
  /** Default `server_error`. */
  code?: string;
  message?: string;
}

/** One scripted answer. */
export type FakeOpenAIReply =
  | FakeCompletionReply
  | FakeErrorReply
  | FakeMalformedReply
  | FakeTruncatedReply
  | FakeFailedReply
  | FakeHangReply
  | FakeResetReply
  | FakeRawReply;

/** A fault of an embeddings request. */
export type FakeEmbeddingFault = FakeErrorReply | FakeMalformedReply | FakeHangReply | FakeResetReply;

/** Length of a fake embedding when the request names no `dimensions`. */
export const FAKE_EMBEDDING_DIMENSIONS = 8;

/**
 * A request as received; `path` tells the endpoint (`/v1/chat/completions`, `/v1/responses`,
 * `/v1/embeddings`). `outcome` is updated while the answer is sent.
 */
export type FakeOpenAIRequest = FakeRecordedRequest;

/** Options of {@link createFakeOpenAIServer}. */
export interface FakeOpenAIServerOptions {
  /** Replies used in order, one per chat-completions or Responses request, before `handler`. */
  script?: FakeOpenAIReply[];
  /** Answers requests once the script is used up. Without it, an unscripted request gets a 500. */
  handler?: (request: FakeOpenAIRequest) => FakeOpenAIReply | Promise<FakeOpenAIReply>;
  /** Epoch milliseconds for the `created` (`created_at` on Responses) field. */
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
    const endpoint =
      record.method !== 'POST'
        ? undefined
        : pathname === '/v1/chat/completions'
          ? 'chat'
          : pathname === '/v1/responses'
            ? 'responses'
            : undefined;
    if (endpoint === undefined) {
      sendError(outgoing, {
        kind: 'error',
        status: 404,
        message: `Invalid URL (${record.method} ${pathname ?? ''})`,
        type: 'invalid_request_error',
      });
      return;
    }
    // As the real API, before consuming a reply.
    const body = isPlainObject(record.body) ? record.body : {};
    if (endpoint === 'chat' && body.parallel_tool_calls !== undefined && !Array.isArray(body.tools)) {
      sendError(outgoing, {
        kind: 'error',
        status: 400,
        message: "Invalid value for 'parallel_tool_calls': only allowed when 'tools' are specified.",
        type: 'invalid_request_error',
      });
      return;
    }
    const inputError = endpoint === 'chat' ? checkMessages(body.messages) : checkResponsesInput(body);
    if (inputError !== undefined) {
      sendError(outgoing, { kind: 'error', status: 400, type: 'invalid_request_error', ...inputError });
      return;
    }
    // Numbered before awaiting a handler, so concurrent requests keep their own ids.
    const number = ++completionCount;
    const reply = await replies.next(record);
    const context: ReplyContext = { record, endpoint, number, body, created: Math.floor(now() / 1000) };
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

/**
 * A scripted completion with its details settled, as the encoders of each endpoint
 * (fake-openai-chat.ts, fake-openai-responses.ts) take it.
 */
export interface FakeAnswer {
  reply: FakeCompletionReply;
  /** With ids and arguments text settled. */
  toolCalls: { id: string; name: string; arguments: string }[];
  /** Chat's finish reason, defaulted. */
  finishReason: string;
  /** 1-based number of the request, for ids. */
  number: number;
  body: Record<string, unknown>;
  /** Epoch seconds. */
  created: number;
}

/** A provider error reported once the answer began. */
export interface FakeFailure {
  code: string;
  message: string;
}

/** A streamed answer's frames in an endpoint's format. */
export interface FakeStreamPlan {
  frames: string[];
  /** Index of the frame that ends the answer (the finish-reason chunk, `response.completed`). */
  terminal: number;
  /** Written after a complete stream only: chat's `[DONE]`; a Responses stream has none. */
  trailer?: string;
  /** The frame of a provider error after the first `sent` frames. */
  failure(sent: number, failure: FakeFailure): string;
}

const unscripted: FakeErrorReply = {
  kind: 'error',
  status: 500,
  message: 'fake OpenAI server: no reply scripted for this request',
  type: 'server_error',
};

interface ReplyContext {
  record: FakeOpenAIRequest;
  /** The format to answer in. */
  endpoint: 'chat' | 'responses';
  /** 1-based number of this chat-completions or Responses request, for ids. */
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
  const responses = context.endpoint === 'responses';
  switch (reply.kind) {
    case undefined:
    case 'completion':
      if (streaming) await sendStream(outgoing, reply, context, {});
      else sendJson(outgoing, 200, answerBody(reply, context), requestIdHeaders(context, reply.headers));
      return;
    case 'error':
      sendError(outgoing, reply, requestIdHeaders(context));
      return;
    case 'malformed-json':
      if (streaming) {
        outgoing.writeHead(200, streamHeaders(context));
        outgoing.end(
          reply.body === undefined
            ? responses
              ? 'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":\n\n'
              : 'data: {"id":"chatcmpl-broken","choices":[{"delta":{"content":\n\n'
            : `data: ${reply.body}\n\n`,
        );
      } else {
        outgoing.writeHead(200, { 'content-type': 'application/json', ...requestIdHeaders(context) });
        outgoing.end(
          reply.body ??
            (responses
              ? '{"id":"resp_broken","output":[{"type":'
              : '{"id":"chatcmpl-broken","choices":[{"message":'),
        );
      }
      return;
    case 'truncated': {
      const completion = reply.reply ?? { content: 'This answer is cut off' };
      if (streaming) {
        // By default, cut right before the terminal chunk or event.
        const cut = reply.afterChunks ?? streamPlan(completion, context).terminal;
        await sendStream(outgoing, completion, context, { stopAfter: cut, ending: 'end' });
      } else {
        const body = JSON.stringify(answerBody(completion, context));
        outgoing.writeHead(200, { 'content-type': 'application/json', ...requestIdHeaders(context) });
        outgoing.end(body.slice(0, Math.floor(body.length / 2)));
      }
      return;
    }
    case 'failed': {
      const completion = reply.reply ?? { content: 'This answer fails' };
      const failure = {
        code: reply.code ?? 'server_error',
        message: reply.message ?? 'The server had an error while processing your request.',
      };
      if (streaming) {
        const cut = reply.afterChunks ?? streamPlan(completion, context).terminal;
        await sendStream(outgoing, completion, context, { stopAfter: cut, ending: 'end', failure });
      } else if (responses)
        sendJson(
          outgoing,
          200,
          failedResponseBody(answerOf(completion, context), failure),
          requestIdHeaders(context),
        );
      else
        sendError(
          outgoing,
          { kind: 'error', status: 500, type: 'server_error', ...failure },
          requestIdHeaders(context),
        );
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

function streamPlan(reply: FakeCompletionReply, context: ReplyContext): FakeStreamPlan {
  const answer = answerOf(reply, context);
  return context.endpoint === 'responses' ? responsesStream(answer) : chatStream(answer);
}

async function sendStream(
  outgoing: ServerResponse,
  reply: FakeCompletionReply,
  context: ReplyContext,
  {
    stopAfter,
    ending = 'end',
    failure,
  }: { stopAfter?: number; ending?: FakeStreamEnding; failure?: FakeFailure },
): Promise<void> {
  const plan = streamPlan(reply, context);
  // A negative stopAfter sends nothing, as "stop after that many chunks" reads.
  const frames = plan.frames.slice(0, Math.max(0, stopAfter ?? plan.frames.length));
  await sendEventStream(outgoing, {
    record: context.record,
    headers: streamHeaders(context, reply.headers),
    frames: failure === undefined ? frames : [...frames, plan.failure(frames.length, failure)],
    delayMs: reply.delayMs,
    ending,
    // Only a complete stream gets the terminator; a cut one must look cut.
    trailer: stopAfter === undefined ? plan.trailer : undefined,
  });
}

/** The JSON answer in the endpoint's format. */
function answerBody(reply: FakeCompletionReply, context: ReplyContext): unknown {
  const answer = answerOf(reply, context);
  return context.endpoint === 'responses' ? responseBody(answer) : completionBody(answer);
}

function answerOf(reply: FakeCompletionReply, context: ReplyContext): FakeAnswer {
  const toolCalls = normalizeToolCalls(reply, context);
  const { number, body, created } = context;
  return { reply, toolCalls, finishReason: finishReasonOf(reply, toolCalls), number, body, created };
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
