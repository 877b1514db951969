/**
 * Talking HTTP to a model provider: the transport every native adapter (OpenAI-compatible,
 * Anthropic, Gemini) shares. It posts the JSON request with the caller's abort signal; turns a
 * network failure into a retryable ProviderError without status, and an error status into a
 * ProviderError with the provider's message and `retryAfterMs` (read by retry-after.ts); keeps API
 * keys out of every message; and reads answers leniently, a JSON body or a stream of JSON events,
 * checking each for an error body before the adapter's schema validates it. An abort always
 * rejects with the signal's reason.
 *
 * What differs between providers stays in the adapter and is passed in: authentication headers,
 * the shape of an error body ({@link ProviderHttpOptions.readErrorBody}), the request-id header, the
 * key shapes to mask.
 */
import { z } from 'zod';
import { isKeelError } from '../errors/keel-error.js';
import { ModelOutputError, ProviderError } from '../errors/model-errors.js';
import type { Clock } from '../util/clock.js';
import { stringifyJsonUtf8 } from '../util/json-utf8.js';
import { parseJson } from './json.js';
import { parseRetryAfter } from './retry-after.js';
import { readEventStream, type ServerSentEvent } from './sse.js';

/** What an adapter reads from its provider's error body. */
export interface ProviderErrorBody {
  /** The provider's message with its error type or status name, e.g. `Overloaded (overloaded_error)`. */
  message: string;
  /** The HTTP status the error stands for, when the body names one (an error inside a 200 stream). */
  status?: number;
  /** The wait the body itself asks for (Gemini's `RetryInfo`); a `retry-after` header wins. */
  retryAfterMs?: number;
  /** The request id the body carries; a request-id header wins. */
  requestId?: string;
}

/** A key shape that providers echo back in error messages, whole or masked, and what replaces it. */
export interface EchoedKeyPattern {
  /** Global, so that every occurrence is replaced. */
  pattern: RegExp;
  replacement: string;
}

/** `sk-...` keys: OpenAI's (also masked, as in `sk-proj-****abcd`) and Anthropic's (`sk-ant-...`). */
export const SK_KEY_PATTERN: EchoedKeyPattern = {
  pattern: /\bsk-[A-Za-z0-9_*\-.]{4,}/g,
  replacement: 'sk-[redacted]',
};

/** Google API keys (`AIza...`). */
export const GOOGLE_KEY_PATTERN: EchoedKeyPattern = {
  pattern: /\bAIza[0-9A-Za-z_-]{10,}/g,
  replacement: 'AIza[redacted]',
};

/** Options of {@link createProviderHttp}. */
export interface ProviderHttpOptions {
  /** Provider id, the prefix of every ProviderError message. */
  provider: string;
  /** Model id, named in output errors. */
  model: string;
  fetch: typeof globalThis.fetch;
  /** The adapter's own headers: authentication, API version. */
  providerHeaders: Record<string, string>;
  /** The caller's extra headers; they win over the adapter's own (names are lowercased first). */
  headers: Record<string, string>;
  /** The configured key, kept out of every message. */
  apiKey: string | undefined;
  /** Key shapes the provider may echo back, masked in every message. */
  echoedKeys: readonly EchoedKeyPattern[];
  /** Turns a `retry-after` HTTP date into a delay. */
  clock: Clock;
  /** Reads the provider's error body (parsed JSON); undefined when the value is not one. */
  readErrorBody: (value: unknown) => ProviderErrorBody | undefined;
  /** The response header that holds the request id, quoted in HTTP error messages. Default: none. */
  requestIdHeader?: string;
  /**
   * The status of an error inside a body (an `event: error`, an error sent with 200) that names
   * none. Default: none, which is retryable like a network failure.
   */
  defaultErrorStatus?: number;
}

/** Options of {@link ProviderHttp.post}. */
export interface PostOptions {
  endpoint: URL;
  /** Sent as JSON. */
  body: Record<string, unknown>;
  /** Whether an event stream is asked for (the `accept` header). */
  stream: boolean;
  signal: AbortSignal | undefined;
  /** Headers of this request alone (e.g. `anthropic-beta`); they win over every other. */
  headers?: Record<string, string>;
}

/** Options of {@link ProviderHttp.readText}: the answer of {@link ProviderHttp.post} and its call's signal. */
export interface ReadResponseOptions {
  response: Response;
  signal: AbortSignal | undefined;
}

