import type { Redis } from 'ioredis';
import type { ModelResponse } from '../model/model.js';
import { storedModelResponseSchema } from '../model/stored-model-response.js';
import type { Clock } from '../util/clock.js';
import type { ResponseCache } from './gateway-store.js';
import type { RedisFailureReporter } from './redis-failures.js';

/** Options of {@link createRedisResponseCache}. */
export interface RedisResponseCacheOptions {
  redis: Redis;
  /** Prefix of every key (default `keel:`). */
  keyPrefix?: string;
  /**
   * Expiry is Redis's own (`PX`, on the server's clock, shared by every process). A clock given
   * here is checked as well, against the expiry stored with the entry: tests pass a fake clock.
   */
  clock?: Clock;
  /** An answer larger than this (as stored JSON) is not shared (default 1 MiB); the in-process level still keeps it. */
  maxEntryBytes?: number;
  /** Counts and logs failures; default: none. */
  report?: RedisFailureReporter;
}

/** The key of a cache entry. */
export function responseCacheKey(keyPrefix: string, key: string): string {
  return `${keyPrefix}cache:${key}`;
}

/**
 * The response cache over Redis: one `GET` per read, one `SET ... PX` per write, entries expire
 * on their own (no cleanup). Keys are the gateway's hashes (request and partition, see
 * response-cache-layers.ts), so scoping is the same as on SQL. An entry that does not parse as a
 * model response is a miss, never an error. Redis failing (down, past the command timeout) is a
 * miss or a skipped write, counted and logged, never a failed call. Bound Redis's memory with
 * `maxmemory` and `maxmemory-policy volatile-ttl` (every entry has a TTL; rate-limit keys too).
 */
export function createRedisResponseCache({
  redis,
  keyPrefix = 'keel:',
  clock,
  maxEntryBytes = 1024 * 1024,
  report = () => {},
}: RedisResponseCacheOptions): ResponseCache {
  return {
    async get(key) {
      let stored: string | null;
      try {
        stored = await redis.get(responseCacheKey(keyPrefix, key));
      } catch (error) {
        report({ operation: 'get', outcome: 'skipped' }, error);
        return undefined;
      }
      if (stored === null) return undefined;
      let entry: unknown;
      try {
        entry = JSON.parse(stored);
      } catch {
        return undefined;
      }
      if (typeof entry !== 'object' || entry === null) return undefined;
      const { expiresAt, response } = entry as { expiresAt?: unknown; response?: unknown };
      if (clock !== undefined && !(typeof expiresAt === 'number' && expiresAt > clock.now()))
        return undefined;
      const parsed = storedModelResponseSchema.safeParse(response);
      return parsed.success ? (parsed.data as ModelResponse) : undefined;
    },

    async set(key, response, ttlMs) {
      if (!(ttlMs > 0)) return;
      // JSON escapes NUL and lone surrogates (\\u0000, \\ud800): any text round-trips.
      const value = JSON.stringify({ expiresAt: (clock?.now() ?? Date.now()) + ttlMs, response });
      if (Buffer.byteLength(value) > maxEntryBytes) return;
      try {
        await redis.set(responseCacheKey(keyPrefix, key), value, 'PX', Math.ceil(ttlMs));
      } catch (error) {
        report({ operation: 'set', outcome: 'skipped' }, error);
      }
    },
  };
}
