/**
 * The gateway's HTTP endpoints, as wire routes of the route table (`WireRoute` in
 * `http/wire-routes.ts`, the HTTP layer it shares with the run API): OpenAI chat completions (`POST /v1/chat/completions`), embeddings
 * (`POST /v1/embeddings`), models (`GET /v1/models[/{id}]`) and responses (`POST /v1/responses`,
 * stored nowhere), and Anthropic messages
 * (`POST /v1/messages`), all served by the same gateway whatever provider answers. The table
 * matches them (raw path, any method: 405 in the route's format) and runs their auth/limits hook
 * (below) before the handler; `createServer` mounts them in its table, `keel gateway` alone.
 *
 * - Auth: Keel API keys (virtual keys) as `Authorization: Bearer`, and on `/v1/messages` also as
 *   `x-api-key` (any `anthropic-version` is accepted). A key needs the `gateway` or `admin` scope;
 *   its id, tenant and rpm/tpm become the gateway's `Caller`. Provider keys never leave the server.
 * - Headers: `x-request-id` on every answer (the caller's own when well formed); `x-keel-deployment`,
 *   `x-keel-attempts`, `x-keel-cache` (hit/miss) and, when known, `x-keel-overhead-ms` and
 *   `x-keel-cost-usd`, and `x-keel-usage: estimated` when the upstream reported no usage (the
 *   answer's `usage` is then Keel's estimate, as its price). A stream's headers leave at its first
 *   byte, when the deployment and attempts are known but cost, overhead and usage are not: streams
 *   omit those (the call record has them; a requested usage chunk carries the estimate).
 * - Errors: the HTTP layer's one classification (`classifyGatewayError`) and one body mapping per wire format; 429
 *   carries `Retry-After` (whole seconds, rounded up) and `retry-after-ms`. A stream that fails after
 *   its first byte ends with an explicit error event (OpenAI: a `data: {"error": ...}` chunk, no
 *   `[DONE]`; Anthropic: `event: error`, no `message_stop`), never a clean end.
 * - A caller that goes away before its answer ended aborts the gateway call, and with it the
 *   upstream request.
 * - Hot path: the handler logs only the gateway's own failures; the request id and the verified
 *   caller are noted on the request (`noteRequest`) for the server's one request log line. The
 *   body is read once and validated once, and the key is verified while the body arrives.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { KeelError } from '../../errors/keel-error.js';
import type { WireStream } from '../../model/model.js';
import { ModelOutputError } from '../../errors/model-errors.js';
import { createId, type IdGenerator } from '../../util/ids.js';
import { silentLogger, type Logger } from '../../util/logger.js';
import { echoedRequestId, noteRequest } from '../../util/request-notes.js';
import { verifyKey, type KeyRefusals } from '../../http/authenticate.js';
import { sendJson as sendJsonAnswer } from '../../http/http-io.js';
import { createWireListener, type WireRoute, type WireTable } from '../../http/wire-routes.js';
import type { GatewayCallSpan, GatewayCallTracer } from '../../telemetry/gateway-call-spans.js';
import type { GatewayBudgetHold, GatewayBudgets } from '../../budgets/gateway-budgets.js';
import type { ApiKeys, ApiKeyScope } from '../api-keys.js';
import { callMetaOfError } from '../gateway-errors.js';
import type {
  CallMeta,
  Caller,
  Gateway,
  GatewayCallOptions,
  GatewayRequest,
  GatewayResult,
  GatewayStream,
  GatewayWireStream,
} from '../gateway-types.js';
import {
  createAnthropicEventEncoder,
  parseCountTokensRequest,
  parseMessagesRequest,
  toAnthropicError,
  toAnthropicMessage,
} from './anthropic-format.js';
import {
  classifyGatewayError,
  GatewayRequestError,
  modelNotFound,
  retryHeaders,
  type StreamEncoder,
  type WireWriter,
} from './gateway-http-errors.js';
import { inResponsesTerms, parseResponsesRequest } from './responses-format.js';
import { createResponsesEventEncoder, toResponse } from './responses-output.js';
import {
  createChatChunkRelay,
  createChatCompletionChunkEncoder,
  parseChatCompletionRequest,
  parseEmbeddingsRequest,
  toChatCompletion,
  toEmbeddingsResponse,
  toModel,
  toModelList,
  toOpenAIError,
} from './openai-format.js';
import { routeAnswering } from '../route-patterns.js';
import { anthropicUserIdOf, attributeCall, type CallAttribution } from './call-attribution.js';

/** Options of {@link createGatewayHandler}. */
export interface GatewayHandlerOptions {
  gateway: Gateway;
  /** Keel API keys; `verify` caches its answers (a revocation elsewhere shows within its TTL). */
  apiKeys: Pick<ApiKeys, 'verify'>;
  /** Only failures of the gateway itself are logged (never one line per request). */
  logger?: Logger;
  /** Larger bodies get a 413 (default 4 MiB, as the gateway config's `maxBodyBytes`). */
  maxBodyBytes?: number;
  generateId?: IdGenerator;
  /** Epoch milliseconds, for `created` fields. */
  now?: () => number;
  /** Live `chat {model}` spans of chat and messages calls (OpenTelemetry export, when on). */
  tracer?: GatewayCallTracer;
  /**
   * Budgets: each call reserves its worst case before any provider is called (429
   * `budget_exhausted` when it does not fit) and settles after. Absent: no budgets apply.
   */
  budgets?: GatewayBudgets;
  /** Refuses the calls of a paused tenant (409 `tenant_paused`), before anything is reserved. */
  tenantHold?: (tenantId: string) => KeelError | undefined;
}

