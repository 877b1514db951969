import type { Redis } from 'ioredis';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { GatewayConfig } from './gateway-config.js';
import type { RateLimiter, ResponseCache } from './gateway-store.js';
import { closeRedisClient, createRedisClient, redactRedisUrl, whenRedisReady } from './redis-client.js';
import { createRedisFailureReporter, type RedisFailure } from './redis-failures.js';
import { createRedisRateLimiter } from './redis-rate-limiter.js';
import { createRedisResponseCache } from './redis-response-cache.js';

/** Options of {@link openRedisStores}. */
export interface RedisStoresOptions {
  /** `REDIS_URL`. */
  url: string;
  /** The gateway config's `redis` section (policy, timeouts, key prefix). */
  config: GatewayConfig['redis'];
  logger: Logger;
  /** Told of every failure (Prometheus: `KeelMetrics.redisFailure`). */
  onFailure?: (failure: RedisFailure) => void;
  /** Tests only: windows and expiry from this clock instead of the server's. */
  clock?: Clock;
}

/** The gateway's hot-path stores on one Redis client. */
export interface RedisStores {
  limiter: RateLimiter;
  cache: ResponseCache;
  /** The URL without its password. */
  readonly description: string;
  readonly client: Redis;
  /** Resolves true once connected, false after the connect timeout (it keeps trying). */
  ready(): Promise<boolean>;
  /** Disconnects; no socket or timer is left open. */
  close(): Promise<void>;
}

/**
 * Opens the Redis rate limiter and response cache of a gateway (when `REDIS_URL` is set): one
 * client, bounded by the config's timeouts, failures counted and logged by one reporter.
 */
export function openRedisStores({ url, config, logger, onFailure, clock }: RedisStoresOptions): RedisStores {
  const client = createRedisClient({
    url,
    connectTimeoutMs: config.connectTimeoutMs,
    commandTimeoutMs: config.commandTimeoutMs,
  });
  const report = createRedisFailureReporter({ logger, ...(onFailure === undefined ? {} : { onFailure }) });
  const shared = {
    redis: client,
    keyPrefix: config.keyPrefix,
    report,
    ...(clock === undefined ? {} : { clock }),
  };
  return {
    limiter: createRedisRateLimiter({ ...shared, onError: config.onError }),
    cache: createRedisResponseCache(shared),
    description: redactRedisUrl(url),
    client,
    ready: () => whenRedisReady(client, config.connectTimeoutMs),
    close: () => closeRedisClient(client),
  };
}
