/**
 * With REDIS_URL set, the gateway service puts its rate limits and shared cache on Redis (and
 * says so), while call records stay in SQL.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrate } from '../../journal/migrations.js';
import { createPgliteClient } from '../../journal/pglite-client.js';
import type { SqlClient } from '../../journal/sql-client.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../../testing/fake-openai-server.js';
import { createTestKeyPrefix, deleteKeys, describeRedis } from '../../testing/redis.js';
import { closeRedisClient, createRedisClient, whenRedisReady } from '../redis-client.js';
import { rateLimitKey } from '../redis-rate-limiter.js';
import { createGatewayService } from './gateway-service.js';

describeRedis('The gateway service with REDIS_URL', (url) => {
  let client: SqlClient;
  let upstream: FakeOpenAIServer;
  let redis: Redis;
  const prefix = createTestKeyPrefix();

  beforeAll(async () => {
    client = await createPgliteClient();
    await migrate(client);
    upstream = await createFakeOpenAIServer({
      handler: () => ({ content: 'Hello.', usage: { promptTokens: 8, completionTokens: 2 } }),
    });
    redis = createRedisClient({ url, commandTimeoutMs: 10_000 });
    expect(await whenRedisReady(redis, 5_000)).toBe(true);
  });
  afterAll(async () => {
    await deleteKeys(redis, prefix);
    await closeRedisClient(redis);
    await upstream?.close();
    await client?.close();
  });

  it('reserves limits and caches answers in Redis, and says so', async () => {
    const infos: { message: string; fields: Record<string, unknown> | undefined }[] = [];
    const logger = {
      debug() {},
      info: (message: string, fields?: Record<string, unknown>) => infos.push({ message, fields }),
      warn() {},
      error() {},
      child: () => logger,
    };
    const service = createGatewayService({
      config: {
        deployments: [
          {
            name: 'up',
            provider: 'openai',
            model: 'gpt-4o-mini',
            baseURL: upstream.url,
            apiKeyEnv: 'UP_KEY',
            rpm: 2,
          },
        ],
        routes: [{ name: 'main', deployments: ['up'], cache: { enabled: true, scope: 'global' } }],
        retry: { attemptsPerDeployment: 1 },
        redis: { keyPrefix: prefix, commandTimeoutMs: 10_000 },
      },
      client,
      env: { UP_KEY: 'sk-upstream-0123456789', REDIS_URL: url },
      logger,
    });
    try {
      expect(service.hotStore.kind).toBe('redis');
      expect(infos).toContainEqual({
        message: 'gateway rate limits and shared cache',
        fields: expect.objectContaining({ store: 'redis', onError: 'closed' }),
      });
      await service.ready();
      const ask = (content: string) => ({ model: 'main', messages: [{ role: 'user' as const, content }] });
      await service.gateway.generate(ask('one'));
      await service.gateway.generate(ask('two'));
      // Both admitted; the window is the Redis server's minute, so a call may land in the next
      // one (r counts this minute's requests, pr the previous minute's).
      const counts = await redis.hmget(rateLimitKey(prefix, 'deployment:up'), 'r', 'pr');
      expect(Number(counts[0]) + Number(counts[1] ?? 0)).toBe(2);
      // The third call is over rpm 2: refused by the Redis limiter, not sent upstream.
      await expect(service.gateway.generate(ask('three'))).rejects.toMatchObject({
        code: 'gateway_unavailable',
      });
      // The shared cache level holds the answers (written off the call's path).
      await expect.poll(async () => (await redis.keys(`${prefix}cache:*`)).length).toBe(2);
    } finally {
      await service.close();
    }
  });

  it('stays on SQL without REDIS_URL', () => {
    const service = createGatewayService({
      config: {
        deployments: [
          {
            name: 'up',
            provider: 'openai',
            model: 'gpt-4o-mini',
            baseURL: upstream.url,
            apiKeyEnv: 'UP_KEY',
          },
        ],
        routes: [{ name: 'main', deployments: ['up'] }],
      },
      client,
      env: { UP_KEY: 'sk-upstream-0123456789' },
    });
    expect(service.hotStore.kind).toBe('sql');
    return service.close();
  });
});