/**
 * A node:http request handler: returns true when the request is one of the gateway's routes and
 * is being answered, false to let the caller route it elsewhere. It never throws and never
 * leaves a request unanswered. `wire` is the gateway's routes as a table, for a server that
 * mounts them in its own route table (`createServer`).
 */
export type GatewayHandler = ((request: IncomingMessage, response: ServerResponse) => boolean) & {
  readonly wire: WireTable<Caller>;
};

const REQUIRED_SCOPES: readonly ApiKeyScope[] = ['gateway', 'admin'];

/** The gateway's refusals of a key (statuses: the HTTP layer's, 401 and 403). */
const OPENAI_REFUSALS: KeyRefusals = {
  missing: () =>
    new GatewayRequestError({
      code: 'missing_api_key',
      message: 'Missing API key: send a Keel API key as "Authorization: Bearer <key>".',
    }),
  invalid: () =>
    new GatewayRequestError({
      code: 'invalid_api_key',
      message: 'Invalid API key: unknown, revoked or expired.',
    }),
  forbidden: (key) =>
    new GatewayRequestError({
      code: 'insufficient_scope',
      message: `This API key may not use the gateway: it needs the "gateway" scope (it has: ${key.scopes.join(', ') || 'none'}).`,
    }),
};
const ANTHROPIC_REFUSALS: KeyRefusals = {
  ...OPENAI_REFUSALS,
  missing: () =>
    new GatewayRequestError({
      code: 'missing_api_key',
      message: 'Missing API key: send a Keel API key as "x-api-key" or "Authorization: Bearer <key>".',
    }),
};

/**
 * Creates the gateway's request handler: its routes (see {@link createGatewayRoutes}) alone in a
 * route table; see {@link GatewayHandler}.
 */
export function createGatewayHandler(options: GatewayHandlerOptions): GatewayHandler {
  const wire = createGatewayRoutes(options);
  return Object.assign(createWireListener(wire), { wire });
}

/**
 * The gateway's endpoints as routes of the route table, on their own wire: errors in the OpenAI
 * format (Anthropic's on `/v1/messages`), and their auth/limits hook: a Keel API key with the
 * `gateway` or `admin` scope, its rpm/tpm attached to the caller, the body read within
 * `maxBodyBytes` while the key is verified.
 */
