import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { expect, it } from 'vitest';
import { createSpanExportQueue, otelDroppedSpans, type QueuedSpans } from './span-export-queue.js';

/** An exporter that records batches and answers each when the test says so. */
function createHeldExporter() {
  const batches: { spans: ReadableSpan[]; answer: (result: ExportResult) => void }[] = [];
  const exporter: SpanExporter = {
    export: (spans, answer) => batches.push({ spans, answer }),
    shutdown: () => Promise.resolve(),
  };
  return { exporter, batches };
}

const span = (name: string) => ({ name }) as ReadableSpan;
const entry = (name: string, count = 1): QueuedSpans => ({
  count,
  build: () => Array.from({ length: count }, (_, index) => span(`${name}.${index}`)),
});
// Timers fire in order of expiry: a batch scheduled at once (a 0 ms timer) has left after this.
const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

it('bounds the queue in spans, exports one batch at a time, counts every drop', async () => {
  const { exporter, batches } = createHeldExporter();
  const accepted: QueuedSpans[][] = [];
  const queue = createSpanExportQueue({
    exporter,
    scheduleDelayMs: 60_000,
    maxExportBatchSize: 3,
    maxQueueSize: 4,
    onExported: (entries) => void accepted.push([...entries]),
  });
  const before = otelDroppedSpans();
  queue.add(entry('a', 2));
  queue.add(entry('b', 2));
  queue.add(entry('c')); // 5 > 4: dropped at once
  expect(queue.droppedSpans()).toBe(1);
  // A full batch (3) leaves without waiting for the delay: a (2) fits, b would make 4.
  await tick();
  expect(batches.map((batch) => batch.spans.map((s) => s.name))).toEqual([['a.0', 'a.1']]);
  queue.add(entry('d', 2)); // queued: b + d = 4
  queue.add(entry('e')); // dropped: the queue is full while the export hangs
  expect(queue.droppedSpans()).toBe(2);

  batches[0]!.answer({ code: ExportResultCode.SUCCESS });
  await tick();
  expect(accepted).toHaveLength(1);
  expect(batches[1]!.spans.map((s) => s.name)).toEqual(['b.0', 'b.1']);
  batches[1]!.answer({ code: ExportResultCode.FAILED, error: new Error('503') });
  await tick();
  expect(queue.droppedSpans()).toBe(4);
  const flushed = queue.flush();
  await tick();
  batches[2]!.answer({ code: ExportResultCode.SUCCESS });
  await flushed;
  expect(batches[2]!.spans.map((s) => s.name)).toEqual(['d.0', 'd.1']);
  expect(queue.exportedSpans()).toBe(4);
  expect(accepted).toHaveLength(2);
  await queue.shutdown();
  queue.add(entry('late'));
  expect(queue.droppedSpans()).toBe(5);
  expect(otelDroppedSpans() - before).toBe(5);
});

it('on shutdown, a failing endpoint costs one export, not one per batch', async () => {
  const { exporter, batches } = createHeldExporter();
  const queue = createSpanExportQueue({
    exporter,
    scheduleDelayMs: 60_000,
    maxExportBatchSize: 2,
    maxQueueSize: 100,
  });
  queue.add(entry('a', 2));
  await tick(); // a full batch: in flight
  for (const name of ['b', 'c', 'd']) queue.add(entry(name, 2));
  const shutdown = queue.shutdown();
  batches[0]!.answer({ code: ExportResultCode.FAILED, error: new Error('unreachable') });
  await shutdown;
  expect(batches).toHaveLength(1);
  expect(queue.droppedSpans()).toBe(8);
});
