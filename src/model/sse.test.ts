import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { isKeelError } from '../errors/keel-error.js';
import { collect } from '../testing/provider-test-harness.js';
import {
  createServerSentEventParser,
  parseServerSentEvents,
  readEventStream,
  type ServerSentEvent,
} from './sse.js';

const encoder = new TextEncoder();

/** A ReadableStream of the given chunks that records whether it was cancelled. */
function streamOf(chunks: (string | Uint8Array)[], { hangAtEnd = false } = {}) {
  const state = { cancelled: false, cancelReason: undefined as unknown };
  let index = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks[index++];
      if (next !== undefined) controller.enqueue(typeof next === 'string' ? encoder.encode(next) : next);
      else if (!hangAtEnd) controller.close();
      // When hanging, never enqueue: the read stays pending.
      else return new Promise<void>(() => {});
    },
    cancel(reason) {
      state.cancelled = true;
      state.cancelReason = reason;
    },
  });
  return { stream, state };
}

const datas = (events: ServerSentEvent[]) => events.map((event) => event.data);

describe('createServerSentEventParser', () => {
  it('parses data, event, id and retry fields, and ignores comments and unknown fields', () => {
    const parser = createServerSentEventParser();
    const events = parser.push(
      ': keep-alive\nevent: update\nid: 7\nretry: 1500\nfoo: bar\ndata: {"a":1}\n\ndata: next\n\n',
    );
    expect(events).toEqual([
      { event: 'update', data: '{"a":1}', id: '7', retry: 1500 },
      // The id persists across events; the event type and retry do not.
      { event: 'message', data: 'next', id: '7', retry: undefined },
    ]);
  });

  it('joins multi-line data with \\n and strips exactly one leading space', () => {
    const parser = createServerSentEventParser();
    expect(datas(parser.push('data: line one\ndata:line two\ndata:  indented\ndata\n\n'))).toEqual([
      'line one\nline two\n indented\n',
    ]);
  });

  it('accepts CRLF, LF and CR line endings, even a CRLF split across pushes', () => {
    const parser = createServerSentEventParser();
    expect(datas(parser.push('data: a\r\n\r\ndata: b\r\rdata: c\n\n'))).toEqual(['a', 'b', 'c']);
    expect(datas(parser.push('data: d\r'))).toEqual([]);
    // The LF completes the CRLF of the previous push: it must not count as a blank line.
    expect(datas(parser.push('\ndata: e\r'))).toEqual([]);
    expect(datas(parser.push('\n\r\n'))).toEqual(['d\ne']);
  });

  it('does not dispatch blocks without data, nor an event cut before its blank line', () => {
    const parser = createServerSentEventParser();
    expect(parser.push('event: ping\n\n: comment only\n\ndata: pending\n')).toEqual([]);
  });
});

describe('parseServerSentEvents', () => {
  const wire =
    'data: {"text":"héllo 👋"}\r\n\r\n: comment\n\nevent: done\ndata: line 1\ndata: line 2\n\ndata: [DONE]\n\n';
  const expected = [
    { event: 'message', data: '{"text":"héllo 👋"}', id: undefined, retry: undefined },
    { event: 'done', data: 'line 1\nline 2', id: undefined, retry: undefined },
    { event: 'message', data: '[DONE]', id: undefined, retry: undefined },
  ];

  it('gives the same events however the bytes are split, including inside UTF-8 sequences', async () => {
    const bytes = encoder.encode(wire);
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }),
        async (cuts) => {
          const points = [0, ...cuts.sort((left, right) => left - right), bytes.length];
          const chunks = points.slice(1).map((end, position) => bytes.slice(points[position], end));
          const { stream } = streamOf(chunks);
          expect(await collect(parseServerSentEvents({ source: stream }))).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('splits byte by byte', async () => {
    const bytes = encoder.encode(wire);
    const { stream } = streamOf([...bytes].map((byte) => Uint8Array.of(byte)));
    expect(await collect(parseServerSentEvents({ source: stream }))).toEqual(expected);
  });

  it('reads any async iterable of chunks', async () => {
    async function* chunks() {
      yield encoder.encode('data: one\n');
      yield encoder.encode('\ndata: two\n\n');
    }
    expect(datas(await collect(parseServerSentEvents({ source: chunks() })))).toEqual(['one', 'two']);
  });

  it('cancels the source when the consumer stops early', async () => {
    const { stream, state } = streamOf(['data: one\n\n', 'data: two\n\n'], { hangAtEnd: true });
    for await (const event of parseServerSentEvents({ source: stream })) {
      expect(event.data).toBe('one');
      break;
    }
    expect(state.cancelled).toBe(true);
  });

  it('rejects a pending read with the signal reason on abort and cancels the source', async () => {
    const { stream, state } = streamOf(['data: one\n\n'], { hangAtEnd: true });
    const controller = new AbortController();
    const reason = new Error('caller left');
    const seen: string[] = [];
    const reading = (async () => {
      for await (const event of parseServerSentEvents({ source: stream, signal: controller.signal })) {
        seen.push(event.data);
        setTimeout(() => controller.abort(reason), 5);
      }
    })();
    await expect(reading).rejects.toBe(reason);
    expect(seen).toEqual(['one']);
    expect(state.cancelled).toBe(true);
    expect(stream.locked).toBe(false);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const { stream } = streamOf(['data: one\n\n']);
    const controller = new AbortController();
    controller.abort();
    await expect(
      collect(parseServerSentEvents({ source: stream, signal: controller.signal })),
    ).rejects.toMatchObject({
      name: 'AbortError',
    });
  });

  it('stops an async iterable source on abort even when its next() never settles', async () => {
    let returned = false;
    const source: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({
        next: () => new Promise<IteratorResult<Uint8Array>>(() => {}),
        return: () => {
          returned = true;
          return Promise.resolve({ done: true as const, value: undefined });
        },
      }),
    };
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 5);
    await expect(collect(parseServerSentEvents({ source, signal: controller.signal }))).rejects.toMatchObject(
      {
        name: 'AbortError',
      },
    );
    expect(returned).toBe(true);
  });
});