export function createGatewayRoutes({
  gateway,
  apiKeys,
  logger = silentLogger,
  maxBodyBytes = 4 * 1024 * 1024,
  generateId = createId,
  now = Date.now,
  tracer,
  budgets,
  tenantHold,
}: GatewayHandlerOptions): WireTable<Caller> {
  /** A paused tenant's calls stop here: its spend breaker tripped on spend that must not go on. */
  const refuseHeldTenant = (caller: Caller) => {
    const held = tenantHold?.(caller.tenantId);
    if (held !== undefined) throw held;
  };
  const gatewayScopes = REQUIRED_SCOPES;
  const optionsOf = (
    request: IncomingMessage,
    caller: Caller,
    signal: AbortSignal,
    endpoint: GatewayCallOptions['endpoint'],
    attribution: CallAttribution,
  ) => {
    const options: GatewayCallOptions = { signal, caller, endpoint, ...attribution };
    // Per-request opt-out, or opt-in where the route allows it (`cache.callerOptIn`).
    const cacheHeader = request.headers['x-keel-cache'];
    if (cacheHeader === 'true' || cacheHeader === 'false') options.callerCache = cacheHeader === 'true';
    return options;
  };
  /**
   * Answers one parsed chat or messages call through the gateway: the whole answer as JSON, or a
   * stream in the route's wire format. The call's span (when tracing) ends with the answer.
   */
  async function answerCall(
    {
      request,
      response,
      caller,
      signal,
      requestId,
    }: {
      request: IncomingMessage;
      response: ServerResponse;
      caller: Caller;
      signal: AbortSignal;
      requestId: string;
    },
    endpoint: 'chat' | 'messages' | 'responses',
    call: { request: GatewayRequest; stream: boolean },
    attribution: CallAttribution,
    wire: {
      body: (answer: GatewayResult['response']) => unknown;
      encoder: () => StreamEncoder;
      /** The caller's wire format for the byte relay, when this endpoint has one. */
      relay?: { wire: WireStream['wire']; writer: () => WireWriter };
    },
  ): Promise<void> {
    const options = optionsOf(request, caller, signal, endpoint, attribution);
    refuseHeldTenant(caller);
    const hold = await budgets?.reserve({
      caller,
      route: call.request.model,
      request: call.request,
      ...attribution,
    });
    const sent =
      hold?.maxOutputTokens === undefined
        ? call.request
        : { ...call.request, maxOutputTokens: hold.maxOutputTokens };
    const span = tracer?.start(request, { model: call.request.model, endpoint, tenantId: caller.tenantId });
    try {
      if (!call.stream) {
        const result = await gateway.generate(sent, options);
        span?.end(result.meta);
        void hold?.settle(result.meta);
        return sendJson(response, 200, wire.body(result.response), requestId, metaHeaders(result.meta));
      }
      const stream =
        wire.relay !== undefined && gateway.streamWire !== undefined
          ? await gateway.streamWire(sent, options, wire.relay.wire)
          : await gateway.stream(sent, options);
      endWithStream(span, stream);
      settleWithStream(hold, stream);
      if ('relay' in stream && wire.relay !== undefined)
        return pipeWire(response, stream, wire.relay.writer(), requestId, signal);
      return pipeStream(response, stream as GatewayStream, wire.encoder(), requestId, signal);
    } catch (error) {
      span?.end(callMetaOfError(error), error);
      void hold?.settle(callMetaOfError(error));
      throw error;
    }
  }
  const routes: WireRoute<Caller>[] = [
    {
      method: 'GET',
      path: '/v1/models',
      errors: 'openai',
      scopes: gatewayScopes,
      summary: "The gateway's models (its routes), OpenAI's list format",
      handle: async ({ response, requestId }) =>
        sendJson(response, 200, toModelList(gateway.routes()), requestId),
    },
    {
      method: 'GET',
      path: '/v1/models/*',
      errors: 'openai',
      scopes: gatewayScopes,
      summary: "One of the gateway's models (its routes), OpenAI's format",
      async handle({ response, path, requestId }) {
        const route = decodePathSegment(path.slice('/v1/models/'.length));
        // An undecodable segment (undefined) is reported as the model "undefined".
        if (route === undefined || routeAnswering(gateway.routes(), route) === undefined)
          throw modelNotFound(String(route));
        sendJson(response, 200, toModel(route), requestId);
      },
    },
    {
      method: 'POST',
      path: '/v1/embeddings',
      errors: 'openai',
      scopes: gatewayScopes,
      summary: "Embeddings, OpenAI's wire format",
      body: 'json',
      async handle({ request, response, caller, body, signal, requestId }) {
        const call = parseEmbeddingsRequest(body);
        const attribution = attributeCall(request.headers);
        refuseHeldTenant(caller);
        const hold = await budgets?.reserve({
          caller,
          route: call.request.model,
          embeddingInput: call.request.input,
          ...attribution,
        });
        let result;
        try {
          result = await gateway.embed(
            call.request,
            optionsOf(request, caller, signal, 'embeddings', attribution),
          );
        } catch (error) {
          void hold?.settle(callMetaOfError(error));
          throw error;
        }
        void hold?.settle(result.meta);
        sendJson(
          response,
          200,
          toEmbeddingsResponse({
            embeddings: result.embeddings,
            inputTokens: result.usage.inputTokens,
            model: call.request.model,
            encoding: call.encoding,
          }),
          requestId,
          metaHeaders(result.meta),
        );
      },
    },
    {
      method: 'POST',
      path: '/v1/chat/completions',
      errors: 'openai',
      scopes: gatewayScopes,
      summary: "Chat completions, OpenAI's wire format (streams as server-sent events)",
      body: 'json',
      async handle({ request, response, caller, body, signal, requestId, answerId }) {
        const call = parseChatCompletionRequest(body);
        const identity = {
          id: `chatcmpl-${answerId}`,
          created: Math.floor(now() / 1000),
          model: call.request.model,
        };
        const attribution = attributeCall(request.headers, { user: call.user });
        return answerCall({ request, response, caller, signal, requestId }, 'chat', call, attribution, {
          body: (answer) => toChatCompletion(answer, identity),
          encoder: () => createChatCompletionChunkEncoder({ identity, includeUsage: call.includeUsage }),
          relay: {
            wire: 'openai-chat',
            writer: () => createChatChunkRelay({ identity, includeUsage: call.includeUsage }),
          },
        });
      },
    },
    {
      method: 'POST',
      path: '/v1/responses',
      errors: 'openai',
      scopes: gatewayScopes,
      summary: "Responses, OpenAI's Responses wire format (streams as server-sent events; nothing is stored)",
      body: 'json',
      async handle({ request, response, caller, body, signal, requestId, answerId }) {
        const call = parseResponsesRequest(body);
        const identity = {
          id: `resp_${answerId}`,
          createdAt: Math.floor(now() / 1000),
          model: call.request.model,
          echo: call.echo,
        };
        // A field no deployment can honour is named in Responses terms (param), not chat's.
        const attribution = attributeCall(request.headers, { user: call.user });
        return answerCall({ request, response, caller, signal, requestId }, 'responses', call, attribution, {
          body: (answer) => toResponse(answer, identity),
          encoder: () => createResponsesEventEncoder(identity),
        }).catch((error: unknown) => {
          throw inResponsesTerms(error);
        });
      },
    },
    {
      method: 'POST',
      path: '/v1/messages',
      errors: 'anthropic',
      scopes: gatewayScopes,
      summary: "Messages, Anthropic's wire format (streams as server-sent events)",
      body: 'json',
      async handle({ request, response, caller, body, signal, requestId, answerId }) {
        const call = parseMessagesRequest(body, request.headers);
        const identity = { id: `msg_${answerId}`, model: call.request.model };
        const attribution = attributeCall(request.headers, { anthropicUserId: anthropicUserIdOf(body) });
        return answerCall({ request, response, caller, signal, requestId }, 'messages', call, attribution, {
          body: (answer) => toAnthropicMessage(answer, identity),
          encoder: () => createAnthropicEventEncoder(identity),
        });
      },
    },
    {
      method: 'POST',
      path: '/v1/messages/count_tokens',
      errors: 'anthropic',
      scopes: gatewayScopes,
      summary:
        "Counts a Messages request's input tokens, Anthropic's wire format: exact from Anthropic deployments, estimated elsewhere",
      body: 'json',
      async handle({ request, response, caller, body, signal, requestId }) {
        const counted = parseCountTokensRequest(body, request.headers);
        refuseHeldTenant(caller);
        const count = await gateway.countTokens(counted, optionsOf(request, caller, signal, 'messages', {}));
        sendJson(response, 200, { input_tokens: count.inputTokens }, requestId, {
          'x-keel-token-count': count.source,
          'x-keel-deployment': count.deployment,
        });
      },
    },
  ];

  return {
    routes,
    maxBodyBytes,
    authorize: authenticate,
    begin(request) {
      // Answer ids are always Keel's own (unique); a caller's well-formed x-request-id is echoed.
      const answerId = generateId('req');
      const requestId = echoedRequestId(request) ?? answerId;
      noteRequest(request, { requestId });
      return { requestId, answerId };
    },
    sendError,
  };

  /** Resolves the caller from `Authorization: Bearer` (or, for Anthropic's format, `x-api-key`). */
  async function authenticate(request: IncomingMessage, format: WireFormat): Promise<Caller> {
    const anthropic = format === 'anthropic';
    const key = await verifyKey(
      request,
      apiKeys,
      gatewayScopes,
      anthropic ? ANTHROPIC_REFUSALS : OPENAI_REFUSALS,
      anthropic,
    );
    const caller: Caller = { keyId: key.id, tenantId: key.tenantId };
    noteRequest(request, { tenantId: key.tenantId, keyId: key.id });
    if (key.rpm != null) caller.rpm = key.rpm;
    if (key.tpm != null) caller.tpm = key.tpm;
    return caller;
  }

  function sendError(response: ServerResponse, format: WireFormat, requestId: string, error: unknown): void {
    const errorClass = classifyGatewayError(error);
    if (errorClass.kind === 'internal')
      logger.error('gateway request failed', { requestId, code: errorClass.code, error: String(error) });
    if (response.headersSent || response.destroyed) {
      response.destroy();
      return;
    }
    const meta = callMetaOfError(error);
    sendJson(
      response,
      errorClass.status,
      format === 'anthropic' ? toAnthropicError(errorClass) : toOpenAIError(errorClass),
      requestId,
      { ...retryHeaders(errorClass), ...(meta === undefined ? {} : metaHeaders(meta)) },
    );
  }
}

