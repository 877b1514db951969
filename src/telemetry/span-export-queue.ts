import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { silentLogger, type Logger } from '../util/logger.js';

/**
 * One fact waiting to be exported: its spans are built only when its batch leaves (off the run's
 * path), and `count` says how many it makes, so the bound and the drop count are in spans.
 */
export interface QueuedSpans {
  count: number;
  build(): ReadableSpan[];
  /** The run and step the spans come from (journal spans), for the export marks. */
  runId?: string;
  seq?: number;
}

/** Options of {@link createSpanExportQueue} (the `OTEL_BSP_*` settings). */
export interface SpanExportQueueOptions {
  exporter: SpanExporter;
  /** Time between exports (default 5000 ms); a full batch leaves at once. */
  scheduleDelayMs?: number;
  /** Spans per export request (default 512). */
  maxExportBatchSize?: number;
  /** Spans waiting at most (default 2048); beyond it new spans are dropped and counted. */
  maxQueueSize?: number;
  /** One export's time limit (default 10 s); past it the batch counts as dropped. */
  exportTimeoutMs?: number;
  /** Called with the entries of each batch the endpoint accepted (e.g. to advance marks). */
  onExported?: (entries: readonly QueuedSpans[]) => Promise<void> | void;
  logger?: Logger;
}

/** A bounded queue of spans exported in batches, one request at a time. */
export interface SpanExportQueue {
  /** Queues spans; never blocks, never throws. Drops them (counted) when the queue is full. */
  add(entry: QueuedSpans): void;
  /** Spans dropped since start: queue full, export failed or timed out, or added after shutdown. */
  droppedSpans(): number;
  /** Spans the endpoint accepted since start. */
  exportedSpans(): number;
  /** Exports everything queued when called (resolves also when an export fails: those are dropped). */
  flush(): Promise<void>;
  /**
   * Flushes, then shuts the exporter down; later spans are dropped. When an export fails during
   * the flush, the rest is dropped (counted) rather than waiting one timeout per batch.
   */
  shutdown(): Promise<void>;
}

let droppedInProcess = 0;

/**
 * Spans dropped by every export queue of this process since it started (the figure behind
 * `keel_otel_dropped_spans_total`).
 */
export function otelDroppedSpans(): number {
  return droppedInProcess;
}

/**
 * A batch span processor of Keel's own: the SDK's `BatchSpanProcessor` keeps its drop count
 * private and cannot tell which spans a batch carried once it was accepted, and Keel needs both
 * (the `keel_otel_dropped_spans_total` figure, and the journal's export marks). Same settings,
 * same behaviour otherwise: a timer (unref'd) or a full batch triggers an export; one request in
 * flight at most; an unreachable endpoint costs dropped spans, never a blocked caller.
 */
export function createSpanExportQueue({
  exporter,
  scheduleDelayMs = 5_000,
  maxExportBatchSize = 512,
  maxQueueSize = 2_048,
  exportTimeoutMs = 10_000,
  onExported,
  logger = silentLogger,
}: SpanExportQueueOptions): SpanExportQueue {
  const batchSize = Math.max(1, Math.min(maxExportBatchSize, maxQueueSize));
  let queue: QueuedSpans[] = [];
  let queued = 0;
  let dropped = 0;
  let exported = 0;
  let closed = false;
  let shuttingDown = false;
  let timer: NodeJS.Timeout | undefined;
  let exporting: Promise<void> | undefined;
  let warnedAt = Number.NEGATIVE_INFINITY;

  const drop = (count: number, why: string, detail?: string) => {
    if (count <= 0) return;
    dropped += count;
    droppedInProcess += count;
    // Once a minute at most: a dead collector must not flood the log.
    if (Date.now() - warnedAt < 60_000) return;
    warnedAt = Date.now();
    logger.warn('OpenTelemetry spans dropped', { spans: count, why, droppedSoFar: dropped, detail });
  };

  const schedule = () => {
    if (timer !== undefined || closed) return;
    timer = setTimeout(
      () => {
        timer = undefined;
        void exportQueued();
      },
      queued >= batchSize ? 0 : scheduleDelayMs,
    );
    timer.unref();
  };

  /** Empties the queue; returns how many spans it held. */
  const takeAll = (): number => {
    const count = queued;
    queue = [];
    queued = 0;
    return count;
  };

  /** Takes entries up to one batch's worth of spans. */
  const takeBatch = (): QueuedSpans[] => {
    let count = 0;
    let index = 0;
    while (index < queue.length && (count === 0 || count + queue[index]!.count <= batchSize)) {
      count += queue[index]!.count;
      index++;
    }
    const batch = queue.slice(0, index);
    queue = queue.slice(index);
    queued -= count;
    return batch;
  };

  const exportBatch = async (batch: QueuedSpans[]): Promise<void> => {
    const count = batch.reduce((sum, entry) => sum + entry.count, 0);
    let spans: ReadableSpan[];
    try {
      spans = batch.flatMap((entry) => entry.build());
    } catch (error) {
      drop(count, 'span_build_failed', error instanceof Error ? error.message : String(error));
      return;
    }
    if (spans.length === 0) return;
    const result = await exportWithTimeout(exporter, spans, exportTimeoutMs);
    if (result.code !== ExportResultCode.SUCCESS) {
      drop(spans.length, 'export_failed', result.error?.message);
      // Shutting down with the endpoint failing: one timeout is all the exit waits for.
      if (shuttingDown) drop(takeAll(), 'shut_down');
      return;
    }
    exported += spans.length;
    try {
      await onExported?.(batch);
    } catch (error) {
      logger.warn('after-export step failed; spans were exported', {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  };

  /** Exports batches until the queue is empty; one export at a time. */
  const exportQueued = (): Promise<void> => {
    if (exporting) return exporting;
    exporting = (async () => {
      try {
        while (queue.length > 0) await exportBatch(takeBatch());
      } finally {
        exporting = undefined;
      }
    })();
    return exporting;
  };

  return {
    add(entry) {
      if (entry.count <= 0) return;
      if (closed) return drop(entry.count, 'shut_down');
      if (queued + entry.count > maxQueueSize) return drop(entry.count, 'queue_full');
      queue.push(entry);
      queued += entry.count;
      if (queued >= batchSize && timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
      }
      // An export in progress takes what was added meanwhile before it ends.
      if (exporting === undefined) schedule();
    },
    droppedSpans: () => dropped,
    exportedSpans: () => exported,
    async flush() {
      if (timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
      }
      await exporting;
      await exportQueued();
    },
    async shutdown() {
      shuttingDown = true;
      await this.flush();
      closed = true;
      await exporter.shutdown().catch(() => {});
    },
  };
}

function exportWithTimeout(
  exporter: SpanExporter,
  spans: ReadableSpan[],
  timeoutMs: number,
): Promise<ExportResult> {
  return new Promise((resolve) => {
    const timer = setTimeout(
      () =>
        resolve({
          code: ExportResultCode.FAILED,
          error: new Error(`export timed out after ${timeoutMs} ms`),
        }),
      timeoutMs,
    );
    timer.unref();
    try {
      exporter.export(spans, (result) => {
        clearTimeout(timer);
        resolve(result);
      });
    } catch (error) {
      clearTimeout(timer);
      resolve({
        code: ExportResultCode.FAILED,
        error: error instanceof Error ? error : new Error(String(error)),
      });
    }
  });
}
