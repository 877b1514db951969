/**
 * The byte relay of a streamed call whose upstream speaks the caller's wire format (an OpenAI
 * chat-completions caller answered by an OpenAI-wire deployment): the upstream's server-sent
 * events go to the caller's writer (`WireSink`) as they arrive, each read beside by the adapter's
 * reader (`WireStream.read`: validated, errors thrown, folded into the answer), so usage, cost, the
 * call record, budgets and the cache are what the event relay (`stream-relay.ts`) would give.
 * What it saves is the event relay's cost per event: a chain of async generators from the SSE
 * parser to the HTTP layer, and re-encoding every event as JSON. One network read is one promise
 * turn here, whatever the number of events in it. See docs/decisions/2026-12-06-stream-relay.md.
 *
 * Opening ({@link openWireAttempt}, run as the attempt's start, so inside the fallback loop) reads
 * the upstream until its first event that `stream` would have yielded: an upstream that fails
 * before that still falls back, as before. Then (see {@link relayWire}):
 *
 * - `data: [DONE]`, or the body's end after the answer's terminal chunk: the call succeeds and the
 *   sink ends the answer; the rest of the body is drained in the background (keep-alive);
 * - an error event, bad data, a body cut before its end, an idle timeout: the call fails and the
 *   sink writes an error event (never a clean end);
 * - the caller went away: its signal aborts the upstream at once, outcome `cancelled`.
 */
import type { ModelResponse, WireStream } from '../model/model.js';
import {
  createServerSentEventParser,
  openChunkReader,
  streamTruncatedError,
  type ChunkReader,
  type ServerSentEventParser,
} from '../model/sse.js';
import { raceAbort } from '../util/race-abort.js';
import type { CallRunner, CallState, OpenAttempt } from './call-runner.js';
import type { GatewayWireStream, WireSink } from './gateway-types.js';
import { streamEnding, streamMeta } from './stream-relay.js';

/** An upstream event read at opening, relayed first. */
interface ReadEvent {
  data: string;
  value: unknown;
}

/** A wire stream opened up to its first event. */
export interface OpenedWire {
  stream: WireStream;
  reader: ChunkReader;
  parser: ServerSentEventParser;
  decoder: InstanceType<typeof TextDecoder>;
  /** Events read so far, in order. */
  read: ReadEvent[];
  /** Events counted (for the truncation message). */
  eventCount: number;
  /** The upstream's answer ended while opening (`[DONE]`, or its body after a terminal chunk). */
  answer: ModelResponse | undefined;
}

/**
 * Reads a wire stream until its first event that makes a stream event (the moment `stream`
 * yields its first), taking every event of that network read along. Throws what `stream` would
 * have thrown by then (an error event, bad data, a body cut before any event), so the attempt
 * fails and the call falls back.
 */
export async function openWireAttempt(stream: WireStream, signal: AbortSignal): Promise<OpenedWire> {
  const opened: OpenedWire = {
    stream,
    reader: openChunkReader(stream.body),
    parser: createServerSentEventParser(),
    decoder: new TextDecoder('utf-8'),
    read: [],
    eventCount: 0,
    answer: undefined,
  };
  try {
    let started = false;
    while (!started) {
      const outcome = await readChunk(opened, signal, (data, value, events) => {
        opened.read.push({ data, value });
        if (events > 0) started = true;
        return true;
      });
      if (outcome === 'more') continue;
      opened.answer = stream.finish();
      break;
    }
    return opened;
  } catch (error) {
    await opened.reader.cancel(signal.reason);
    throw error;
  }
}

/**
 * One network read of the upstream, its events passed to `onEvent` (which returns false when the
 * caller is full). Returns `more` while the answer goes on, `full` when it goes on and the caller
 * is full, `complete` at `[DONE]` (the rest of the body drains in the background) or at the end
 * of a body whose terminal chunk was read. A body cut before that throws `stream_truncated`.
 */
async function readChunk(
  opened: OpenedWire,
  signal: AbortSignal,
  onEvent: (data: string, value: unknown, events: number) => boolean,
): Promise<'more' | 'full' | 'complete'> {
  const { stream, reader, parser, decoder } = opened;
  let result: IteratorResult<Uint8Array>;
  try {
    result = await raceAbort(() => reader.read(), signal);
  } catch (thrown) {
    throw stream.failure(thrown);
  }
  const ended = result.done === true;
  // The end flushes a trailing partial UTF-8 sequence; a final line without its break stays pending.
  const events = parser.push(ended ? decoder.decode() : decoder.decode(result.value, { stream: true }));
  let full = false;
  for (const event of events) {
    if (event.data === '[DONE]') {
      if (!ended) reader.drain();
      return 'complete';
    }
    opened.eventCount++;
    const read = stream.read(event);
    if (read !== undefined && !onEvent(event.data, read.value, read.events)) full = true;
  }
  if (!ended) return full ? 'full' : 'more';
  if (stream.isComplete()) return 'complete';
  throw streamTruncatedError({ label: stream.label, eventCount: opened.eventCount });
}

/** Options of {@link relayWire}. */
export interface RelayWireOptions {
  runner: CallRunner;
  call: CallState;
  attempt: OpenAttempt<OpenedWire>;
  /** Called with the complete answer of a stream that finished (to cache it). */
  onAnswer?: ((response: ModelResponse) => void) | undefined;
}

/** Wraps an opened wire attempt as the caller's GatewayWireStream. */
export function relayWire({ runner, call, attempt, onAnswer }: RelayWireOptions): GatewayWireStream {
  const opened = attempt.value;
  const { timeouts } = attempt;
  const ending = streamEnding({ runner, call, attempt, onAnswer });
  let started = false;

  const pump = async (sink: WireSink) => {
    // Until the relay starts, and while the caller's connection is full, the time is the caller's.
    let idleSince = performance.now();
    let released = opened.answer !== undefined;
    try {
      let full = false;
      for (const { data, value } of opened.read) if (!sink.event(data, value)) full = true;
      opened.read = [];
      let outcome: 'more' | 'full' | 'complete' = opened.answer === undefined ? 'more' : 'complete';
      const onEvent = (data: string, value: unknown) => sink.event(data, value);
      while (outcome !== 'complete') {
        if (full || outcome === 'full') {
          idleSince = performance.now();
          await sink.drained();
          full = false;
        }
        call.consumerMs += performance.now() - idleSince;
        timeouts.waitStart();
        const began = performance.now();
        try {
          outcome = await readChunk(opened, timeouts.signal, onEvent);
        } finally {
          call.upstreamMs += performance.now() - began;
        }
        timeouts.waitEnd();
        idleSince = performance.now();
      }
      released = true;
      const answer = opened.answer ?? opened.stream.finish();
      ending.succeed(answer);
      sink.end(answer);
    } catch (thrown) {
      if (!released) await opened.reader.cancel(timeouts.signal.reason);
      if (ending.isEnded()) return;
      sink.fail(ending.fail(thrown));
    }
  };

  return {
    meta: streamMeta(call, attempt),
    wire: opened.stream.wire,
    done: ending.done,
    relay(sink) {
      if (started) throw new Error('A wire stream is relayed once.');
      started = true;
      void pump(sink);
    },
  };
}
