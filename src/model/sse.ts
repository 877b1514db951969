/**
 * Server-sent events (the `text/event-stream` format) as streamed by LLM providers. Parsing follows
 * the WHATWG spec (https://html.spec.whatwg.org/multipage/server-sent-events.html): lines end in
 * CRLF, LF or CR, `:` starts a comment, `data:` lines join with `\n`, a blank line dispatches.
 * Provider streams add one convention on top: a `data: [DONE]` event ends the stream, and a stream
 * that just stops without its terminal event was cut off and must never look like a clean finish.
 */
import { raceAbort } from '../util/race-abort.js';
import { ModelOutputError } from '../errors/model-errors.js';

/** One dispatched event. */
export interface ServerSentEvent {
  /** The `event:` field, `message` when the server sent none. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last `id:` seen on the stream (ids persist across events, per the spec). */
  id: string | undefined;
  /** The `retry:` field of this event, in milliseconds, if it had one. */
  retry: number | undefined;
}

/** Bytes as they arrive: a fetch body, a Node stream, or any async iterable of chunks. */
export type ByteSource = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

/** An incremental parser: push decoded text as it arrives, take the complete events. */
export interface ServerSentEventParser {
  /** Feeds more text; returns the events completed by it (possibly none). */
  push(text: string): ServerSentEvent[];
}

/**
 * Creates an incremental parser. Events and lines may be split anywhere across pushes, including
 * between the CR and LF of a CRLF. An event still incomplete when the input ends is never
 * dispatched (as the spec requires): the caller decides what a cut-off stream means.
 */
