import { describe, expect, it } from 'vitest';
import { createFakeClock } from '../testing/fake-clock.js';
import { createLruCache } from './lru-cache.js';

describe('LRU cache', () => {
  it('holds at most maxEntries, evicting the least recently used', () => {
    const cache = createLruCache<number>({ maxEntries: 3, ttlMs: 60_000, clock: createFakeClock() });
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    expect(cache.get('a')).toBe(1); // a is now the most recent; b the least
    cache.set('d', 4);
    expect(cache.size).toBe(3);
    expect(cache.get('b')).toBeUndefined();
    expect([cache.get('a'), cache.get('c'), cache.get('d')]).toEqual([1, 3, 4]);
    for (let index = 0; index < 1_000; index++) cache.set(`key-${index}`, index);
    expect(cache.size).toBe(3);
  });

  it('expires entries after their time to live', () => {
    const clock = createFakeClock();
    const cache = createLruCache<string>({ maxEntries: 10, ttlMs: 1_000, clock });
    cache.set('short', 'x', 100);
    cache.set('default', 'y');
    clock.advance(99);
    expect(cache.get('short')).toBe('x');
    clock.advance(1);
    expect(cache.get('short')).toBeUndefined();
    expect(cache.size).toBe(1);
    clock.advance(900);
    expect(cache.get('default')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('overwrites a key in place', () => {
    const cache = createLruCache<number>({ maxEntries: 2, ttlMs: 1_000, clock: createFakeClock() });
    cache.set('a', 1);
    cache.set('a', 2);
    expect(cache.size).toBe(1);
    expect(cache.get('a')).toBe(2);
  });
});
