import { ConfigError } from '../errors/config-errors.js';

/** OTLP encodings Keel exports with (`OTEL_EXPORTER_OTLP_PROTOCOL`). */
export type OtlpProtocol = 'http/protobuf' | 'http/json';

/** OpenTelemetry export settings, read from the standard variables by {@link readOtelConfig}. */
export interface OtelConfig {
  /** Full URL spans are POSTed to (`…/v1/traces`). */
  tracesUrl: string;
  protocol: OtlpProtocol;
  /** Extra request headers (`OTEL_EXPORTER_OTLP_HEADERS`, then `…_TRACES_HEADERS`). */
  headers: Record<string, string>;
  /** `service.name` of the resource (`OTEL_SERVICE_NAME`, default `keel`). */
  serviceName: string;
  /** Put message content on spans (`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`). */
  captureContent: boolean;
  /** `OTEL_BSP_SCHEDULE_DELAY`: ms between batch exports (default 5000). */
  scheduleDelayMs: number;
  /** `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`: spans per export request (default 512). */
  maxExportBatchSize: number;
  /** `OTEL_BSP_MAX_QUEUE_SIZE`: spans waiting at most; more are dropped and counted (default 2048). */
  maxQueueSize: number;
  /** `OTEL_BSP_EXPORT_TIMEOUT` / `OTEL_EXPORTER_OTLP_TIMEOUT`: ms one export may take (default 10000). */
  exportTimeoutMs: number;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The export settings in `env`, or undefined when no OTLP endpoint is set (export is off).
 * Throws `ConfigError` (`config_invalid`) for a value that cannot be meant: a protocol Keel does
 * not speak (`grpc`), an endpoint that is not an http(s) URL, a header without `=`, a batch
 * setting that is not a positive integer. Checked once at startup, so a bad setting stops the
 * process at once instead of silently exporting nothing.
 */
export function readOtelConfig(env: Env): OtelConfig | undefined {
  const specific = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const general = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  if (specific === undefined && general === undefined) return undefined;
  // The signal-specific endpoint is used as given; the general one gets `v1/traces` appended.
  const tracesUrl =
    specific !== undefined
      ? checkedUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', specific)
      : `${checkedUrl('OTEL_EXPORTER_OTLP_ENDPOINT', general!).replace(/\/+$/, '')}/v1/traces`;
  const protocolText =
    nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) ??
    nonEmpty(env.OTEL_EXPORTER_OTLP_PROTOCOL) ??
    'http/protobuf';
  if (protocolText !== 'http/protobuf' && protocolText !== 'http/json')
    throw invalid(
      'OTEL_EXPORTER_OTLP_PROTOCOL',
      protocolText,
      'Keel exports with "http/protobuf" (default) or "http/json"',
    );
  return {
    tracesUrl,
    protocol: protocolText,
    headers: {
      ...parseHeaders('OTEL_EXPORTER_OTLP_HEADERS', env.OTEL_EXPORTER_OTLP_HEADERS),
      ...parseHeaders('OTEL_EXPORTER_OTLP_TRACES_HEADERS', env.OTEL_EXPORTER_OTLP_TRACES_HEADERS),
    },
    serviceName: nonEmpty(env.OTEL_SERVICE_NAME) ?? 'keel',
    captureContent: env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT?.trim().toLowerCase() === 'true',
    scheduleDelayMs: positive(env, 'OTEL_BSP_SCHEDULE_DELAY', 5_000, true),
    maxExportBatchSize: positive(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512),
    maxQueueSize: positive(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2_048),
    exportTimeoutMs: positive(
      env,
      nonEmpty(env.OTEL_BSP_EXPORT_TIMEOUT) === undefined
        ? 'OTEL_EXPORTER_OTLP_TIMEOUT'
        : 'OTEL_BSP_EXPORT_TIMEOUT',
      10_000,
    ),
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}

function checkedUrl(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(name, value, 'expected an http(s) URL such as http://localhost:4318');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw invalid(name, value, 'expected an http(s) URL such as http://localhost:4318');
  return value;
}

/** `key1=value1,key2=value2`, values URL-encoded (the OTel specification's format). */
function parseHeaders(name: string, raw: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (nonEmpty(raw) === undefined) return headers;
  for (const entry of raw!.split(',')) {
    if (entry.trim() === '') continue;
    const equals = entry.indexOf('=');
    const key = equals < 0 ? '' : entry.slice(0, equals).trim();
    if (key === '' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key))
      throw invalid(
        name,
        '(not shown: it may hold a secret)',
        'expected key=value pairs separated by commas',
      );
    let value = entry.slice(equals + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      // Not URL-encoded after all: sent as written.
    }
    headers[key.toLowerCase()] = value;
  }
  return headers;
}

function positive(env: Env, name: string, fallback: number, zeroAllowed = false): number {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < (zeroAllowed ? 0 : 1))
    throw invalid(
      name,
      raw,
      zeroAllowed ? 'expected a whole number of 0 or more' : 'expected a positive whole number',
    );
  return value;
}

function invalid(name: string, value: string, expected: string): ConfigError {
  return new ConfigError('config_invalid', `${name}=${JSON.stringify(value)} is not valid: ${expected}.`, {
    variable: name,
  });
}
