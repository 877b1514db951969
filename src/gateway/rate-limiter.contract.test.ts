import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPgClient } from '../journal/pg-client.js';
import { createPgliteClient } from '../journal/pglite-client.js';
import type { SqlClient } from '../journal/sql-client.js';
import { createFakeClock } from '../testing/fake-clock.js';
import type { FakeClock } from '../testing/fake-clock.js';
import { describePostgres, sqlTestSchemas } from '../testing/postgres.js';
import { createTestKeyPrefix, deleteKeys, describeRedis, redisTestPrefixes } from '../testing/redis.js';
import type { Clock } from '../util/clock.js';
import type { RateLimiter, ReserveResult } from './gateway-store.js';
import { closeRedisClient, createRedisClient, whenRedisReady } from './redis-client.js';
import { createRedisRateLimiter, rateLimitKey } from './redis-rate-limiter.js';
import { createSqlRateLimiter, RATE_WINDOW_MS } from './sql-rate-limiter.js';

/** 10 seconds into a minute, so window arithmetic in the tests is easy to follow. */
const START = Date.UTC(2030, 0, 1, 0, 0, 10);

/** One backend's limiter for one test, with a look at its counters. */
interface LimiterUnderTest {
  /** A limiter on this test's fresh state; without a clock it uses the store's own. */
  create(clock?: Clock): RateLimiter;
  /** The current window's totals of a scope, undefined when the scope has no state. */
  counters(scope: string): Promise<{ requests: number; tokens: number } | undefined>;
  /** The scopes that have state, sorted. */
  scopes(): Promise<string[]>;
}

