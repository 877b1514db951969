/**
 * A local HTTP server that speaks the Gemini API (`models/{model}:generateContent` and
 * `:streamGenerateContent?alt=sse`), for tests of anything that calls Gemini: Keel's adapter, the
 * gateway. Each request gets the next scripted reply: content (plain JSON, or the event stream
 * Gemini sends: one `GenerateContentResponse` per event, the finish reason and full usage in the
 * last) or a fault (an error status with Google's error body, `RetryInfo` and `retry-after`, an
 * error mid-stream, malformed JSON, a stream cut before its finish reason, a hang, a connection
 * reset, a slow drip). Every request is recorded, including whether the client went away first.
 */
import type {
  GeminiPart,
  GeminiUsage,
  GenerateContentResponse,
  GoogleErrorBody,
} from '../model/providers/gemini/wire.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isPlainObject } from '../model/json.js';
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

/** A function call of a scripted answer. Gemini sends each call whole, never in fragments. */
export interface FakeGeminiFunctionCall {
  name: string;
  args?: Record<string, unknown>;
  /** Newer models may send an id; most send none. */
  id?: string;
  /** Gemini 3 models attach a signature to the first function call of a turn. */
  thoughtSignature?: string;
}

/** The data fields of a part: each part holds exactly one. */
const PART_DATA = ['text', 'inlineData', 'fileData', 'functionCall', 'functionResponse'];

/**
 * The real API's checks of `contents` and `systemInstruction`: turns are `user` or `model` (there
 * is no system turn), and each part holds exactly one kind of data.
 */
function checkContents(body: Record<string, unknown>): string | undefined {
  const contents = Array.isArray(body.contents) ? (body.contents as unknown[]) : [];
  const turns = [...contents.entries()].map(([index, turn]) => ({ at: `contents[${index}]`, turn }));
  if (body.systemInstruction !== undefined)
    turns.push({ at: 'system_instruction', turn: body.systemInstruction });
  for (const { at, turn } of turns) {
    if (!isPlainObject(turn)) return `Invalid value at '${at}'.`;
    if (at !== 'system_instruction' && turn.role !== 'user' && turn.role !== 'model')
      return 'Please use a valid role: user, model.';
    const parts = Array.isArray(turn.parts) ? (turn.parts as unknown[]) : [];
    for (const [position, part] of parts.entries()) {
      const data = isPlainObject(part) ? PART_DATA.filter((field) => part[field] !== undefined) : [];
      if (data.length !== 1)
        return `Invalid value at '${at}.parts[${position}]' (oneof field 'data' must be set exactly once).`;
    }
  }
  return undefined;
}

/** Token counts of a scripted answer; missing counts are estimated from the text (4 chars a token). */
export interface FakeGeminiUsage {
  promptTokens?: number;
  candidatesTokens?: number;
  /** Prompt tokens served from a context cache (part of promptTokens). */
  cachedTokens?: number;
  /** Thinking tokens (not part of candidatesTokens, as Gemini counts them). */
  thoughtsTokens?: number;
}

/** A successful answer, as JSON or as an event stream depending on the method called. */
export interface FakeGeminiContentReply {
  kind?: 'content';
  text?: string;
  /** A thought-summary part (`thought: true`) before the text. */
  thought?: string;
  functionCalls?: FakeGeminiFunctionCall[];
  /** Default `STOP`. */
  finishReason?: string;
  /** Blocks the prompt: no candidates, `promptFeedback.blockReason` instead. */
  blockReason?: string;
  usage?: FakeGeminiUsage;
  /** The `modelVersion` of the answer. Default: the requested model. */
  model?: string;
  /** Characters per streamed text chunk. Default 8. */
  chunkSize?: number;
  /** Pause between streamed chunks, in milliseconds (a slow drip). */
  delayMs?: number;
  headers?: Record<string, string>;
}

