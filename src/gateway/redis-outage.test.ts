import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTcpProxy, type TcpProxy } from '../testing/tcp-proxy.js';
import { createTestKeyPrefix, deleteKeys, describeRedis } from '../testing/redis.js';
import type { Logger } from '../util/logger.js';
import { RateLimiterUnavailableError } from './gateway-errors.js';
import { closeRedisClient, createRedisClient } from './redis-client.js';
import { parseGatewayConfig } from './parse-gateway-config.js';
import type { RedisFailure } from './redis-failures.js';
import { openRedisStores, type RedisStores } from './redis-stores.js';

/**
 * Redis down must never hang a call: with nothing listening, with a server that accepts and
 * never answers, and with a connection that goes silent after it was ready, every operation
 * answers (vitest's test timeout catches a hang) with the policy applied, counted and logged.
 */

const redisConfig = (onError: 'open' | 'closed', keyPrefix = 'keel_t_outage:') =>
  parseGatewayConfig({
    deployments: [{ name: 'd', provider: 'openai', model: 'm' }],
    routes: [{ name: 'r', deployments: ['d'] }],
    redis: { onError, commandTimeoutMs: 200, connectTimeoutMs: 500, keyPrefix },
  }).redis;

/** A logger that keeps its warnings. */
function createRecordingLogger(): Logger & { warnings: Record<string, unknown>[] } {
  const warnings: Record<string, unknown>[] = [];
  const logger = {
    warnings,
    debug() {},
    info() {},
    warn(message: string, fields?: Record<string, unknown>) {
      warnings.push({ message, ...fields });
    },
    error() {},
    child: () => logger,
  };
  return logger;
}

/** A port nothing listens on: bound once to learn a free one, then closed. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A TCP server that accepts connections and never sends a byte. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Every operation once, against stores whose Redis does not answer. */
async function expectPolicyApplied(
  stores: RedisStores,
  onError: 'open' | 'closed',
  failures: RedisFailure[],
): Promise<void> {
  const scope = [{ scope: 'deployment:a', rpm: 10 }];
  if (onError === 'closed') {
    await expect(stores.limiter.reserve(scope, 5)).rejects.toBeInstanceOf(RateLimiterUnavailableError);
    expect(failures).toEqual([{ operation: 'reserve', outcome: 'refused' }]);
  } else {
    const result = await stores.limiter.reserve(scope, 5);
    expect(result).toMatchObject({ ok: true, reservation: { scopes: [], tokens: 5 } });
    expect(failures).toEqual([{ operation: 'reserve', outcome: 'admitted' }]);
  }
  // A settle of a real reservation made before the outage is dropped, not thrown.
  await stores.limiter.settle({ id: 'rsv_1', scopes: ['deployment:a'], tokens: 5, windowStart: 0 }, 9);
  expect(await stores.cache.get('k')).toBeUndefined();
  await stores.cache.set(
    'k',
    {
      message: { role: 'assistant', content: 'x' },
      finishReason: 'stop',
      usage: { inputTokens: 1, outputTokens: 1 },
      modelId: 'm',
    },
    1_000,
  );
  expect(failures.slice(1)).toEqual([
    { operation: 'settle', outcome: 'skipped' },
    { operation: 'get', outcome: 'skipped' },
    { operation: 'set', outcome: 'skipped' },
  ]);
}

describe('Redis down', () => {
  let stores: RedisStores | undefined;
  let server: { close(): Promise<void> } | undefined;
  afterEach(async () => {
    await stores?.close();
    await server?.close();
    stores = undefined;
    server = undefined;
  });

  for (const onError of ['closed', 'open'] as const) {
    it(`applies onError: ${onError} when nothing listens on the port, logging once`, async () => {
      const failures: RedisFailure[] = [];
      const logger = createRecordingLogger();
      stores = openRedisStores({
        url: `redis://127.0.0.1:${await deadPort()}`,
        config: redisConfig(onError),
        logger,
        onFailure: (failure) => failures.push(failure),
      });
      expect(await stores.ready()).toBe(false);
      await expectPolicyApplied(stores, onError, failures);
      // Four failures, one log line (the rest are counted in the next one).
      expect(logger.warnings).toHaveLength(1);
      expect(logger.warnings[0]).toMatchObject({ message: 'gateway redis failed', operation: 'reserve' });
    });

    it(`applies onError: ${onError} when the server accepts and never answers`, async () => {
      const silent = await silentServer();
      server = silent;
      const failures: RedisFailure[] = [];
      stores = openRedisStores({
        url: `redis://127.0.0.1:${silent.port}`,
        config: redisConfig(onError),
        logger: createRecordingLogger(),
        onFailure: (failure) => failures.push(failure),
      });
      expect(await stores.ready()).toBe(false);
      await expectPolicyApplied(stores, onError, failures);
    });
  }

  it('closes a client that never connected without leaving it reconnecting', async () => {
    stores = openRedisStores({
      url: `redis://127.0.0.1:${await deadPort()}`,
      config: redisConfig('closed'),
      logger: createRecordingLogger(),
    });
    await stores.close();
    expect(stores.client.status).toBe('end');
  });
});

describeRedis('Redis going silent after it was ready', (url) => {
  let proxy: TcpProxy | undefined;
  let stores: RedisStores | undefined;
  const prefix = createTestKeyPrefix();
  afterEach(async () => {
    await stores?.close();
    await proxy?.close();
    const redis = createRedisClient({ url, commandTimeoutMs: 10_000 });
    try {
      await new Promise((resolve) => redis.once('ready', resolve));
      await deleteKeys(redis, prefix);
    } finally {
      await closeRedisClient(redis);
    }
  });

  for (const onError of ['closed', 'open'] as const) {
    it(`answers each command within the command timeout with onError: ${onError}`, async () => {
      const target = new URL(url);
      proxy = await createTcpProxy({ targetPort: Number(target.port || 6379), targetHost: target.hostname });
      const failures: RedisFailure[] = [];
      stores = openRedisStores({
        url: `redis://127.0.0.1:${proxy.port}`,
        config: redisConfig(onError, prefix),
        logger: createRecordingLogger(),
        onFailure: (failure) => failures.push(failure),
      });
      expect(await stores.ready()).toBe(true);
      // Answered while the connection passes (the key is fresh and expires in 3 minutes).
      const scope = `deployment:silent-${onError}-${Date.now()}`;
      expect(await stores.limiter.reserve([{ scope, rpm: 100 }], 0)).toMatchObject({ ok: true });
      proxy.setMode('blackhole');
      await expectPolicyApplied(stores, onError, failures);
    });
  }
});