/** How a backend opens a fresh state per test and removes it after. */
interface LimiterBackend {
  open(): Promise<void>;
  begin(): Promise<LimiterUnderTest>;
  end(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The RateLimiter contract over every implementation: SQL on PGlite always, on Postgres when
 * KEEL_TEST_POSTGRES_URL is set, and Redis when KEEL_TEST_REDIS_URL is set (where concurrent
 * reserves really race on separate connections).
 */
function rateLimiterContract(backend: LimiterBackend): void {
  let store: LimiterUnderTest;
  let clock: FakeClock;
  let limiter: RateLimiter;

  beforeAll(() => backend.open());
  afterAll(() => backend.close());
  beforeEach(async () => {
    store = await backend.begin();
    clock = createFakeClock({ start: START });
    limiter = store.create(clock);
  });
  afterEach(() => backend.end());

  const admitted = (results: readonly ReserveResult[]) => results.filter((result) => result.ok).length;

  it('admits exactly rpm of 50 concurrent reserves', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, () => limiter.reserve([{ scope: 'deployment:a', rpm: 10 }], 0)),
    );
    expect(admitted(results)).toBe(10);
    expect(await store.counters('deployment:a')).toEqual({ requests: 10, tokens: 0 });
    for (const result of results.filter((result) => !result.ok)) {
      expect(result).toMatchObject({ ok: false, scope: 'deployment:a', limit: 'rpm' });
    }
  });

  it('admits exactly tpm worth of 50 concurrent reserves with estimates', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, () => limiter.reserve([{ scope: 'key:k', tpm: 1_000 }], 100)),
    );
    expect(admitted(results)).toBe(10);
    expect(await store.counters('key:k')).toEqual({ requests: 10, tokens: 1_000 });
  });

  it('reserves all scopes or none', async () => {
    const both = [
      { scope: 'deployment:a', rpm: 5 },
      { scope: 'key:k', rpm: 3 },
    ];
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await limiter.reserve(both, 10));
    expect(results.map((result) => result.ok)).toEqual([true, true, true, false, false]);
    expect(results[3]).toMatchObject({ ok: false, scope: 'key:k', limit: 'rpm' });
    // The refused reserves took nothing from deployment:a, so two more fit there.
    expect(await store.counters('deployment:a')).toEqual({ requests: 3, tokens: 30 });
    const alone = [];
    for (let i = 0; i < 3; i++) alone.push(await limiter.reserve([{ scope: 'deployment:a', rpm: 5 }], 0));
    expect(alone.map((result) => result.ok)).toEqual([true, true, false]);
  });

  it('holds every limit when multi-scope reserves race in any scope order', async () => {
    const a = { scope: 'a', rpm: 7 };
    const b = { scope: 'b', rpm: 4 };
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        limiter.reserve(i % 3 === 0 ? [a, b] : i % 3 === 1 ? [b, a] : [a], 1),
      ),
    );
    const pairs = results.filter((result) => result.ok && result.reservation.scopes.length === 2).length;
    const singles = results.filter((result) => result.ok && result.reservation.scopes.length === 1).length;
    expect(pairs).toBeLessThanOrEqual(4);
    expect(pairs + singles).toBe(7);
    expect(await store.counters('a')).toEqual({ requests: 7, tokens: 7 });
    expect(await store.counters('b')).toEqual({ requests: pairs, tokens: pairs });
  });

  it('counts token estimates against tpm', async () => {
    const scope = [{ scope: 'key:k', tpm: 1_000 }];
    expect((await limiter.reserve(scope, 400)).ok).toBe(true);
    expect((await limiter.reserve(scope, 400)).ok).toBe(true);
    const refused = await limiter.reserve(scope, 400);
    expect(refused).toMatchObject({ ok: false, scope: 'key:k', limit: 'tpm' });
    expect((await limiter.reserve(scope, 200)).ok).toBe(true);
    expect(await store.counters('key:k')).toEqual({ requests: 3, tokens: 1_000 });
    // Larger than the limit itself: never admitted.
    expect(await limiter.reserve([{ scope: 'key:other', tpm: 100 }], 101)).toMatchObject({
      ok: false,
      limit: 'tpm',
    });
  });

  it('settles to the tokens actually used, freeing or adding tokens', async () => {
    const scope = [{ scope: 'key:k', tpm: 1_000 }];
    const first = await limiter.reserve(scope, 800);
    if (!first.ok) throw new Error('refused');
    expect((await limiter.reserve(scope, 700)).ok).toBe(false);
    await limiter.settle(first.reservation, 300);
    expect(await store.counters('key:k')).toEqual({ requests: 1, tokens: 300 });
    const second = await limiter.reserve(scope, 700);
    if (!second.ok) throw new Error('refused');
    await limiter.settle(second.reservation, 700); // equal: no-op
    await limiter.settle(second.reservation, 750);
    expect(await store.counters('key:k')).toEqual({ requests: 2, tokens: 1_050 });
    expect((await limiter.reserve(scope, 1)).ok).toBe(false);
  });

  it('settles a reservation whose window has since rolled into the previous totals', async () => {
    const scope = [{ scope: 'key:k', tpm: 1_000 }];
    const first = await limiter.reserve(scope, 1_000);
    if (!first.ok) throw new Error('refused');
    clock.advance(RATE_WINDOW_MS); // next window, previous = 1000 tokens weighted ~5/6
    expect((await limiter.reserve(scope, 200)).ok).toBe(false);
    await limiter.settle(first.reservation, 100);
    // previous is now 100: 100 * 5/6 + 200 <= 1000.
    expect((await limiter.reserve(scope, 200)).ok).toBe(true);
  });

  it('reports retryAfterMs as the time until the request fits', async () => {
    const scope = [{ scope: 'deployment:a', rpm: 10 }];
    for (let i = 0; i < 10; i++) expect((await limiter.reserve(scope, 0)).ok).toBe(true);
    const refused = await limiter.reserve(scope, 0);
    // 10 s into the window: the window frees in 50 s, then the previous 10 requests weigh
    // 10 * (1 - t / 60 s) until 6 s into the next one.
    expect(refused).toEqual({ ok: false, scope: 'deployment:a', limit: 'rpm', retryAfterMs: 56_000 });
    if (refused.ok) throw new Error('admitted');
    clock.advance(refused.retryAfterMs - 1);
    expect((await limiter.reserve(scope, 0)).ok).toBe(false);
    clock.advance(1);
    expect((await limiter.reserve(scope, 0)).ok).toBe(true);
  });

  it('weighs the previous window, so no burst of twice the limit across a minute boundary', async () => {
    clock.set(Date.UTC(2030, 0, 1, 0, 0, 59));
    const scope = [{ scope: 'deployment:a', rpm: 6 }];
    const burst = async (count: number) => {
      const results = [];
      for (let i = 0; i < count; i++) results.push(await limiter.reserve(scope, 0));
      return admitted(results);
    };
    expect(await burst(10)).toBe(6);
    clock.set(Date.UTC(2030, 0, 1, 0, 1, 1)); // 2 s later, a new minute: 6 * 58/60 still counts
    expect(await burst(10)).toBe(0);
    clock.set(Date.UTC(2030, 0, 1, 0, 1, 30)); // half the previous window: 3 counts
    expect(await burst(10)).toBe(3);
  });

  it('starts afresh once the previous window is over too', async () => {
    const scope = [{ scope: 'deployment:a', rpm: 3, tpm: 300 }];
    for (let i = 0; i < 3; i++) expect((await limiter.reserve(scope, 100)).ok).toBe(true);
    expect((await limiter.reserve(scope, 100)).ok).toBe(false);
    clock.advance(2 * RATE_WINDOW_MS);
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await limiter.reserve(scope, 100));
    expect(results.map((result) => result.ok)).toEqual([true, true, true, false]);
    const first = results[0];
    expect(first?.ok && first.reservation.windowStart).toBe(Date.UTC(2030, 0, 1, 0, 2));
  });

  it('ignores scopes without limits and merges duplicates, tighter limit winning', async () => {
    const free = await limiter.reserve([{ scope: 'unlimited' }], 50);
    expect(free).toMatchObject({ ok: true, reservation: { scopes: [], tokens: 50 } });
    if (free.ok) await limiter.settle(free.reservation, 10);
    const merged = [
      { scope: 'a', rpm: 5 },
      { scope: 'a', rpm: 2 },
    ];
    const results = [await limiter.reserve(merged, 0), await limiter.reserve(merged, 0)];
    results.push(await limiter.reserve(merged, 0));
    expect(results.map((result) => result.ok)).toEqual([true, true, false]);
    expect(await store.scopes()).toEqual(['a']);
  });

  it("uses the store's clock when given none", async () => {
    const shared = store.create();
    const result = await shared.reserve([{ scope: 'store-clock', rpm: 1 }], 0);
    if (!result.ok) throw new Error('refused');
    expect(result.reservation.windowStart % RATE_WINDOW_MS).toBe(0);
    expect(Math.abs(result.reservation.windowStart - Date.now())).toBeLessThan(2 * RATE_WINDOW_MS);
    const refused = await shared.reserve([{ scope: 'store-clock', rpm: 1 }], 0);
    if (refused.ok) throw new Error('admitted');
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(2 * RATE_WINDOW_MS);
  });
}