/** An HTTP error with Google's body `{ error: { code, message, status, details } }`. */
export interface FakeGeminiErrorReply {
  kind: 'error';
  status: number;
  message?: string;
  /** The canonical status name. Default by HTTP status, e.g. `RESOURCE_EXHAUSTED`, `UNAVAILABLE`. */
  statusName?: string;
  /** Adds a `google.rpc.RetryInfo` detail, e.g. `34.5s`. */
  retryDelay?: string;
  /** The `retry-after` header: seconds or an HTTP date. */
  retryAfter?: number | string;
  headers?: Record<string, string>;
}

/** A stream that starts normally, then sends an `{ error }` event after `afterChunks` chunks and ends. */
export interface FakeGeminiStreamErrorReply {
  kind: 'stream-error';
  reply?: FakeGeminiContentReply;
  /** Default 1. */
  afterChunks?: number;
  /** Default 503. */
  status?: number;
  message?: string;
}

/** A 200 whose body is not JSON; on a stream, an event that is not JSON. */
export interface FakeGeminiMalformedReply {
  kind: 'malformed-json';
  body?: string;
}

/** A stream that ends cleanly at the HTTP level without a finish reason (by default, before the last chunk). */
export interface FakeGeminiTruncatedReply {
  kind: 'truncated';
  reply?: FakeGeminiContentReply;
  afterChunks?: number;
}

/** Never answers (default), or stops sending after `afterChunks` streamed chunks. */
export interface FakeGeminiHangReply {
  kind: 'hang';
  reply?: FakeGeminiContentReply;
  afterChunks?: number;
}

/** Destroys the connection before answering (default), or after `afterChunks` streamed chunks. */
export interface FakeGeminiResetReply {
  kind: 'reset';
  reply?: FakeGeminiContentReply;
  afterChunks?: number;
}

/** Exactly these bytes: each string of `body` is written separately. */
export type FakeGeminiRawReply = FakeRawReply;

/** One scripted answer. */
export type FakeGeminiReply =
  | FakeGeminiContentReply
  | FakeGeminiErrorReply
  | FakeGeminiStreamErrorReply
  | FakeGeminiMalformedReply
  | FakeGeminiTruncatedReply
  | FakeGeminiHangReply
  | FakeGeminiResetReply
  | FakeGeminiRawReply;

/**
 * A request as received, e.g. on `/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse`.
 * `outcome` is updated while the answer is sent.
 */
export interface FakeGeminiRequest extends FakeRecordedRequest {
  /** The model of the path, e.g. `gemini-2.5-flash`. */
  model: string | undefined;
}

/** Options of {@link createFakeGeminiServer}. */
export interface FakeGeminiServerOptions {
  /** Replies used in order, one per generate request, before `handler`. */
  script?: FakeGeminiReply[];
  /** Answers requests once the script is used up. Without it, an unscripted request gets a 500. */
  handler?: (request: FakeGeminiRequest) => FakeGeminiReply | Promise<FakeGeminiReply>;
}

/** A running fake. */
export interface FakeGeminiServer {
  /** Base URL ending in `/v1beta`. */
  url: string;
  /** Every request received, in order. */
  requests: FakeGeminiRequest[];
  /** Appends a reply to the script. */
  enqueue(reply: FakeGeminiReply): void;
  /** Stops the server, ending hanging responses and open connections. */
  close(): Promise<void>;
}

const GENERATE_PATH = /^\/v1beta\/((?:models|tunedModels)\/[^:]+):(generateContent|streamGenerateContent)$/;

/**
 * Starts a fake on 127.0.0.1 with a free port. Like the real API, a request without a key
 * (`x-goog-api-key` header or `key` query parameter) gets a 403 before consuming a scripted reply.
 */