type WireFormat = 'openai' | 'anthropic';

/** What a streamed call's span and budget wait for: its meta at first byte, then its end. */
type StreamEnd = Pick<GatewayStream, 'meta' | 'done'>;

/** Ends a streamed call's span when the stream ends (its usage and cost are known then). */
function endWithStream(span: GatewayCallSpan | undefined, stream: StreamEnd): void {
  if (span === undefined) return;
  stream.done.then(
    (meta) => span.end(meta),
    (error: unknown) => span.end(callMetaOfError(error) ?? stream.meta, error),
  );
}

/** Settles a streamed call's budget hold once the stream ended (its usage and cost are known then). */
function settleWithStream(hold: GatewayBudgetHold | undefined, stream: StreamEnd): void {
  if (hold === undefined) return;
  stream.done.then(
    (meta) => hold.settle(meta),
    (error: unknown) => hold.settle(callMetaOfError(error) ?? undefined),
  );
}

/** Streams a gateway stream as server-sent events; see the module comment for the error rules. */
async function pipeStream(
  response: ServerResponse,
  stream: GatewayStream,
  encoder: StreamEncoder,
  requestId: string,
  signal: AbortSignal,
): Promise<void> {
  stream.done.catch(() => {});
  writeStreamHead(response, stream.meta, requestId);
  let unflushed = writeText(response, encoder.start());
  let finished = false;
  try {
    for await (const event of stream.events) {
      if (signal.aborted) break;
      // Nothing may follow the end of the answer; the loop still runs so the call completes.
      if (finished) continue;
      const text = encoder.encode(event);
      if (event.type === 'finish') finished = true;
      if (text === '') continue;
      unflushed += text.length;
      if (!response.write(text)) await drained(response);
      if (unflushed >= FLUSH_BYTES) {
        unflushed = 0;
        flushNow(response);
      }
    }
    if (signal.aborted) {
      response.destroy();
      return;
    }
    if (!finished) {
      // The gateway promises a finish event or a thrown error; a silent end is still a cut answer.
      const truncated = new ModelOutputError('The upstream stream ended before the answer was complete.', {
        reason: 'stream_truncated',
      });
      response.end(encoder.error(classifyGatewayError(truncated)));
      return;
    }
    response.end();
  } catch (error) {
    if (signal.aborted || response.destroyed) {
      response.destroy();
      return;
    }
    response.end(encoder.error(classifyGatewayError(error)));
  }
}

