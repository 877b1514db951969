import { describe, expect, it, vi } from 'vitest';
import { LeaseLostError } from '../errors/storage-errors.js';
import { silentLogger } from '../util/logger.js';
import { createTextDeltaWriter } from './text-delta-writer.js';

const lease = { runId: 'run_1', owner: 'w', fence: 3 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function recordingStore({ failWith, delayMs = 0 }: { failWith?: Error; delayMs?: number } = {}) {
  const slices: { seq: number; attempt: number; name: string; text: string }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  return {
    slices,
    maxInFlight: () => maxInFlight,
    store: {
      async appendTextDelta(
        _lease: typeof lease,
        slice: { seq: number; attempt: number; name: string; text: string },
      ) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await sleep(delayMs);
        inFlight--;
        if (failWith) throw failWith;
        slices.push(slice);
      },
    },
  };
}

const start = (seq: number) =>
  ({
    type: 'step-start',
    runId: 'run_1',
    seq,
    kind: 'model',
    name: 'builtin:rule',
    replayed: false,
  }) as const;
const text = (seq: number, value: string, attempt = 1) =>
  ({ type: 'text-delta', runId: 'run_1', seq, attempt, text: value }) as const;
const end = (seq: number) =>
  ({
    type: 'step-end',
    runId: 'run_1',
    seq,
    kind: 'model',
    name: 'builtin:rule',
    status: 'completed',
    replayed: false,
    durationMs: 1,
  }) as const;

describe('createTextDeltaWriter', () => {
  it('gathers the text of each flush interval into one slice, and drops the tail at the step end', async () => {
    const recording = recordingStore();
    const writer = createTextDeltaWriter({
      store: recording.store,
      lease,
      logger: silentLogger,
      flushMs: 30,
    });
    writer.onEvent(start(1));
    writer.onEvent(text(1, 'Hel'));
    writer.onEvent(text(1, 'lo'));
    await sleep(60);
    writer.onEvent(text(1, ' world'));
    writer.onEvent(end(1));
    await sleep(60);
    await writer.close();
    expect(recording.slices).toEqual([{ seq: 1, attempt: 1, name: 'builtin:rule', text: 'Hello' }]);
  });

  it('starts the text over when the model call is retried, and records the attempt', async () => {
    const recording = recordingStore();
    const writer = createTextDeltaWriter({
      store: recording.store,
      lease,
      logger: silentLogger,
      flushMs: 30,
    });
    writer.onEvent(start(1));
    writer.onEvent(text(1, 'Hel'));
    await sleep(60);
    writer.onEvent(text(1, 'lo, wor'));
    // The call failed mid-answer; the retry streams from the start (the unwritten tail is dropped).
    writer.onEvent(text(1, 'Hi', 2));
    writer.onEvent(text(1, ' there', 2));
    await sleep(60);
    await writer.close();
    expect(recording.slices).toEqual([
      { seq: 1, attempt: 1, name: 'builtin:rule', text: 'Hel' },
      { seq: 1, attempt: 2, name: 'builtin:rule', text: 'Hi there' },
    ]);
  });

  it('keeps one write in flight at a time and ignores text of other steps', async () => {
    const recording = recordingStore({ delayMs: 50 });
    const writer = createTextDeltaWriter({
      store: recording.store,
      lease,
      logger: silentLogger,
      flushMs: 10,
    });
    writer.onEvent(start(2));
    for (let i = 0; i < 10; i++) {
      writer.onEvent(text(2, `${i}`));
      writer.onEvent(text(7, 'x'));
      await sleep(12);
    }
    // Everything buffered is written eventually, one write after the other.
    await vi.waitFor(() => expect(recording.slices.map((slice) => slice.text).join('')).toBe('0123456789'), {
      timeout: 5_000,
    });
    await writer.close();
    expect(recording.maxInFlight()).toBe(1);
    expect(recording.slices.every((slice) => slice.seq === 2)).toBe(true);
  });

  it('stops writing once the lease is lost, and skips a slice that failed otherwise', async () => {
    const lost = recordingStore({ failWith: new LeaseLostError('run_1', 3) });
    const calls: string[] = [];
    const store = {
      appendTextDelta: async (...args: Parameters<typeof lost.store.appendTextDelta>) => {
        calls.push(args[1].text);
        return lost.store.appendTextDelta(...args);
      },
    };
    const counted = createTextDeltaWriter({ store, lease, logger: silentLogger, flushMs: 5 });
    counted.onEvent(start(1));
    counted.onEvent(text(1, 'a'));
    await sleep(30);
    counted.onEvent(text(1, 'b'));
    await sleep(30);
    expect(calls).toEqual(['a']);
    await counted.close();

    const flaky = recordingStore({ failWith: new Error('connection reset') });
    const skipping = createTextDeltaWriter({ store: flaky.store, lease, logger: silentLogger, flushMs: 5 });
    skipping.onEvent(start(1));
    skipping.onEvent(text(1, 'a'));
    await sleep(30);
    await expect(skipping.close()).resolves.toBeUndefined();
  });
});
