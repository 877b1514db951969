/**
 * Writes the text a model step streams to the journal's `text_deltas` as it streams, so that a
 * run's event stream on any replica can show it live. Off the agent's path: text is buffered and
 * written as one slice per `flushMs` (default 100 ms) per run, one write in flight at a time,
 * never awaited by the model call.
 *
 * What is written is an observation, not the record: when the step ends, whatever is still
 * buffered is dropped (the step's output has the whole text, and the event stream sends the rest
 * from it), and a slice that fails to be written is skipped. A lost lease stops the run's writes.
 */
import { isKeelError } from '../errors/keel-error.js';
import type { JournalStore } from '../journal/store.js';
import type { Lease } from '../journal/types.js';
import type { Logger } from '../util/logger.js';
import type { RunEvent } from './run-events.js';

/** Options of {@link createTextDeltaWriter}. */
export interface TextDeltaWriterOptions {
  store: Pick<JournalStore, 'appendTextDelta'>;
  lease: Lease;
  logger: Logger;
  /** How long text is gathered into one slice. Default 100 ms. */
  flushMs?: number;
}

/** One run's writer: feed it the run's events; close it when the run stops executing. */
export interface TextDeltaWriter {
  onEvent(event: RunEvent): void;
  /** Drops what is buffered and waits for the write in flight. */
  close(): Promise<void>;
}

/** Creates the writer of one run under its lease; see the file comment. */
export function createTextDeltaWriter({
  store,
  lease,
  logger,
  flushMs = 100,
}: TextDeltaWriterOptions): TextDeltaWriter {
  let seq: number | undefined;
  let attempt = 1;
  let name = '';
  let buffered = '';
  let timer: ReturnType<typeof setTimeout> | undefined;
  let writing: Promise<void> | undefined;
  let stopped = false;

  const clearTimer = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };

  const flush = () => {
    timer = undefined;
    if (stopped || seq === undefined || buffered === '') return;
    if (writing !== undefined) {
      // One write at a time: try again once the one in flight is done.
      timer = setTimeout(flush, flushMs);
      return;
    }
    const slice = { seq, attempt, name, text: buffered };
    buffered = '';
    writing = store
      .appendTextDelta(lease, slice)
      .catch((error: unknown) => {
        if (isKeelError(error) && error.code === 'lease_lost') {
          stopped = true;
          return;
        }
        logger.debug('streamed text slice not journaled', {
          seq: slice.seq,
          error: error instanceof Error ? error.message : String(error),
        });
      })
      .finally(() => {
        writing = undefined;
      });
  };

  return {
    onEvent(event) {
      if (stopped) return;
      if (event.type === 'step-start' && event.kind === 'model' && !event.replayed) {
        clearTimer();
        seq = event.seq;
        attempt = 1;
        name = event.name;
        buffered = '';
      } else if (event.type === 'text-delta' && event.seq === seq && event.text !== '') {
        if (event.attempt !== attempt) {
          // The model call failed and is being retried: its text starts over.
          attempt = event.attempt;
          buffered = '';
        }
        buffered += event.text;
        timer ??= setTimeout(flush, flushMs);
      } else if (event.type === 'step-end' && event.seq === seq) {
        clearTimer();
        seq = undefined;
        buffered = '';
      }
    },

    async close() {
      stopped = true;
      clearTimer();
      await writing;
    },
  };
}