/**
 * Relays a wire stream (the upstream's events in the caller's format) as server-sent events: each
 * network read of the upstream is written as it is read, through the caller's `WireWriter`, with
 * the same flush, back-pressure and error rules as {@link pipeStream}.
 */
function pipeWire(
  response: ServerResponse,
  stream: GatewayWireStream,
  writer: WireWriter,
  requestId: string,
  signal: AbortSignal,
): Promise<void> {
  stream.done.catch(() => {});
  writeStreamHead(response, stream.meta, requestId);
  let unflushed = 0;
  return new Promise<void>((resolve) => {
    stream.relay({
      event(data, value) {
        const text = writer.event(data, value);
        if (text === '') return true;
        unflushed += text.length;
        const more = response.write(text);
        if (unflushed >= FLUSH_BYTES) {
          unflushed = 0;
          flushNow(response);
        }
        return more;
      },
      // A caller already gone never drains: the relay then reads on, and its read fails at once.
      drained: () => (response.destroyed ? Promise.resolve() : drained(response)),
      end(answer) {
        response.end(writer.end(answer));
        resolve();
      },
      fail(error) {
        if (signal.aborted || response.destroyed) response.destroy();
        else response.end(writer.error(classifyGatewayError(error)));
        resolve();
      },
    });
  });
}