/** Options of {@link ProviderHttp.readJson}. */
export interface ReadJsonOptions<Schema extends z.ZodType> extends ReadResponseOptions {
  /** Validates the body (leniently: adapters' schemas ignore unknown fields). */
  schema: Schema;
  /** What the body should be, in the error message: `a chat completion`, `a message`... */
  expected: string;
}

/** How {@link ProviderHttp.readEventData} reads one event's data. */
export interface EventReading<Schema extends z.ZodType> {
  /** Validates each event's data. */
  schema: Schema;
  /** What the provider's stream is made of, in error messages: `chunk` or `event`. */
  itemName: string;
  /** Events passed over unread (Anthropic's pings). Default: none. */
  isIgnored?: (event: ServerSentEvent) => boolean;
  /** Data passed over after the error check, before the schema (event types the adapter does not know). Default: all known. */
  isKnown?: (value: unknown) => boolean;
  /**
   * A cheap exact check of the common shape of an event's data: data it accepts is yielded as it
   * is, without the schema (a schema parse per event costs more than the rest of the event's
   * relay). It must accept only data the schema accepts and reads the same. Default: none.
   */
  isPlain?: (value: unknown) => value is z.output<Schema>;
}

/** Options of {@link ProviderHttp.readEvents}. */
export interface ReadEventsOptions<Schema extends z.ZodType>
  extends ReadResponseOptions, EventReading<Schema> {
  /** True once the adapter saw its own terminal event, so a stream ending without `[DONE]` is complete. */
  isComplete: () => boolean;
}

/** One event's data as {@link ProviderHttp.readEventData} read it: the JSON value as sent, and validated. */
export interface EventData<Parsed> {
  raw: unknown;
  parsed: Parsed;
}

/** Options of {@link ProviderHttp.throwIfErrorBody}. */
export interface ThrowIfErrorBodyOptions {
  /** Parsed JSON, or undefined when there was none. */
  value: unknown;
  /** Throw even when the value is no recognizable error body (an SSE `event: error`). */
  always?: boolean;
  code: 'provider_error_body' | 'provider_stream_error';
}

/** One provider's HTTP transport, as built by {@link createProviderHttp}. */
export interface ProviderHttp {
  /** `provider model`, the prefix of output error messages. */
  readonly label: string;
  /** Posts a JSON request. Rejects with a ProviderError for a network failure or a non-2xx answer. */
  post(options: PostOptions): Promise<Response>;
  /** The body as text; a failure while reading is a network failure. */
  readText(options: ReadResponseOptions): Promise<string>;
  /**
   * The body as JSON validated by the schema. Bad JSON or a body the schema refuses is a
   * ModelOutputError; an error body (some servers send one with 200) a ProviderError.
   */
  readJson<Schema extends z.ZodType>(options: ReadJsonOptions<Schema>): Promise<z.output<Schema>>;
  /**
   * The data of each server-sent event, validated by the schema, until the stream ends. A plain
   * JSON answer or an error event is a ProviderError; bad JSON, a malformed event or a truncated
   * stream a ModelOutputError. Events already buffered are not yielded after an abort.
   */
  readEvents<Schema extends z.ZodType>(options: ReadEventsOptions<Schema>): AsyncGenerator<z.output<Schema>>;
  /**
   * What a failure while reading a stream's body is: the abort's reason, a Keel error as it is,
   * anything else a network failure (a retryable ProviderError without status).
   */
  streamFailure(error: unknown, signal: AbortSignal | undefined): unknown;
  /**
   * The body of a streaming answer. A plain JSON answer (an error body, or a server that ignored
   * the stream flag) is a ProviderError or a ModelOutputError, as a missing body.
   */
  eventStreamBody(response: Response): Promise<ReadableStream<Uint8Array>>;
  /**
   * Reads one server-sent event's data: an error event or error body is a ProviderError, bad JSON
   * or data the schema refuses a ModelOutputError (`stream_chunk_invalid`); undefined for an
   * event passed over (`isIgnored`, `isKnown`).
   */
  readEventData<Schema extends z.ZodType>(
    event: ServerSentEvent,
    reading: EventReading<Schema>,
  ): EventData<z.output<Schema>> | undefined;
  /** Throws a ProviderError when the value is the provider's error body. */
  throwIfErrorBody(options: ThrowIfErrorBodyOptions): void;
}