export function createServerSentEventParser(): ServerSentEventParser {
  let partialLine = '';
  // A chunk that ends in CR may be followed by the LF of the same CRLF in the next chunk.
  let skipLeadingLineFeed = false;
  let eventType = '';
  let dataLines: string[] = [];
  let lastEventId: string | undefined;
  let retry: number | undefined;

  const processLine = (line: string, events: ServerSentEvent[]): void => {
    if (line === '') {
      // The spec dispatches only events that carry data; a lone `event:` block is dropped.
      if (dataLines.length > 0) {
        events.push({ event: eventType || 'message', data: dataLines.join('\n'), id: lastEventId, retry });
      }
      eventType = '';
      dataLines = [];
      retry = undefined;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') dataLines.push(value);
    else if (field === 'event') eventType = value;
    else if (field === 'id' && !value.includes('\u0000')) lastEventId = value;
    else if (field === 'retry' && /^\d+$/.test(value)) retry = Number(value);
  };

  return {
    push(text) {
      const events: ServerSentEvent[] = [];
      let start = 0;
      if (skipLeadingLineFeed && text.length > 0) {
        if (text.charCodeAt(0) === 10) start = 1;
        skipLeadingLineFeed = false;
      }
      for (let index = start; index < text.length; index++) {
        const code = text.charCodeAt(index);
        if (code !== 10 && code !== 13) continue;
        processLine(partialLine + text.slice(start, index), events);
        partialLine = '';
        if (code === 13) {
          if (index + 1 === text.length) skipLeadingLineFeed = true;
          else if (text.charCodeAt(index + 1) === 10) index++;
        }
        start = index + 1;
      }
      partialLine += text.slice(start);
      return events;
    },
  };
}

/** Options of {@link parseServerSentEvents}. */
export interface ParseServerSentEventsOptions {
  source: ByteSource;
  /** Aborts the read: the pending read rejects with the signal's reason and the source is cancelled. */
  signal?: AbortSignal;
}

/**
 * Reads a byte source as server-sent events. Bytes are decoded as UTF-8 across chunk boundaries.
 * Breaking out of the loop, an error or an abort cancels the source, so no reader is left holding
 * the connection open.
 */
export function parseServerSentEvents({
  source,
  signal,
}: ParseServerSentEventsOptions): AsyncGenerator<ServerSentEvent, void, undefined> {
  return readEvents({ source, signal, doneData: undefined, isComplete: undefined, label: undefined });
}

/** Options of {@link readEventStream}. */
export interface ReadEventStreamOptions extends ParseServerSentEventsOptions {
  /** The data of the event that ends the stream. */
  doneData?: string;
  /**
   * Asked when the source ends without the done event: true if the consumer already saw its own
   * terminal event (an OpenAI `finish_reason`, an Anthropic `message_stop`). Default: never.
   */
  isComplete?: () => boolean;
  /** Names the stream in the truncation error, e.g. `openai gpt-4o-mini`. */
  label?: string;
}

/**
 * Reads server-sent events until `data: [DONE]`, which is consumed and ends the iteration. A source
 * that ends before that, and before the consumer saw a terminal event of its own (`isComplete`),
 * throws a ModelOutputError (code `model_output_invalid`, details.reason `stream_truncated`): a
 * truncated answer must never pass for a complete one.
 *
 * After the done event the rest of the source (normally nothing but the end of the body) is read
 * to its end in the background rather than cancelled, so its keep-alive connection goes back to
 * the pool instead of being torn down; a source that keeps sending is cancelled.
 */
export function readEventStream({
  source,
  signal,
  doneData = '[DONE]',
  isComplete = () => false,
  label,
}: ReadEventStreamOptions): AsyncGenerator<ServerSentEvent, void, undefined> {
  return readEvents({ source, signal, doneData, isComplete, label });
}

/**
 * Both readers above, as ONE generator: every layer of async generator a stream event crosses
 * costs promise turns, and a provider stream's events cross this one on the gateway's hot path.
 * Without `doneData` the source simply ends the events; with it, see {@link readEventStream}.
 */
async function* readEvents({
  source,
  signal,
  doneData,
  isComplete,
  label,
}: {
  source: ByteSource;
  signal: AbortSignal | undefined;
  doneData: string | undefined;
  isComplete: (() => boolean) | undefined;
  label: string | undefined;
}): AsyncGenerator<ServerSentEvent, void, undefined> {
  signal?.throwIfAborted();
  const reader = openChunkReader(source);
  const parser = createServerSentEventParser();
  const decoder = new TextDecoder('utf-8');
  let eventCount = 0;
  // Once the source ended, or was handed over to be drained, it is no longer ours to cancel.
  let released = false;
  try {
    while (true) {
      const result = await raceAbort(() => reader.read(), signal);
      // The end flushes a trailing partial UTF-8 sequence; a final line without its break stays pending.
      const events = parser.push(
        result.done === true ? decoder.decode() : decoder.decode(result.value, { stream: true }),
      );
      if (result.done === true) released = true;
      for (const event of events) {
        if (doneData !== undefined && event.data === doneData) {
          if (!released) reader.drain();
          released = true;
          return;
        }
        eventCount++;
        yield event;
        // Events already parsed must not reach a consumer that aborted meanwhile.
        signal?.throwIfAborted();
      }
      if (result.done === true) break;
    }
  } finally {
    if (!released) await reader.cancel(signal?.reason);
  }
  if (doneData === undefined || isComplete?.() === true) return;
  throw streamTruncatedError({ label, eventCount, doneData });
}

/**
 * The error of an event stream that ended before its terminal event (`doneData` or the
 * provider's own): a ModelOutputError, `details.reason` `stream_truncated`.
 */
export function streamTruncatedError({
  label,
  eventCount,
  doneData = '[DONE]',
}: {
  /** Names the stream, e.g. `openai gpt-4o-mini`. */
  label: string | undefined;
  eventCount: number;
  doneData?: string;
}): ModelOutputError {
  const prefix = label === undefined ? '' : `${label}: `;
  return new ModelOutputError(
    `${prefix}the event stream was truncated: it ended after ${eventCount} event(s) without a terminal event (${doneData} or a finish reason).`,
    { reason: 'stream_truncated', eventCount },
  );
}

/** Bytes a source may still send after its done event before it is cancelled instead of drained. */
const MAX_DRAIN_BYTES = 64 * 1024;
/** How long a source may take to end after its done event before it is cancelled. */
const MAX_DRAIN_MS = 5_000;

/** One pull interface over both kinds of byte source. */
export interface ChunkReader {
  read(): Promise<IteratorResult<Uint8Array>>;
  /** Stops the source (closing its connection). Settles even when a read never will. */
  cancel(reason: unknown): Promise<void>;
  /** Reads the source to its end in the background, within bounds; cancels it past them. */
  drain(): void;
}

/** Reads a byte source chunk by chunk (see {@link ChunkReader}). */
export function openChunkReader(source: ByteSource): ChunkReader {
  if (isReadableStream(source)) {
    const reader = source.getReader();
    return {
      read: () => reader.read() as Promise<IteratorResult<Uint8Array>>,
      async cancel(reason) {
        // Cancelling settles a read still pending after an abort and closes the connection.
        await reader.cancel(reason).catch(() => undefined);
        reader.releaseLock();
      },
      drain: () =>
        drainInBackground(
          () => reader.read(),
          async () => {
            await reader.cancel().catch(() => undefined);
            reader.releaseLock();
          },
          () => reader.releaseLock(),
        ),
    };
  }
  const iterator = source[Symbol.asyncIterator]();
  // Not awaited: an async generator queues return() behind a next() that may never settle.
  const stop = () => void Promise.resolve(iterator.return?.()).catch(() => undefined);
  return {
    read: () => iterator.next(),
    cancel: async () => stop(),
    drain: () =>
      drainInBackground(
        () => iterator.next(),
        async () => stop(),
        () => {},
      ),
  };
}

/** Reads until the end (then `done`), or calls `stop` past the drain bounds or on a read error. */
function drainInBackground(
  read: () => Promise<IteratorResult<Uint8Array>>,
  stop: () => Promise<void>,
  done: () => void,
): void {
  let bytes = 0;
  let over = false;
  const timer = setTimeout(() => {
    over = true;
    void stop();
  }, MAX_DRAIN_MS);
  timer.unref();
  void (async () => {
    try {
      while (!over) {
        const result = await read();
        if (result.done === true) {
          done();
          return;
        }
        bytes += result.value.byteLength;
        if (bytes > MAX_DRAIN_BYTES) break;
      }
      if (!over) await stop();
    } catch {
      // The source failed after the answer was complete: nothing is lost.
    } finally {
      clearTimeout(timer);
    }
  })();
}

function isReadableStream(source: ByteSource): source is ReadableStream<Uint8Array> {
  return typeof (source as ReadableStream<Uint8Array>).getReader === 'function';
}
