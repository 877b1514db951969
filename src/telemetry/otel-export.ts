import { OTLPTraceExporter as OtlpJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { SqlClient } from '../journal/sql-client.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { createGatewayCallTracer, type GatewayCallTracer } from './gateway-call-spans.js';
import { readOtelConfig, type OtelConfig } from './otel-config.js';
import { createSqlOtelExportMarks } from './otel-export-marks.js';
import { createOtelRunTelemetry } from './otel-run-telemetry.js';
import type { RunTelemetry } from './run-telemetry.js';
import { createSpanExportQueue } from './span-export-queue.js';

/** Options of {@link createOtelExport}. */
export interface OtelExportOptions {
  /** Where the `OTEL_*` variables are read (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** The journal's database, for the runs' export marks (without it, resumed runs re-emit nothing). */
  client?: SqlClient;
  /** Postgres schema of Keel's tables (default `keel`). */
  schema?: string;
  logger?: Logger;
}

/** OpenTelemetry export of one process: a run observer for its workers, a tracer for its gateway. */
export interface OtelExport {
  readonly config: OtelConfig;
  /** Pass to `createWorker({ telemetry })`: spans from the journal's committed rows. */
  readonly telemetry: RunTelemetry;
  /** Pass to the gateway's HTTP handler: live `chat {model}` spans. */
  readonly gatewayTracer: GatewayCallTracer;
  /** Spans dropped so far (queue full, endpoint unreachable or refusing). */
  droppedSpans(): number;
  /** Spans the endpoint accepted so far. */
  exportedSpans(): number;
  /** Exports everything queued now. */
  flush(): Promise<void>;
  /** Flushes and stops (call after the workers and the server stopped). */
  shutdown(): Promise<void>;
}

/**
 * OpenTelemetry trace export as the standard variables configure it, or undefined when no OTLP
 * endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`). Throws
 * `ConfigError` (`config_invalid`) for a setting it cannot use (see `readOtelConfig`).
 *
 * Spans go through the official OTLP exporters (`http/protobuf`, or `http/json`) from one bounded
 * queue exported in batches off the runs' path (see span-export-queue.ts); an unreachable
 * endpoint costs dropped spans (counted), never a slower or failed run.
 */
export function createOtelExport({
  env = process.env,
  client,
  schema,
  logger = silentLogger,
}: OtelExportOptions = {}): OtelExport | undefined {
  const config = readOtelConfig(env);
  if (config === undefined) return undefined;
  const exporterOptions = {
    url: config.tracesUrl,
    headers: config.headers,
    timeoutMillis: config.exportTimeoutMs,
    concurrencyLimit: 1,
  };
  const exporter: SpanExporter =
    config.protocol === 'http/json'
      ? new OtlpJsonTraceExporter(exporterOptions)
      : new OtlpProtoTraceExporter(exporterOptions);
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName });
  const marks =
    client === undefined
      ? undefined
      : createSqlOtelExportMarks(schema === undefined ? { client } : { client, schema });
  const queue = createSpanExportQueue({
    exporter,
    scheduleDelayMs: config.scheduleDelayMs,
    maxExportBatchSize: config.maxExportBatchSize,
    maxQueueSize: config.maxQueueSize,
    exportTimeoutMs: config.exportTimeoutMs,
    // Called only after an export, by which time `telemetry` below is set.
    onExported: (entries) => telemetry.exported(entries),
    logger,
  });
  const telemetry = createOtelRunTelemetry({
    enqueue: (entry) => queue.add(entry),
    ...(marks === undefined ? {} : { marks }),
    spans: { resource, scope: { name: 'keel' }, captureContent: config.captureContent },
    logger,
  });
  const gatewayTracer = createGatewayCallTracer({ resource, onEnd: (entry) => queue.add(entry) });
  return {
    config,
    telemetry,
    gatewayTracer,
    droppedSpans: () => queue.droppedSpans(),
    exportedSpans: () => queue.exportedSpans(),
    flush: () => queue.flush(),
    shutdown: () => queue.shutdown(),
  };
}