/** Creates the HTTP transport of one model. It never retries: the gateway owns retries. */
export function createProviderHttp({
  provider,
  model,
  fetch: fetchFunction,
  providerHeaders,
  headers,
  apiKey,
  echoedKeys,
  clock,
  readErrorBody,
  requestIdHeader,
  defaultErrorStatus,
}: ProviderHttpOptions): ProviderHttp {
  const label = `${provider} ${model}`;
  const redact = (text: string) => redactSecrets({ text, apiKey, echoedKeys });

  /** Aborts pass through as the signal's reason; Keel errors as they are; the rest is a network failure. */
  function toTransportError({
    error,
    signal,
    during,
  }: {
    error: unknown;
    signal: AbortSignal | undefined;
    during: string;
  }): unknown {
    if (signal?.aborted) return abortReason(signal);
    if (isKeelError(error)) return error;
    return new ProviderError({
      provider,
      message: redact(`network failure while ${during}: ${describeCause(error)}`),
      cause: error,
    });
  }

  async function toHttpError({ response, signal }: ReadResponseOptions): Promise<Error> {
    let text = '';
    try {
      text = await response.text();
    } catch {
      // Without a body the status alone still says what happened, unless the caller aborted.
      if (signal?.aborted) return abortReason(signal);
    }
    const json = parseJson(text);
    const body = json.ok ? readErrorBody(json.value) : undefined;
    const detail =
      body === undefined
        ? truncateText(text.trim(), 300) || response.statusText || 'no error message'
        : body.message;
    const requestId =
      (requestIdHeader === undefined ? null : response.headers.get(requestIdHeader)) ?? body?.requestId;
    return new ProviderError({
      provider,
      status: response.status,
      message: redact(`HTTP ${response.status}: ${detail}${requestId ? ` [request id ${requestId}]` : ''}`),
      retryAfterMs: parseRetryAfter({ headers: response.headers, clock }) ?? body?.retryAfterMs,
    });
  }

  const http: ProviderHttp = {
    label,

    async post({ endpoint, body, stream, signal, headers: callHeaders }) {
      const requestHeaders: Record<string, string> = {
        'content-type': 'application/json',
        accept: stream ? 'text/event-stream' : 'application/json',
        ...providerHeaders,
        ...lowerCaseKeys(headers),
        ...(callHeaders === undefined ? {} : lowerCaseKeys(callHeaders)),
      };
      let response: Response;
      try {
        response = await fetchFunction(endpoint, {
          method: 'POST',
          headers: requestHeaders,
          // UTF-8 bytes (json-utf8.ts): a large body with a few non-ASCII characters would
          // otherwise be built as a two-byte string and encoded on V8's slow path.
          body: stringifyJsonUtf8(body),
          signal,
        });
      } catch (error) {
        throw toTransportError({ error, signal, during: `calling ${endpoint.host}` });
      }
      if (!response.ok) throw await toHttpError({ response, signal });
      return response;
    },

    async readText({ response, signal }) {
      try {
        return await response.text();
      } catch (error) {
        throw toTransportError({ error, signal, during: 'reading the response' });
      }
    },

    async readJson({ response, signal, schema, expected }) {
      const text = await http.readText({ response, signal });
      const json = parseJson(text);
      if (!json.ok) {
        throw new ModelOutputError(`${label}: the response body is not valid JSON.`, {
          provider,
          model,
          status: response.status,
          bodyLength: text.length,
        });
      }
      http.throwIfErrorBody({ value: json.value, code: 'provider_error_body' });
      const parsed = schema.safeParse(json.value);
      if (!parsed.success) {
        throw new ModelOutputError(
          `${label}: the response is not ${expected}: ${z.prettifyError(parsed.error)}`,
          { provider, model },
        );
      }
      return parsed.data;
    },

    async *readEvents({ response, signal, isComplete, ...reading }) {
      const source = await http.eventStreamBody(response);
      try {
        for await (const event of readEventStream({ source, signal, label, isComplete })) {
          // Events already buffered must not reach a consumer that aborted.
          signal?.throwIfAborted();
          const read = http.readEventData(event, reading);
          if (read !== undefined) yield read.parsed;
        }
      } catch (error) {
        throw http.streamFailure(error, signal);
      }
    },

    streamFailure: (error, signal) => toTransportError({ error, signal, during: 'reading the stream' }),

    async eventStreamBody(response) {
      const contentType = response.headers.get('content-type') ?? '';
      if (contentType.includes('json')) {
        // An error (or a server that ignored the stream flag) answering with a plain JSON body.
        const json = parseJson(await response.text().catch(() => ''));
        if (json.ok) http.throwIfErrorBody({ value: json.value, code: 'provider_error_body' });
        throw new ModelOutputError(
          `${label}: a streaming request was answered with ${contentType}, not an event stream.`,
          { provider, model },
        );
      }
      if (response.body === null) {
        throw new ModelOutputError(`${label}: the streaming response has no body.`, { provider, model });
      }
      return response.body;
    },

    readEventData(event, { schema, itemName, isIgnored, isKnown, isPlain }) {
      if (isIgnored?.(event) === true) return undefined;
      const json = parseJson(event.data);
      http.throwIfErrorBody({
        value: json.ok ? json.value : undefined,
        always: event.event === 'error',
        code: 'provider_stream_error',
      });
      if (!json.ok) {
        throw new ModelOutputError(`${label}: a stream ${itemName} is not valid JSON.`, {
          provider,
          model,
          reason: 'stream_chunk_invalid',
        });
      }
      const raw = json.value;
      if (isKnown?.(raw) === false) return undefined;
      if (isPlain?.(raw) === true) return { raw, parsed: raw };
      const parsed = schema.safeParse(raw);
      if (!parsed.success) {
        throw new ModelOutputError(
          `${label}: a stream ${itemName} is malformed: ${z.prettifyError(parsed.error)}`,
          { provider, model, reason: 'stream_chunk_invalid' },
        );
      }
      return { raw, parsed: parsed.data };
    },

    throwIfErrorBody({ value, always = false, code }) {
      const body = mayBeErrorBody(value) ? readErrorBody(value) : undefined;
      if (body === undefined && !always) return;
      throw new ProviderError({
        provider,
        status: body?.status ?? defaultErrorStatus,
        message: redact(body === undefined ? 'the provider sent an error event' : body.message),
        retryAfterMs: body?.retryAfterMs,
        code,
      });
    },
  };
  return http;
}