/** The SQL limiter over a client: a fresh schema per test. */
function sqlBackend(openClient: () => Promise<SqlClient>): LimiterBackend {
  const sql = sqlTestSchemas(openClient);
  return {
    ...sql,
    async begin() {
      const schema = await sql.begin();
      const client = sql.client();
      return {
        create: (clock) => createSqlRateLimiter({ client, schema, ...(clock ? { clock } : {}) }),
        async counters(scope) {
          const result = await client.query<{ requests: number; tokens: number }>(
            `SELECT requests, tokens FROM ${schema}.rate_windows WHERE scope = $1`,
            [scope],
          );
          const row = result.rows[0];
          return row === undefined
            ? undefined
            : { requests: Number(row.requests), tokens: Number(row.tokens) };
        },
        async scopes() {
          const rows = await client.query<{ scope: string }>(
            `SELECT scope FROM ${schema}.rate_windows ORDER BY scope`,
          );
          return rows.rows.map((row) => row.scope);
        },
      };
    },
  };
}

/** The Redis limiter: a fresh key prefix per test, its keys deleted after. */
function redisBackend(url: string): LimiterBackend {
  const redis = redisTestPrefixes(url);
  return {
    ...redis,
    async begin() {
      const prefix = redis.begin();
      const client = redis.client();
      return {
        create: (clock) =>
          createRedisRateLimiter({ redis: client, keyPrefix: prefix, ...(clock ? { clock } : {}) }),
        async counters(scope) {
          const [requests, tokens] = await client.hmget(rateLimitKey(prefix, scope), 'r', 't');
          return requests === null ? undefined : { requests: Number(requests), tokens: Number(tokens) };
        },
        async scopes() {
          const keys = await client.keys(`${prefix}rate:*`);
          return keys.map((key) => key.slice(`${prefix}rate:`.length)).sort();
        },
      };
    },
  };
}

describe('RateLimiter contract: SQL on PGlite', () => {
  rateLimiterContract(sqlBackend(() => createPgliteClient()));
});

describePostgres('RateLimiter contract: SQL on Postgres', (connectionString) => {
  rateLimiterContract(sqlBackend(async () => createPgClient({ connectionString, max: 10 })));
});

describeRedis('RateLimiter contract: Redis', (url) => {
  rateLimiterContract(redisBackend(url));

  it('gives every scope key a time to live, so idle scopes leave nothing behind', async () => {
    const redis = createRedisClient({ url, commandTimeoutMs: 10_000 });
    const prefix = createTestKeyPrefix();
    try {
      expect(await whenRedisReady(redis, 5_000)).toBe(true);
      const limiter = createRedisRateLimiter({ redis, keyPrefix: prefix });
      expect((await limiter.reserve([{ scope: 'ttl', rpm: 5 }], 0)).ok).toBe(true);
      const ttl = await redis.pttl(rateLimitKey(prefix, 'ttl'));
      expect(ttl).toBeGreaterThan(2 * RATE_WINDOW_MS);
      expect(ttl).toBeLessThanOrEqual(3 * RATE_WINDOW_MS);
    } finally {
      await deleteKeys(redis, prefix);
      await closeRedisClient(redis);
    }
  });
});
