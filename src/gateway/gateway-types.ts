import type { SerializedError } from '../errors/keel-error.js';
import type { ModelRequest, ModelResponse, ModelStreamEvent, Usage } from '../model/model.js';

/** A model call through the gateway: the route name plus a provider-neutral request. */
export interface GatewayRequest extends ModelRequest {
  /** A route name (alias or tier). */
  model: string;
}

/** Who is calling: resolved from a Keel API key by the HTTP layer, or given by an agent run. */
export interface Caller {
  keyId: string;
  tenantId: string;
  /** Per-key limits, shared by every gateway process. */
  rpm?: number;
  tpm?: number;
}

/** Options of one gateway call, besides its request. */
export interface GatewayCallOptions {
  signal?: AbortSignal;
  caller?: Caller;
  /**
   * The tenant the call is made for (an agent run's), when it is not the caller key's own. The
   * response cache is scoped to it (unless the route's `cache.scope` is `global`) and it is
   * recorded with the call. Default: `caller.tenantId`.
   */
  tenantId?: string;
  /**
   * Use the cache for this call, whatever the route says (in-process code, which the operator
   * wrote). Default: the route's `cache` setting, with `callerCache`.
   */
  cache?: boolean;
  /**
   * A remote caller's wish (the `x-keel-cache` header): `false` turns the cache off for this call;
   * `true` turns it on only on a route with `cache.callerOptIn`. Ignored when `cache` is given.
   */
  callerCache?: boolean;
  /** Tighter budget than the configured one for this call. */
  budgetMs?: number;
  /** The run and step this call belongs to, when an agent makes it (recorded with the call). */
  runId?: string;
  stepSeq?: number;
  /**
   * The end user (a developer) and the session the call is made for, recorded with the call
   * (the HTTP edge attributes them: `http/call-attribution.ts`).
   */
  userId?: string;
  sessionId?: string;
  /** The endpoint recorded with the call (`chat`, `messages`, `embeddings`, `agent`). Default: `agent` with a runId, else `chat` (`embeddings` for embed). */
  endpoint?: string;
}

/** What the gateway did for a call; also what is recorded and sent as `x-keel-*` headers. */
export interface CallMeta {
  route: string;
  /** The deployment that answered (the last one tried when none did). */
  deployment: string;
  provider: string;
  model: string;
  /** Upstream attempts made, across retries and fallbacks. */
  attempts: number;
  cached: boolean;
  usage?: Usage;
  /** Undefined when the model's price is unknown. */
  costUsd?: number;
  /** The price table that priced `costUsd` when the gateway priced it (`PRICE_TABLE_VERSION`). */
  priceTable?: string;
  /** Wall time of the call, and the part of it spent in the gateway itself (not upstream). */
  latencyMs: number;
  overheadMs: number;
  /** Time to the first streamed event. */
  ttftMs?: number;
  outcome: 'ok' | 'error' | 'cancelled';
  error?: SerializedError;
}

/** A gateway call's answer with its call metadata. */
export interface GatewayResult {
  response: ModelResponse;
  meta: CallMeta;
}

/**
 * A streamed call, returned once the first event arrived (fallback happens only before that).
 * Errors after it surface from `events` as a thrown error: never a silent end.
 */
export interface GatewayStream {
  /** Known at first byte: route, deployment, provider, model, attempts so far. */
  meta: Pick<CallMeta, 'route' | 'deployment' | 'provider' | 'model' | 'attempts' | 'cached'>;
  events: AsyncIterable<ModelStreamEvent>;
  /** Complete once the stream ended (usage, cost, latency, outcome). */
  done: Promise<CallMeta>;
}

/** An embeddings request through the gateway. */
export interface EmbeddingRequest {
  model: string;
  input: string[];
  dimensions?: number;
}

/** An embeddings answer through the gateway. */
export interface EmbeddingResult {
  embeddings: number[][];
  usage: { inputTokens: number };
  meta: CallMeta;
}

/** Circuit breaker state of a deployment, as reported by the gateway. */
export interface BreakerState {
  deployment: string;
  state: 'closed' | 'open' | 'half-open';
  consecutiveFailures: number;
  /** When an open breaker lets a probe through (epoch ms). */
  retryAt?: number;
}

/** Input tokens of a request: counted by the provider (`exact`) or by Keel's tokenizer. */
export interface TokenCount {
  inputTokens: number;
  source: 'exact' | 'estimated';
  /** The deployment counted for. */
  deployment: string;
}

/** The gateway: routes, retries, falls back, limits, caches, prices and records model calls. */
export interface Gateway {
  generate(request: GatewayRequest, options?: GatewayCallOptions): Promise<GatewayResult>;
  stream(request: GatewayRequest, options?: GatewayCallOptions): Promise<GatewayStream>;
  embed(request: EmbeddingRequest, options?: GatewayCallOptions): Promise<EmbeddingResult>;
  /**
   * The request's input tokens for its route, without generating: exact from the first deployment
   * (in plan order, among those that can honour the request) whose provider counts them
   * (Anthropic's count_tokens), else Keel's estimate for the first deployment's model.
   */
  countTokens(request: GatewayRequest, options?: GatewayCallOptions): Promise<TokenCount>;
  /** Route names callers may use. */
  routes(): string[];
  breakers(): BreakerState[];
  /** Flushes pending call records and releases resources. */
  close(): Promise<void>;
}