/** Options of {@link redactSecrets}. */
export interface RedactSecretsOptions {
  text: string;
  /** Replaced wherever it stands, when 8 characters or longer. */
  apiKey?: string | undefined;
  /** Key shapes masked wherever they stand. */
  echoedKeys: readonly EchoedKeyPattern[];
}

/** Keeps keys out of messages: the configured key, and keys of the given shapes that providers echo back. */
export function redactSecrets({ text, apiKey, echoedKeys }: RedactSecretsOptions): string {
  let result = apiKey !== undefined && apiKey.length >= 8 ? text.split(apiKey).join('[redacted]') : text;
  for (const { pattern, replacement } of echoedKeys) result = result.replace(pattern, replacement);
  return result;
}

/** What an aborted call rejects with: the signal's reason, or an `AbortError` when it has none. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException('The operation was aborted.', 'AbortError');
}

/**
 * The messages of an error and its causes, with their codes: Node's fetch hides the useful part
 * (`ECONNRESET`, `other side closed`) in `cause`. `maxDepth` (default 3) counts the error itself.
 */
export function describeCause(error: unknown, { maxDepth = 3 }: { maxDepth?: number } = {}): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < maxDepth && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    parts.push(typeof code === 'string' ? `${current.message} (${code})` : current.message);
    current = current.cause;
  }
  return parts.length === 0 ? String(error) : parts.join(': ');
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

/**
 * Every provider's error body has an `error` field, at the top or (Gemini's streams) in the first
 * element of an array: anything else is an answer, and skips the error schema (a failed zod
 * parse builds its issues, which costs more than a chunk's whole translation).
 */
function mayBeErrorBody(value: unknown): boolean {
  const first = Array.isArray(value) ? (value as unknown[])[0] : value;
  // `{error: ...}`, or an event of type `error` (OpenAI's Responses streams: `{type, code, message}`).
  return (
    typeof first === 'object' &&
    first !== null &&
    ('error' in first || (first as { type?: unknown }).type === 'error')
  );
}

/** At most `length` UTF-16 units of `text`, never ending in half of a surrogate pair. */
function truncateText(text: string, length: number): string {
  if (text.length <= length) return text;
  const last = text.charCodeAt(length - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? length - 1 : length);
}
