/**
 * `keel/gateway`: Keel's LLM gateway as a library: `createGateway` (routes, fallbacks, breakers,
 * retries, limits, cache and call records over your providers), the model that sends an agent's
 * calls through it, the stores it keeps in SQL, and its HTTP endpoints (OpenAI- and
 * Anthropic-compatible) for mounting. `keel serve` serves the same gateway from a config's
 * `gateway` section (docs/gateway.md). Every export is listed in docs/exports.md.
 */
export { createGateway, type CreateGatewayOptions, type KeelGateway, type RouteTarget } from './gateway.js';
export { createGatewayModel, registerGatewayModels, type GatewayModel } from './gateway-model.js';
export type { GatewayConfigInput, GatewayConfig, DeploymentConfig, RouteConfig } from './gateway-config.js';
export type {
  Gateway,
  GatewayRequest,
  GatewayCallOptions,
  GatewayResult,
  GatewayStream,
  CallMeta,
  Caller,
  BreakerState,
  EmbeddingRequest,
  EmbeddingResult,
} from './gateway-types.js';
export type { RateLimiter, ResponseCache, CallRecorder, CallRecord, LimitScope } from './gateway-store.js';
export { createSqlRateLimiter } from './sql-rate-limiter.js';
export { createSqlResponseCache } from './sql-response-cache.js';
export { createSqlCallRecorder } from './sql-call-recorder.js';
export { createRedisRateLimiter, type RedisRateLimiterOptions } from './redis-rate-limiter.js';
export { createRedisResponseCache, type RedisResponseCacheOptions } from './redis-response-cache.js';
export { createRedisClient, type RedisClientOptions } from './redis-client.js';
export type { RedisFailure, RedisFailurePolicy } from './redis-failures.js';
export {
  createApiKeys,
  API_KEY_SCOPES,
  type ApiKeys,
  type ApiKeyRecord,
  type ApiKeyScope,
} from './api-keys.js';
export { createGatewayHandler, type GatewayHandler } from './http/gateway-handler.js';
export { createGatewayService, type GatewayService } from './http/gateway-service.js';
export {
  UnknownRouteError,
  RateLimitedError,
  RateLimiterUnavailableError,
  RequestExceedsLimitError,
  UpstreamTimeoutError,
  GatewayBudgetExhaustedError,
  GatewayUnavailableError,
} from './gateway-errors.js';
