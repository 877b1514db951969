import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPgClient } from '../journal/pg-client.js';
import { createPgliteClient } from '../journal/pglite-client.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { ModelResponse } from '../model/model.js';
import { createFakeClock } from '../testing/fake-clock.js';
import type { FakeClock } from '../testing/fake-clock.js';
import { describePostgres, sqlTestSchemas } from '../testing/postgres.js';
import { createTestKeyPrefix, deleteKeys, describeRedis, redisTestPrefixes } from '../testing/redis.js';
import type { Clock } from '../util/clock.js';
import type { ResponseCache } from './gateway-store.js';
import { closeRedisClient, createRedisClient, whenRedisReady } from './redis-client.js';
import { createRedisResponseCache, responseCacheKey } from './redis-response-cache.js';
import { createSqlResponseCache } from './sql-response-cache.js';

const response = (content: string): ModelResponse => ({
  message: {
    role: 'assistant',
    content,
    toolCalls: [{ id: 'call_1', name: 'lookup', arguments: '{"q":1}' }],
  },
  finishReason: 'tool_calls',
  usage: { inputTokens: 12, outputTokens: 3, cachedInputTokens: 4 },
  modelId: 'gpt-test-2030',
});

/** How a backend opens a fresh cache per test and removes it after. */
interface CacheBackend {
  open(): Promise<void>;
  /** A cache on this test's fresh state; without a clock it uses the store's own. */
  begin(): Promise<(clock?: Clock) => ResponseCache>;
  end(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The ResponseCache contract over every implementation: SQL on PGlite always, on Postgres when
 * KEEL_TEST_POSTGRES_URL is set, Redis when KEEL_TEST_REDIS_URL is set.
 */
function responseCacheContract(backend: CacheBackend): void {
  let create: (clock?: Clock) => ResponseCache;
  let clock: FakeClock;
  let cache: ResponseCache;

  beforeAll(() => backend.open());
  afterAll(() => backend.close());
  beforeEach(async () => {
    create = await backend.begin();
    clock = createFakeClock({ start: Date.UTC(2030, 0, 1) });
    cache = create(clock);
  });
  afterEach(() => backend.end());

  it('returns what was set, until it expires', async () => {
    expect(await cache.get('k1')).toBeUndefined();
    await cache.set('k1', response('hello'), 60_000);
    expect(await cache.get('k1')).toEqual(response('hello'));
    clock.advance(59_999);
    expect(await cache.get('k1')).toEqual(response('hello'));
    clock.advance(1);
    expect(await cache.get('k1')).toBeUndefined();
  });

  it('replaces an entry and its expiry on set', async () => {
    await cache.set('k1', response('first'), 1_000);
    clock.advance(900);
    await cache.set('k1', response('second'), 1_000);
    clock.advance(900);
    expect(await cache.get('k1')).toEqual(response('second'));
    expect(await cache.get('k2')).toBeUndefined();
  });

  it('ignores a non-positive ttl', async () => {
    await cache.set('k1', response('never'), 0);
    expect(await cache.get('k1')).toBeUndefined();
  });

  it('returns an answer with NUL and lone surrogates exactly', async () => {
    const odd = response('nul\u0000 high\ud800 low\udc00 \ufdd0marker 😀');
    await cache.set('k1', odd, 60_000);
    expect(await cache.get('k1')).toEqual(odd);
  });

  it("uses the store's clock when given none", async () => {
    const shared = create();
    await shared.set('k1', response('now'), 60_000);
    expect(await shared.get('k1')).toEqual(response('now'));
  });
}

/** The SQL cache over a client: a fresh schema per test. */
function sqlBackend(openClient: () => Promise<SqlClient>): CacheBackend {
  const sql = sqlTestSchemas(openClient);
  return {
    ...sql,
    async begin() {
      const schema = await sql.begin();
      return (clock) => createSqlResponseCache({ client: sql.client(), schema, ...(clock ? { clock } : {}) });
    },
  };
}

/** The Redis cache: a fresh key prefix per test, its keys deleted after. */
function redisBackend(url: string): CacheBackend {
  const redis = redisTestPrefixes(url);
  return {
    ...redis,
    async begin() {
      const keyPrefix = redis.begin();
      return (clock) =>
        createRedisResponseCache({ redis: redis.client(), keyPrefix, ...(clock ? { clock } : {}) });
    },
  };
}

describe('ResponseCache contract: SQL on PGlite', () => {
  responseCacheContract(sqlBackend(() => createPgliteClient()));
});

describePostgres('ResponseCache contract: SQL on Postgres', (connectionString) => {
  responseCacheContract(sqlBackend(async () => createPgClient({ connectionString, max: 4 })));
});

describeRedis('ResponseCache contract: Redis', (url) => {
  responseCacheContract(redisBackend(url));

  describe('Redis only', () => {
    let redis: Redis;
    let prefix: string;
    beforeAll(async () => {
      redis = createRedisClient({ url, commandTimeoutMs: 10_000 });
      expect(await whenRedisReady(redis, 5_000)).toBe(true);
    });
    afterAll(() => closeRedisClient(redis));
    beforeEach(() => {
      prefix = createTestKeyPrefix();
    });
    afterEach(() => deleteKeys(redis, prefix));

    it('lets Redis expire entries on its own clock (no cleanup needed)', async () => {
      const cache = createRedisResponseCache({ redis, keyPrefix: prefix });
      await cache.set('k1', response('ttl'), 60_000);
      const ttl = await redis.pttl(responseCacheKey(prefix, 'k1'));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
    });

    it('treats an entry that is not a model response, or not JSON, as a miss', async () => {
      const cache = createRedisResponseCache({ redis, keyPrefix: prefix });
      await redis.set(responseCacheKey(prefix, 'bad'), '{"expiresAt":1,"response":{"nope":1}}');
      await redis.set(responseCacheKey(prefix, 'worse'), 'not json');
      expect(await cache.get('bad')).toBeUndefined();
      expect(await cache.get('worse')).toBeUndefined();
    });

    it('does not share an answer larger than maxEntryBytes', async () => {
      const cache = createRedisResponseCache({ redis, keyPrefix: prefix, maxEntryBytes: 1_000 });
      await cache.set('big', response('x'.repeat(2_000)), 60_000);
      await cache.set('small', response('x'), 60_000);
      expect(await redis.exists(responseCacheKey(prefix, 'big'))).toBe(0);
      expect(await cache.get('small')).toEqual(response('x'));
    });
  });
});