export async function createFakeGeminiServer(
  options: FakeGeminiServerOptions = {},
): Promise<FakeGeminiServer> {
  const { script, handler } = options;
  const replies = createReplyScript({ script, handler, unscripted });
  let generateCount = 0;

  async function handle({ incoming, outgoing, record }: FakeExchange<FakeGeminiRequest>): Promise<void> {
    const { url, match } = parseGeneratePath(record.path);
    if (record.method !== 'POST' || match === null) {
      sendError(outgoing, { kind: 'error', status: 404, message: `Not found: ${url.pathname}` });
      return;
    }
    if (record.headers['x-goog-api-key'] === undefined && !url.searchParams.has('key')) {
      sendError(outgoing, {
        kind: 'error',
        status: 403,
        message:
          "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
      });
      return;
    }
    if (!isPlainObject(record.body)) {
      sendError(outgoing, { kind: 'error', status: 400, message: 'Invalid JSON payload received.' });
      return;
    }
    const contentsError = checkContents(record.body);
    if (contentsError !== undefined) {
      sendError(outgoing, { kind: 'error', status: 400, message: contentsError });
      return;
    }
    // Numbered before awaiting a handler, so concurrent requests keep their own ids.
    const number = ++generateCount;
    const reply = await replies.next(record);
    const mode =
      match[2] === 'generateContent' ? 'json' : url.searchParams.get('alt') === 'sse' ? 'sse' : 'array';
    await sendReply(incoming, outgoing, reply, {
      record,
      number,
      body: record.body,
      model: record.model ?? 'gemini-2.5-flash',
      mode,
    });
  }

  const server = await startFakeServer({
    // The model goes right after the path, where readers of a recorded request look for it.
    record: ({ method, path, ...rest }): FakeGeminiRequest => ({
      method,
      path,
      model: parseGeneratePath(path).match?.[1]?.replace(/^models\//, ''),
      ...rest,
    }),
    handle,
    sendFailure: (outgoing, message) => sendError(outgoing, { kind: 'error', status: 500, message }),
  });

  return {
    url: `${server.origin}/v1beta`,
    requests: server.requests,
    enqueue: replies.enqueue,
    close: server.close,
  };
}

/** The URL of a request path and, for a generate method, its match of {@link GENERATE_PATH}. */
function parseGeneratePath(path: string): { url: URL; match: RegExpExecArray | null } {
  const url = new URL(path, 'http://fake');
  return { url, match: GENERATE_PATH.exec(url.pathname) };
}

const unscripted: FakeGeminiErrorReply = {
  kind: 'error',
  status: 500,
  message: 'fake Gemini server: no reply scripted for this request',
};

interface ReplyContext {
  record: FakeGeminiRequest;
  /** 1-based number of this generate request, for ids. */
  number: number;
  body: Record<string, unknown>;
  model: string;
  /** `json`: generateContent; `sse`: streamGenerateContent?alt=sse; `array`: streamGenerateContent as a JSON array. */
  mode: 'json' | 'sse' | 'array';
}

async function sendReply(
  incoming: IncomingMessage,
  outgoing: ServerResponse,
  reply: FakeGeminiReply,
  context: ReplyContext,
): Promise<void> {
  switch (reply.kind) {
    case undefined:
    case 'content':
      if (context.mode === 'sse')
        await sendChunks(outgoing, streamChunks(reply, context), reply, context, 'end');
      else if (context.mode === 'array')
        sendGoogleJson(outgoing, 200, streamChunks(reply, context), reply.headers);
      else sendGoogleJson(outgoing, 200, responseBody(reply, context), reply.headers);
      return;
    case 'error':
      sendError(outgoing, reply);
      return;
    case 'stream-error': {
      const content = reply.reply ?? { text: 'This answer will be interrupted' };
      const status = reply.status ?? 503;
      const error = errorBody({
        kind: 'error',
        status,
        message: reply.message ?? 'The model is overloaded. Please try again later.',
      });
      const chunks = [...streamChunks(content, context).slice(0, reply.afterChunks ?? 1), error];
      await sendChunks(outgoing, chunks, content, context, 'end');
      return;
    }
    case 'malformed-json':
      outgoing.writeHead(200, {
        'content-type': context.mode === 'sse' ? 'text/event-stream' : 'application/json',
      });
      if (context.mode === 'sse')
        outgoing.end(`data: ${reply.body ?? '{"candidates": [{"content": {"parts": [{"te'}\r\n\r\n`);
      else outgoing.end(reply.body ?? '{"candidates": [{"content": {"parts": [{"te');
      return;
    case 'truncated': {
      const content = reply.reply ?? { text: 'This answer is cut off somewhere in the middle' };
      if (context.mode === 'sse') {
        const chunks = streamChunks(content, context);
        await sendChunks(
          outgoing,
          chunks.slice(0, reply.afterChunks ?? chunks.length - 1),
          content,
          context,
          'end',
        );
      } else {
        const body = JSON.stringify(
          context.mode === 'json' ? responseBody(content, context) : streamChunks(content, context),
        );
        outgoing.writeHead(200, { 'content-type': 'application/json' });
        outgoing.end(body.slice(0, Math.floor(body.length / 2)));
      }
      return;
    }
    case 'hang':
    case 'reset': {
      const ending = reply.kind;
      if (reply.afterChunks === undefined || context.mode !== 'sse') {
        if (ending === 'reset') resetConnection(context.record, incoming.socket);
        // A hang answers nothing; the response ends when the client leaves or close() destroys it.
        return;
      }
      const content = reply.reply ?? { text: 'Hello from a stream that stops before its end' };
      await sendChunks(
        outgoing,
        streamChunks(content, context).slice(0, reply.afterChunks),
        content,
        context,
        ending,
      );
      return;
    }
    case 'raw':
      await sendRaw(outgoing, reply);
      return;
  }
}

async function sendChunks(
  outgoing: ServerResponse,
  chunks: unknown[],
  reply: FakeGeminiContentReply,
  context: ReplyContext,
  ending: FakeStreamEnding,
): Promise<void> {
  await sendEventStream(outgoing, {
    record: context.record,
    headers: { 'content-type': 'text/event-stream', ...reply.headers },
    // Gemini separates its events with CRLF pairs.
    frames: chunks.map((chunk) => `data: ${JSON.stringify(chunk)}\r\n\r\n`),
    delayMs: reply.delayMs,
    ending,
  });
}

type Part = GeminiPart;

function answerParts(reply: FakeGeminiContentReply): { textParts: Part[]; callParts: Part[] } {
  const textParts: Part[] = [];
  if (reply.thought !== undefined) textParts.push({ text: reply.thought, thought: true });
  if (reply.text !== undefined && reply.text !== '') textParts.push({ text: reply.text });
  const callParts = (reply.functionCalls ?? []).map((call) => ({
    functionCall: {
      ...(call.id === undefined ? {} : { id: call.id }),
      name: call.name,
      args: call.args ?? {},
    },
    ...(call.thoughtSignature === undefined ? {} : { thoughtSignature: call.thoughtSignature }),
  }));
  return { textParts, callParts };
}

function responseBody(reply: FakeGeminiContentReply, context: ReplyContext): GenerateContentResponse {
  const envelope = {
    usageMetadata: usageBody(reply, context, true),
    modelVersion: reply.model ?? context.model,
    responseId: `resp_fake_${context.number}`,
  };
  if (reply.blockReason !== undefined)
    return { promptFeedback: { blockReason: reply.blockReason }, ...envelope };
  const { textParts, callParts } = answerParts(reply);
  return {
    candidates: [
      {
        content: { parts: [...textParts, ...callParts], role: 'model' },
        finishReason: reply.finishReason ?? 'STOP',
        index: 0,
      },
    ],
    ...envelope,
  };
}

/** The chunks of a streamed answer: text in pieces, then the function calls whole with the finish reason. */
function streamChunks(reply: FakeGeminiContentReply, context: ReplyContext): GenerateContentResponse[] {
  if (reply.blockReason !== undefined) return [responseBody(reply, context)];
  const size = reply.chunkSize ?? 8;
  const envelope = (final: boolean) => ({
    usageMetadata: usageBody(reply, context, final),
    modelVersion: reply.model ?? context.model,
    responseId: `resp_fake_${context.number}`,
  });
  const candidate = (parts: Part[], finishReason?: string): GenerateContentResponse => ({
    candidates: [
      {
        content: { parts, role: 'model' },
        ...(finishReason === undefined ? {} : { finishReason }),
        index: 0,
      },
    ],
  });
  const chunks: GenerateContentResponse[] = [];
  if (reply.thought !== undefined)
    chunks.push({ ...candidate([{ text: reply.thought, thought: true }]), ...envelope(false) });
  for (const piece of splitByCodePoints(reply.text ?? '', size))
    chunks.push({ ...candidate([{ text: piece }]), ...envelope(false) });
  const { callParts } = answerParts(reply);
  chunks.push({ ...candidate(callParts, reply.finishReason ?? 'STOP'), ...envelope(true) });
  return chunks;
}

function usageBody(reply: FakeGeminiContentReply, context: ReplyContext, final: boolean): GeminiUsage {
  const prompt =
    reply.usage?.promptTokens ??
    Math.ceil(
      (JSON.stringify(context.body.contents ?? []) + JSON.stringify(context.body.systemInstruction ?? ''))
        .length / 4,
    );
  // Mid-stream chunks report the prompt only; the last one has every count.
  if (!final) return { promptTokenCount: prompt, totalTokenCount: prompt };
  const outputText =
    (reply.text ?? '') +
    (reply.functionCalls ?? []).map((call) => call.name + JSON.stringify(call.args ?? {})).join('');
  const candidates = reply.usage?.candidatesTokens ?? Math.ceil(outputText.length / 4);
  const thoughts = reply.usage?.thoughtsTokens;
  return {
    promptTokenCount: prompt,
    candidatesTokenCount: candidates,
    totalTokenCount: prompt + candidates + (thoughts ?? 0),
    ...(reply.usage?.cachedTokens === undefined ? {} : { cachedContentTokenCount: reply.usage.cachedTokens }),
    ...(thoughts === undefined ? {} : { thoughtsTokenCount: thoughts }),
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
  };
}

const STATUS_NAMES: Record<number, { name: string; message: string }> = {
  400: { name: 'INVALID_ARGUMENT', message: 'Request contains an invalid argument.' },
  401: { name: 'UNAUTHENTICATED', message: 'Request had invalid authentication credentials.' },
  403: { name: 'PERMISSION_DENIED', message: 'The caller does not have permission.' },
  404: { name: 'NOT_FOUND', message: 'Requested entity was not found.' },
  429: {
    name: 'RESOURCE_EXHAUSTED',
    message: 'You exceeded your current quota, please check your plan and billing details.',
  },
  500: {
    name: 'INTERNAL',
    message:
      'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
  },
  503: { name: 'UNAVAILABLE', message: 'The model is overloaded. Please try again later.' },
  504: { name: 'DEADLINE_EXCEEDED', message: 'Deadline expired before operation could complete.' },
};

function errorBody(reply: FakeGeminiErrorReply): GoogleErrorBody {
  const defaults = STATUS_NAMES[reply.status] ?? { name: 'UNKNOWN', message: 'Unknown error.' };
  return {
    error: {
      code: reply.status,
      message: reply.message ?? defaults.message,
      status: reply.statusName ?? defaults.name,
      ...(reply.retryDelay === undefined
        ? {}
        : {
            details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: reply.retryDelay }],
          }),
    },
  };
}

function sendError(outgoing: ServerResponse, reply: FakeGeminiErrorReply): void {
  sendGoogleJson(outgoing, reply.status, errorBody(reply), {
    ...(reply.retryAfter === undefined ? {} : { 'retry-after': String(reply.retryAfter) }),
    ...reply.headers,
  });
}

/** Sends JSON as Google does, with an explicit charset. */
function sendGoogleJson(
  outgoing: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  sendJson(outgoing, status, body, { 'content-type': 'application/json; charset=UTF-8', ...headers });
}
