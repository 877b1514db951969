import type { IncomingMessage } from 'node:http';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, defaultTextMapGetter, type Attributes } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import {
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
} from '@opentelemetry/semantic-conventions/incubating';
import { isKeelError } from '../errors/keel-error.js';
import type { CallMeta } from '../gateway/gateway-types.js';
import { KEEL_ATTRIBUTES } from './journal-spans.js';

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
 * arrived over HTTP), continuing the caller's trace when the request carries a W3C
 * `traceparent` (and honouring its sampled flag), else starting one. They are ended spans of the
 * official SDK's tracer, handed to `onEnd` (Keel's export queue), so they leave with the
 * journal's spans in the same batches.
 */
export function createGatewayCallTracer({
  resource,
  onEnd,
}: {
  resource: Resource;
  onEnd: (span: ReadableSpan) => void;
}): GatewayCallTracer & { shutdown(): Promise<void> } {
  const provider = new BasicTracerProvider({
    resource,
    spanProcessors: [
      {
        onStart: () => {},
        onEnd,
        forceFlush: () => Promise.resolve(),
        shutdown: () => Promise.resolve(),
      },
    ],
  });
  const tracer = provider.getTracer('keel.gateway');
  const propagator = new W3CTraceContextPropagator();
  return {
    start(request, call) {
      const parent = propagator.extract(ROOT_CONTEXT, request.headers, defaultTextMapGetter);
      const span = tracer.startSpan(
        `chat ${call.model}`,
        {
          kind: SpanKind.SERVER,
          attributes: {
            [ATTR_GEN_AI_OPERATION_NAME]: 'chat',
            [ATTR_GEN_AI_REQUEST_MODEL]: call.model,
            [KEEL_ATTRIBUTES.tenantId]: call.tenantId,
            'keel.gateway.endpoint': call.endpoint,
          },
        },
        parent,
      );
      let ended = false;
      return {
        end(meta, error) {
          if (ended) return;
          ended = true;
          if (!span.isRecording()) return span.end();
          const attributes: Attributes = {};
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
          if (failure !== undefined) {
            const code =
              isKeelError(failure) || (typeof failure === 'object' && failure !== null && 'code' in failure)
                ? String((failure as { code: unknown }).code)
                : 'error';
            attributes[ATTR_ERROR_TYPE] = code;
            span.setStatus({
              code: SpanStatusCode.ERROR,
              message: failure instanceof Error ? failure.message : String((failure as { message?: unknown }).message ?? code),
            });
          }
          span.setAttributes(attributes);
          span.end();
        },
      };
    },
    shutdown: () => provider.shutdown(),
  };
}