/** A stream's status and headers: cost and overhead are only known once it ended (the call record has them). */
function writeStreamHead(response: ServerResponse, meta: GatewayStream['meta'], requestId: string): void {
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
    'x-request-id': requestId,
    'x-keel-deployment': meta.deployment,
    'x-keel-attempts': String(meta.attempts),
    'x-keel-cache': meta.cached ? 'hit' : 'miss',
  });
}

/**
 * Events written since the socket was last flushed that make it flush at once. node:http corks the
 * socket on a response's first write and uncorks it on the next tick, which comes only after every
 * event already received from the upstream was encoded (promise turns, no I/O): events that
 * arrived together leave together, the headers with them, in one write. An upstream that streams
 * token by token sends each event alone, so each leaves as it comes; only a burst waits for its
 * own encoding, and this bounds that wait. (Uncorking at the first event instead cost a second
 * write per streamed answer, a tenth of the relay's CPU, to gain microseconds: see
 * docs/decisions/2026-12-06-gateway-throughput.md.)
 */
const FLUSH_BYTES = 16 * 1024;

/** Writes `text` (a stream's first bytes); returns its length, which is not sent yet. */
function writeText(response: ServerResponse, text: string): number {
  response.write(text);
  return text.length;
}

/** Sends what was written so far at once (see {@link FLUSH_BYTES}). */
function flushNow(response: ServerResponse): void {
  const socket = response.socket;
  while (socket !== null && socket.writableCorked > 0) socket.uncork();
}

function drained(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}

function metaHeaders(meta: CallMeta): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    'x-keel-deployment': meta.deployment,
    'x-keel-attempts': String(meta.attempts),
    'x-keel-overhead-ms': String(Math.round(meta.overheadMs * 1000) / 1000),
    'x-keel-cache': meta.cached ? 'hit' : 'miss',
  };
  if (meta.costUsd !== undefined) headers['x-keel-cost-usd'] = meta.costUsd.toFixed(8);
  // The upstream reported no (or impossible) usage: the answer's usage is Keel's estimate.
  if (meta.usage?.source === 'estimated') headers['x-keel-usage'] = 'estimated';
  return headers;
}

function decodePathSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** The gateway's JSON answer: OpenAI's and Anthropic's media type, and the request id. */
function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  requestId: string,
  headers: OutgoingHttpHeaders = {},
): void {
  headers['x-request-id'] = requestId;
  sendJsonAnswer(response, status, body, headers, 'application/json');
}
