import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { SpanKind, TraceFlags, type Attributes } from '@opentelemetry/api';
import { parseTraceParent } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import { RandomIdGenerator } from '@opentelemetry/sdk-trace-base';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import {
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
} from '@opentelemetry/semantic-conventions/incubating';
import type { CallMeta } from '../gateway/gateway-types.js';
import { KEEL_ATTRIBUTES, readableSpan } from './journal-spans.js';
import type { QueuedSpans } from './span-export-queue.js';

/** What the gateway's HTTP handler knows when a model call arrives. */
export interface GatewayCallStart {
  /** The model the caller asked for (a gateway route). */
  model: string;
  /** `chat` (OpenAI chat completions) or `messages` (Anthropic messages). */
  endpoint: string;
  tenantId: string;
}

/** A gateway call's live span; `end` may be called once (later calls are ignored). */
export interface GatewayCallSpan {
  /** Ends the span with what the gateway did (`meta`) and, for a failed call, its error. */
  end(meta: Partial<CallMeta> | undefined, error?: unknown): void;
}

/** Starts `chat {model}` spans for the gateway's HTTP calls (see {@link createGatewayCallTracer}). */
export interface GatewayCallTracer {
  start(request: IncomingMessage, call: GatewayCallStart): GatewayCallSpan;
}

/**
 * Live `chat {model}` spans for calls to the gateway's HTTP endpoints (server spans: the call
 * arrived over HTTP), continuing the caller's trace when the request carries a valid W3C
 * `traceparent` (and honouring its sampled flag: a call the caller did not sample is not
 * exported), else starting a new trace.
 *
 * The request's path only notes the start time, the `traceparent` text and, at the end, the
 * call's meta; parsing the header, drawing ids and building the span happen when its batch is
 * exported (`onEnd` gets a deferred span), so tracing adds about a microsecond to a call.
 */
export function createGatewayCallTracer({
  resource,
  onEnd,
}: {
  resource: Resource;
  onEnd: (entry: QueuedSpans) => void;
}): GatewayCallTracer {
  const ids = new RandomIdGenerator();
  const scope = { name: 'keel.gateway' };
  return {
    start(request, call) {
      const startedAt = performance.timeOrigin + performance.now();
      const traceparent = request.headers.traceparent;
      let ended = false;
      return {
        end(meta, error) {
          if (ended) return;
          ended = true;
          const endedAt = performance.timeOrigin + performance.now();
          onEnd({
            count: 1,
            build() {
              const parent = typeof traceparent === 'string' ? parseTraceParent(traceparent) : null;
              if (parent !== null && (parent.traceFlags & TraceFlags.SAMPLED) === 0) return [];
              return [
                readableSpan({
                  name: `chat ${call.model}`,
                  kind: SpanKind.SERVER,
                  traceId: parent?.traceId ?? ids.generateTraceId(),
                  spanId: ids.generateSpanId(),
                  ...(parent === null ? {} : { parentSpanId: parent.spanId }),
                  start: startedAt,
                  end: endedAt,
                  ...callOutcome(call, meta, error),
                  options: { resource, scope },
                }),
              ];
            },
          });
        },
      };
    },
  };
}

function callOutcome(
  call: GatewayCallStart,
  meta: Partial<CallMeta> | undefined,
  error: unknown,
): { attributes: Attributes; error: string | undefined } {
  const attributes: Attributes = {
    [ATTR_GEN_AI_OPERATION_NAME]: 'chat',
    [ATTR_GEN_AI_REQUEST_MODEL]: call.model,
    [KEEL_ATTRIBUTES.tenantId]: call.tenantId,
    'keel.gateway.endpoint': call.endpoint,
  };
  if (meta?.provider !== undefined) attributes[ATTR_GEN_AI_PROVIDER_NAME] = meta.provider;
  if (meta?.model !== undefined) attributes[ATTR_GEN_AI_RESPONSE_MODEL] = meta.model;
  if (meta?.deployment !== undefined) attributes[KEEL_ATTRIBUTES.deployment] = meta.deployment;
  if (meta?.route !== undefined) attributes[KEEL_ATTRIBUTES.route] = meta.route;
  if (meta?.usage !== undefined) {
    attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS] = meta.usage.inputTokens;
    attributes[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS] = meta.usage.outputTokens;
  }
  if (meta?.costUsd !== undefined) attributes[KEEL_ATTRIBUTES.costUsd] = meta.costUsd;
  if (meta?.attempts !== undefined) attributes['keel.gateway.attempts'] = meta.attempts;
  if (meta?.cached !== undefined) attributes['keel.gateway.cached'] = meta.cached;
  const failure = error ?? (meta?.outcome === 'error' ? meta.error : undefined);
  if (failure === undefined) return { attributes, error: undefined };
  const code =
    typeof failure === 'object' && failure !== null && 'code' in failure
      ? String((failure as { code: unknown }).code)
      : 'error';
  attributes[ATTR_ERROR_TYPE] = code;
  const message =
    failure instanceof Error
      ? failure.message
      : typeof failure === 'object' && failure !== null && 'message' in failure
        ? String((failure as { message: unknown }).message)
        : code;
  return { attributes, error: message };
}
