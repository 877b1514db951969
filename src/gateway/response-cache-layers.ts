/**
 * The gateway's exact-match response cache: a bounded in-process LRU in front of the optional
 * shared ResponseCache (the database, seen by every gateway process). Keys hash the canonical JSON
 * of the whole request (route, messages, tools, tool choice, response format, every sampling
 * parameter, and any field added later) and of who may share the answer (one tenant, or every
 * caller of a route with `cache.scope: 'global'`), so two requests that differ in anything, or
 * come from two tenants, never share an answer. Only answers are cached, never errors.
 */
import type { ModelResponse } from '../model/model.js';
import { hashCanonical } from '../util/canonical-hash.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { RouteConfig } from './gateway-config.js';
import type { GatewayCallOptions, GatewayRequest } from './gateway-types.js';
import type { ResponseCache } from './gateway-store.js';
import { createLruCache } from './lru-cache.js';

/**
 * Bump when the key's input or the cached value's shape changes: old entries then never match.
 * Version 2 added the partition (version 1 keys, shared by every tenant, are never read again).
 */
const KEY_VERSION = 2;

/**
 * Who shares a cache entry: the calls made for one tenant (`null`: calls made for none, such as
 * in-process calls without a caller), or every caller of a route whose `cache.scope` is `global`.
 */
export type CachePartition = { tenant: string | null } | { global: true };

/**
 * The cache key of a request: SHA-256 of the canonical JSON of all of it (the route is `model`)
 * and its partition. The two partition shapes have different keys, so no tenant id can ever
 * produce the key of the global partition.
 */
export function cacheKeyOf(request: GatewayRequest, partition: CachePartition): string {
  return hashCanonical({ version: KEY_VERSION, partition, request });
}

/**
 * Whether a call uses the cache, and under which key: undefined when it does not. In-process
 * `cache` decides alone; else the route's policy, which a remote caller's `callerCache` may turn
 * off, and may turn on only where the route allows `callerOptIn`.
 */
export function cacheKeyForCall({
  request,
  policy,
  options,
}: {
  request: GatewayRequest;
  policy: RouteConfig['cache'];
  options: Pick<GatewayCallOptions, 'cache' | 'callerCache' | 'caller' | 'tenantId'>;
}): string | undefined {
  const enabled =
    options.cache ??
    (options.callerCache === undefined
      ? policy.enabled
      : options.callerCache && (policy.enabled || policy.callerOptIn));
  if (!enabled) return undefined;
  return cacheKeyOf(
    request,
    policy.scope === 'global'
      ? { global: true }
      : { tenant: options.tenantId ?? options.caller?.tenantId ?? null },
  );
}

/** The two cache levels as one. */
export interface ResponseCacheLayers {
  get(key: string): Promise<ModelResponse | undefined>;
  /**
   * Stores an answer in both levels; the shared write is not awaited. An answer that ended in
   * error (`finishReason: 'error'`) is not stored.
   */
  set(key: string, response: ModelResponse): void;
  /** Entries in the in-process level. */
  readonly size: number;
}

/** Options of {@link createResponseCacheLayers}. */
export interface ResponseCacheLayersOptions {
  maxEntries: number;
  ttlMs: number;
  clock: Clock;
  /** The shared level; omitted, only this process caches. */
  shared?: ResponseCache;
  logger: Logger;
}

/** Creates the cache levels. */
export function createResponseCacheLayers({
  maxEntries,
  ttlMs,
  clock,
  shared,
  logger,
}: ResponseCacheLayersOptions): ResponseCacheLayers {
  const local = createLruCache<ModelResponse>({ maxEntries, ttlMs, clock });
  return {
    async get(key) {
      const hit = local.get(key);
      // Copies: a caller that edits its answer must not edit everyone's.
      if (hit !== undefined) return structuredClone(hit);
      if (shared === undefined) return undefined;
      let stored: ModelResponse | undefined;
      try {
        stored = await shared.get(key);
      } catch (error) {
        // A cache is an optimization: when it is down, calls go upstream.
        logger.warn('gateway cache read failed', { error: String(error) });
        return undefined;
      }
      if (stored === undefined) return undefined;
      local.set(key, stored);
      return structuredClone(stored);
    },
    set(key, response) {
      if (response.finishReason === 'error') return;
      const copy = structuredClone(response);
      local.set(key, copy);
      if (shared === undefined) return;
      // Not awaited, and a synchronous throw is caught too: a cache write never fails a call.
      Promise.resolve()
        .then(() => shared.set(key, copy, ttlMs))
        .catch((error: unknown) => {
          logger.warn('gateway cache write failed', { error: String(error) });
        });
    },
    get size() {
      return local.size;
    },
  };
}
