// One hot rate-limit scope: many concurrent reservations against a single scope, on Postgres
// (the SQL limiter: a row lock and a commit per reserve) and on Redis (one Lua script per
// reserve), with a floor: raw INCR round trips on the same Redis client at the same concurrency.
//
//   node bench/hot-limits/measure.js <postgres|redis|floor>
//
// Imports THIS worktree's build (dist/, by path: `npm run build` first), not bench/node_modules/keel.
// Env: KEEL_BENCH_REDIS_URL (default redis://127.0.0.1:6379), KEEL_BENCH_POSTGRES_URL,
// KEEL_BENCH_HOT_CONCURRENCY (default 64), KEEL_BENCH_HOT_SECONDS (default 3).
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { report } from '../lib/child.js';
import { benchDatabase, dropDatabase, freshDatabase } from '../lib/db.js';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '../../dist');
const REDIS_URL = process.env.KEEL_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const CONCURRENCY = Number(process.env.KEEL_BENCH_HOT_CONCURRENCY ?? 64);
const SECONDS = Number(process.env.KEEL_BENCH_HOT_SECONDS ?? 3);
const SCOPE = [{ scope: 'deployment:hot', rpm: 1_000_000_000, tpm: 1_000_000_000_000 }];

const load = (path) => import(pathToFileURL(join(DIST, path)).href);

/** Runs `once` from CONCURRENCY loops for SECONDS (after a 0.5 s warm-up); operations per second. */
async function drive(once) {
  const run = async (until) => {
    let count = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < until) {
          await once();
          count++;
        }
      }),
    );
    return count;
  };
  await run(performance.now() + 500);
  const started = performance.now();
  const count = await run(started + SECONDS * 1000);
  return { perSecond: count / ((performance.now() - started) / 1000), count };
}

async function measurePostgres() {
  const { createPgClient } = await load('journal/pg-client.js');
  const { migrate } = await load('journal/migrations.js');
  const { createSqlRateLimiter } = await load('gateway/sql-rate-limiter.js');
  const name = benchDatabase('keel_bench_hot');
  const url = await freshDatabase(name);
  const client = createPgClient({ connectionString: url, max: 10 });
  try {
    await migrate(client);
    const limiter = createSqlRateLimiter({ client });
    const result = await drive(async () => {
      const reserved = await limiter.reserve(SCOPE, 10);
      if (!reserved.ok) throw new Error('refused');
    });
    return { ...result, pool: 10 };
  } finally {
    await client.close();
    await dropDatabase(name);
  }
}

async function withRedis(fn) {
  const { createRedisClient, whenRedisReady, closeRedisClient } = await load('gateway/redis-client.js');
  const redis = createRedisClient({ url: REDIS_URL, commandTimeoutMs: 5_000 });
  const prefix = `keel_bench_${process.pid}:`;
  try {
    if (!(await whenRedisReady(redis, 3_000))) throw new Error(`Redis at ${REDIS_URL} is not reachable`);
    return await fn(redis, prefix);
  } finally {
    const keys = await redis.keys(`${prefix}*`).catch(() => []);
    if (keys.length > 0) await redis.del(...keys).catch(() => {});
    await closeRedisClient(redis);
  }
}

async function measureRedis() {
  const { createRedisRateLimiter } = await load('gateway/redis-rate-limiter.js');
  return withRedis(async (redis, prefix) => {
    const limiter = createRedisRateLimiter({ redis, keyPrefix: prefix });
    return drive(async () => {
      const reserved = await limiter.reserve(SCOPE, 10);
      if (!reserved.ok) throw new Error('refused');
    });
  });
}

async function measureFloor() {
  return withRedis((redis, prefix) => drive(() => redis.incr(`${prefix}floor`)));
}

const system = process.argv[2];
try {
  if (!existsSync(join(DIST, 'gateway/redis-rate-limiter.js'))) {
    report({ unavailable: 'Keel is not built with the Redis limiter: run `npm run build` at the root' });
  } else {
    const measure = { postgres: measurePostgres, redis: measureRedis, floor: measureFloor }[system];
    if (measure === undefined) throw new Error(`unknown system ${system}`);
    report({ ...(await measure()), concurrency: CONCURRENCY, seconds: SECONDS });
  }
} catch (error) {
  report({ error: String(error?.stack ?? error) });
}