describe('readEventStream', () => {
  it('ends at [DONE] without yielding it, and drains the rest of the source without cancelling it', async () => {
    const { stream, state } = streamOf(['data: a\n\ndata: [DONE]\n\n', 'data: after\n\n']);
    expect(datas(await collect(readEventStream({ source: stream })))).toEqual(['a']);
    // Read to its end in the background (so a keep-alive connection is reused), then released.
    await vi.waitFor(() => expect(stream.locked).toBe(false));
    expect(state.cancelled).toBe(false);
  });

  it('does not wait for a source that hangs after [DONE], and cancels it after 5 s', async () => {
    vi.useFakeTimers();
    try {
      const { stream, state } = streamOf(['data: a\n\ndata: [DONE]\n\n'], { hangAtEnd: true });
      expect(datas(await collect(readEventStream({ source: stream })))).toEqual(['a']);
      await vi.advanceTimersByTimeAsync(4_900);
      expect(state.cancelled).toBe(false);
      await vi.advanceTimersByTimeAsync(200);
      expect(state.cancelled).toBe(true);
      expect(stream.locked).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it('cancels a source that keeps sending after [DONE]', async () => {
    const flood = encoder.encode(`data: ${'x'.repeat(16 * 1024)}\n\n`);
    const { stream, state } = streamOf(['data: [DONE]\n\n', ...Array.from({ length: 10 }, () => flood)], {
      hangAtEnd: true,
    });
    expect(await collect(readEventStream({ source: stream }))).toEqual([]);
    await vi.waitFor(() => expect(state.cancelled).toBe(true));
  });

  it('throws a ModelOutputError when the stream ends without [DONE]', async () => {
    const { stream } = streamOf(['data: a\n\n', 'data: b\n\n']);
    const error = await collect(readEventStream({ source: stream, label: 'openai gpt-4o' })).catch(
      (caught: unknown) => caught,
    );
    expect(isKeelError(error)).toBe(true);
    expect(error).toMatchObject({
      code: 'model_output_invalid',
      fault: 'model',
      details: { reason: 'stream_truncated', eventCount: 2 },
    });
    expect((error as Error).message).toMatch(/^openai gpt-4o: the event stream was truncated/);
  });

  it('treats a [DONE] cut before its blank line as truncated (the spec drops incomplete events)', async () => {
    const { stream } = streamOf(['data: a\n\ndata: [DONE]']);
    await expect(collect(readEventStream({ source: stream }))).rejects.toMatchObject({
      code: 'model_output_invalid',
    });
  });

  it('ends cleanly without [DONE] when the consumer already saw its own terminal event', async () => {
    let sawFinish = false;
    const { stream } = streamOf(['data: a\n\n', 'data: finish\n\n']);
    const events: string[] = [];
    for await (const event of readEventStream({ source: stream, isComplete: () => sawFinish })) {
      events.push(event.data);
      if (event.data === 'finish') sawFinish = true;
    }
    expect(events).toEqual(['a', 'finish']);
  });

  it('honors a custom done marker', async () => {
    const { stream } = streamOf(['data: a\n\ndata: END\n\n']);
    expect(datas(await collect(readEventStream({ source: stream, doneData: 'END' })))).toEqual(['a']);
  });
});
