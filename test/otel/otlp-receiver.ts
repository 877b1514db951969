/**
 * A real OTLP/HTTP trace receiver for tests: a node:http server at `/v1/traces` that decodes
 * both encodings with the official protobuf definitions (opentelemetry-proto v1.11.0, vendored
 * in ./proto): `application/x-protobuf` bodies with `ExportTraceServiceRequest.decode`, and
 * `application/json` bodies (OTLP/JSON: hex ids, integer enums) with `fromObject` on the same
 * type, so a field the schema does not know, or a wrong type, fails the test either way.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => `${PROTO_DIR}${target}`;
root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
const requestType = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');

export type AttributeValue = string | number | boolean | AttributeValue[] | null;

/** One span as received, ids in hex, times in ms. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  /** SpanKind of the proto: 1 internal, 2 server, 3 client. */
  kind: number;
  startMs: number;
  endMs: number;
  attributes: Record<string, AttributeValue>;
  /** 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  resource: Record<string, AttributeValue>;
  scope: string;
}

export interface ReceivedRequest {
  contentType: string;
  headers: IncomingHttpHeaders;
  spans: ReceivedSpan[];
}

export interface OtlpReceiver {
  /** Base URL, for OTEL_EXPORTER_OTLP_ENDPOINT (spans are POSTed to `${url}/v1/traces`). */
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Every span received, in arrival order. */
  spans(): ReceivedSpan[];
  /** Bodies that failed to decode (the test should expect none). */
  readonly failures: string[];
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const requests: ReceivedRequest[] = [];
  const failures: string[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const contentType = String(request.headers['content-type'] ?? '');
      if (request.method !== 'POST' || request.url !== '/v1/traces') {
        response.writeHead(404).end();
        return;
      }
      try {
        const message = contentType.includes('json')
          ? requestType.fromObject(
              hexIdsToBase64(JSON.parse(body.toString('utf8')) as unknown) as Record<string, unknown>,
            )
          : requestType.decode(body);
        const plain = requestType.toObject(message, { longs: String, bytes: String, oneofs: true });
        requests.push({ contentType, headers: request.headers, spans: flatten(plain) });
        if (contentType.includes('json')) {
          response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        } else {
          response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
        }
      } catch (error) {
        failures.push(`${contentType}: ${error instanceof Error ? error.message : String(error)}`);
        response.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    failures,
    spans: () => requests.flatMap((request) => request.spans),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface PlainAnyValue {
  /** Which member of the `value` oneof is set (`oneofs: true`). */
  value?: string;
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: PlainAnyValue[] };
}
interface PlainKeyValue {
  key: string;
  value?: PlainAnyValue;
}
interface PlainRequest {
  resourceSpans?: {
    resource?: { attributes?: PlainKeyValue[] };
    scopeSpans?: {
      scope?: { name?: string };
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind?: number;
        startTimeUnixNano: string;
        endTimeUnixNano: string;
        attributes?: PlainKeyValue[];
        status?: { code?: number; message?: string };
      }[];
    }[];
  }[];
}

function flatten(plain: Record<string, unknown>): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of (plain as PlainRequest).resourceSpans ?? []) {
    const resource = attributesOf(resourceSpans.resource?.attributes);
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        const parent = hex(span.parentSpanId ?? '');
        spans.push({
          traceId: hex(span.traceId),
          spanId: hex(span.spanId),
          parentSpanId: parent === '' ? undefined : parent,
          name: span.name,
          kind: Number(span.kind ?? 0),
          startMs: Number(BigInt(span.startTimeUnixNano) / 1_000_000n),
          endMs: Number(BigInt(span.endTimeUnixNano) / 1_000_000n),
          attributes: attributesOf(span.attributes),
          status: { code: Number(span.status?.code ?? 0), message: span.status?.message ?? '' },
          resource,
          scope: scopeSpans.scope?.name ?? '',
        });
      }
    }
  }
  return spans;
}

function attributesOf(list: PlainKeyValue[] | undefined): Record<string, AttributeValue> {
  const attributes: Record<string, AttributeValue> = {};
  for (const entry of list ?? []) attributes[entry.key] = valueOf(entry.value);
  return attributes;
}

function valueOf(value: PlainAnyValue | undefined): AttributeValue {
  switch (value?.value) {
    case 'stringValue':
      return value.stringValue ?? '';
    case 'boolValue':
      return value.boolValue ?? false;
    case 'intValue':
      return Number(value.intValue ?? 0);
    case 'doubleValue':
      return value.doubleValue ?? 0;
    case 'arrayValue':
      return (value.arrayValue?.values ?? []).map(valueOf);
    default:
      return null;
  }
}

function hex(base64: string): string {
  return Buffer.from(base64, 'base64').toString('hex');
}

/** OTLP/JSON carries ids as hex; protobuf's JSON mapping (fromObject) expects base64 bytes. */
function hexIdsToBase64(json: unknown): unknown {
  if (Array.isArray(json)) return json.map(hexIdsToBase64);
  if (typeof json !== 'object' || json === null) return json;
  const converted: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    converted[key] =
      (key === 'traceId' || key === 'spanId' || key === 'parentSpanId') && typeof value === 'string'
        ? Buffer.from(value, 'hex').toString('base64')
        : hexIdsToBase64(value);
  }
  return converted;
}
