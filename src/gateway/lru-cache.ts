/**
 * A small in-process LRU cache with a time to live, bounded by entry count. A Map keeps insertion
 * order, so re-inserting on every read makes its first key the least recently used one: eviction
 * and refresh are O(1) without a linked list. An expired entry is dropped when read, or pushed
 * out by the bound like any other; the bound holds whatever the traffic.
 */
import type { Clock } from '../util/clock.js';

/** A bounded map with least-recently-used eviction and per-entry expiry. */
export interface LruCache<V> {
  /** The value, refreshed as most recently used; undefined when absent or expired. */
  get(key: string): V | undefined;
  /** Stores a value for `ttlMs` (default: the cache's), evicting the least recently used beyond `maxEntries`. */
  set(key: string, value: V, ttlMs?: number): void;
  delete(key: string): void;
  /** Entries held now, expired ones not yet dropped included. */
  readonly size: number;
  clear(): void;
}

/** Options of {@link createLruCache}. */
export interface LruCacheOptions {
  maxEntries: number;
  ttlMs: number;
  clock: Clock;
}

/** Creates an empty cache. */
export function createLruCache<V>({ maxEntries, ttlMs, clock }: LruCacheOptions): LruCache<V> {
  if (!Number.isInteger(maxEntries) || maxEntries < 1)
    throw new RangeError('maxEntries must be a positive integer');
  const entries = new Map<string, { value: V; expiresAt: number }>();
  return {
    get(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      entries.delete(key);
      if (entry.expiresAt <= clock.now()) return undefined;
      entries.set(key, entry);
      return entry.value;
    },
    set(key, value, entryTtlMs = ttlMs) {
      entries.delete(key);
      entries.set(key, { value, expiresAt: clock.now() + entryTtlMs });
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next();
        if (oldest.done === true) break;
        entries.delete(oldest.value);
      }
    },
    delete(key) {
      entries.delete(key);
    },
    get size() {
      return entries.size;
    },
    clear() {
      entries.clear();
    },
  };
}
