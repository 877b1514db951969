import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { beforeAll, describe, it } from 'vitest';
import { closeRedisClient, createRedisClient, whenRedisReady } from '../gateway/redis-client.js';

/**
 * Helpers for tests that run against a real Redis, shaped like ./postgres.ts. They depend on
 * vitest and are meant for Keel's own test suites (and CI), not for application code.
 *
 * Environment:
 * - `KEEL_TEST_REDIS_URL`: the server to test against, e.g. `redis://127.0.0.1:6379`. Unset:
 *   Redis suites are skipped, visibly.
 * - `KEEL_REQUIRE_REDIS=1` (CI): a missing URL or an unreachable server fails the suites instead
 *   of skipping them, so CI can never go green without having run them.
 *
 * Tests share the server: each uses its own key prefix ({@link createTestKeyPrefix}) and deletes
 * its keys after ({@link deleteKeys}).
 */

/** A fresh key prefix per test (`keel_t_` + 12 hex chars + `:`). */
export function createTestKeyPrefix(): string {
  return `keel_t_${randomBytes(6).toString('hex')}:`;
}

/** `KEEL_TEST_REDIS_URL`, or undefined when unset or empty. */
export function redisTestUrl(
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | undefined {
  const url = env.KEEL_TEST_REDIS_URL?.trim();
  return url ? url : undefined;
}

/** True when `KEEL_REQUIRE_REDIS=1`: Redis suites must run, never skip. */
export function isRedisRequired(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return env.KEEL_REQUIRE_REDIS === '1';
}

/**
 * `describe` for a suite that needs Redis; `body` receives the URL. Without a URL the suite is
 * skipped with the reason in its name, or fails when Redis is required. With one, a first hook
 * checks the server answers `PING` and fails the suite with a clear message otherwise.
 */
export function describeRedis(name: string, body: (url: string) => void): void {
  const url = redisTestUrl();
  if (url === undefined) {
    if (isRedisRequired()) {
      describe(name, () => {
        it('needs Redis', () => {
          throw new Error('KEEL_REQUIRE_REDIS=1 but KEEL_TEST_REDIS_URL is not set.');
        });
      });
    } else {
      describe.skip(`${name} (skipped: set KEEL_TEST_REDIS_URL to run against Redis)`, () => body(''));
    }
    return;
  }
  describe(name, () => {
    beforeAll(() => assertRedisReachable(url));
    body(url);
  });
}

/** Connects once and sends `PING`; throws a clear error (without the password) otherwise. */
export async function assertRedisReachable(url: string): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 5_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    const shown = url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
    throw new Error(
      `Redis at ${shown} is unreachable: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  } finally {
    client.disconnect();
  }
}

/** Deletes every key under `prefix` (SCAN, not KEYS: the server may be shared). */
export async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
    if (keys.length > 0) await client.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/**
 * A Redis client opened once per suite (`open`/`close`, with generous timeouts: the machine
 * running the tests may be busy) and a fresh key prefix per test (`begin`/`end`, its keys deleted
 * after): the lifecycle the contract suites over Redis share.
 */
export function redisTestPrefixes(url: string) {
  let opened: Redis | undefined;
  let current = '';
  const client = () => {
    if (opened === undefined) throw new Error('not open');
    return opened;
  };
  return {
    client,
    async open() {
      opened = createRedisClient({ url, commandTimeoutMs: 10_000, connectTimeoutMs: 5_000 });
      if (!(await whenRedisReady(opened, 5_000))) throw new Error(`Redis at ${url} is not ready`);
    },
    /** A fresh key prefix. */
    begin(): string {
      current = createTestKeyPrefix();
      return current;
    },
    async end() {
      await deleteKeys(client(), current);
    },
    async close() {
      if (opened !== undefined) await closeRedisClient(opened);
    },
  };
}
