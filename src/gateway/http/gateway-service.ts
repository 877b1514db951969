import type { BudgetStore } from '../../budgets/budget-store.js';
import { createGatewayBudgets } from '../../budgets/gateway-budgets.js';
import type { KeelError } from '../../errors/keel-error.js';
import type { SqlClient } from '../../journal/sql-client.js';
import { silentLogger, type Logger } from '../../util/logger.js';
import { createApiKeys, type ApiKeys } from '../api-keys.js';
import type { GatewayConfig, GatewayConfigInput } from '../gateway-config.js';
import { createGateway, type KeelGateway } from '../gateway.js';
import { parseGatewayConfig } from '../parse-gateway-config.js';
import type { CallMeta } from '../gateway-types.js';
import { createSqlCallRecorder } from '../sql-call-recorder.js';
import { createSqlRateLimiter } from '../sql-rate-limiter.js';
import { createSqlResponseCache } from '../sql-response-cache.js';
import type { RedisFailure } from '../redis-failures.js';
import { openRedisStores, type RedisStores } from '../redis-stores.js';
import type { GatewayCallTracer } from '../../telemetry/gateway-call-spans.js';
import { createGatewayHandler, type GatewayHandler } from './gateway-handler.js';

/** Options of {@link createGatewayService}. */
export interface GatewayServiceOptions {
  /** The config file's `gateway` section (validated here). */
  config: GatewayConfigInput | GatewayConfig;
  /** The journal's database: limits, cache, call records and API keys share it. */
  client: SqlClient;
  /** Postgres schema of Keel's tables (default `keel`). */
  schema?: string;
  /** Where deployments' `apiKeyEnv` variables are read. */
  env?: Readonly<Record<string, string | undefined>>;
  logger?: Logger;
  /** Told of every finished call (Prometheus counters: `KeelMetrics.gatewayCall`). */
  onCall?: (call: CallMeta) => void;
  /** Live `chat {model}` spans of HTTP calls (OpenTelemetry export, when on). */
  tracer?: GatewayCallTracer;
  /** Runtime kill switch of deployments (see `CreateGatewayOptions.isDeploymentDisabled`). */
  isDeploymentDisabled?: (deployment: string) => boolean;
  /** The spend of calls made outside runs, by tenant (see `CreateGatewayOptions.onSpend`). */
  onSpend?: (spend: { tenantId: string; costUsd: number }) => void;
  /** Refuses the calls of a paused tenant (runtime controls); absent: none is refused. */
  tenantHold?: (tenantId: string) => KeelError | undefined;
  /** The shared budget store: every HTTP call reserves against its caller's budgets. Absent: none apply. */
  budgets?: BudgetStore;
  /** Told of every Redis failure (Prometheus: `KeelMetrics.redisFailure`), when `REDIS_URL` is set. */
  onRedisFailure?: (failure: RedisFailure) => void;
}

/** A gateway wired to the shared store, with its HTTP handler. */
export interface GatewayService {
  gateway: KeelGateway;
  apiKeys: ApiKeys;
  handler: GatewayHandler;
  /**
   * Where rate limits and the shared cache live: `redis` when `REDIS_URL` is set (its URL without
   * password as `description`), else `sql` (the journal's database).
   */
  hotStore: { kind: 'redis' | 'sql'; description: string };
  /** Waits (up to the connect timeout) for Redis to connect, and logs whether it did; at once on SQL. */
  ready(): Promise<void>;
  /**
   * Writes the buffered call records, releases the deployments' connections and closes the Redis
   * client (not the SQL client).
   */
  close(): Promise<void>;
}

/**
 * Everything `keel gateway` and `keel serve` need to serve the gateway's endpoints: the SQL rate
 * limiter, response cache, call recorder and API keys over one client, the gateway, and the
 * handler. Throws ConfigError (`config_invalid`) for an invalid config or a missing provider key.
 */
export function createGatewayService({
  config: input,
  client,
  schema,
  env = process.env,
  logger = silentLogger,
  onCall,
  tracer,
  isDeploymentDisabled,
  onSpend,
  tenantHold,
  budgets,
  onRedisFailure,
}: GatewayServiceOptions): GatewayService {
  const config = parseGatewayConfig(input);
  const shared = schema === undefined ? { client } : { client, schema };
  const recorder = createSqlCallRecorder({ ...shared, logger });
  const apiKeys = createApiKeys({ ...shared, logger });
  // Redis for the hot paths when REDIS_URL is set; Postgres stays the store of record.
  const redisUrl = env.REDIS_URL?.trim();
  const redis: RedisStores | undefined = redisUrl
    ? openRedisStores({
        url: redisUrl,
        config: config.redis,
        logger,
        ...(onRedisFailure === undefined ? {} : { onFailure: onRedisFailure }),
      })
    : undefined;
  const hotStore = redis
    ? { kind: 'redis' as const, description: redis.description }
    : { kind: 'sql' as const, description: 'the journal database' };
  logger.info('gateway rate limits and shared cache', {
    store: hotStore.kind,
    ...(redis ? { redis: redis.description, onError: config.redis.onError } : {}),
  });
  let gateway: KeelGateway;
  try {
    gateway = createGateway({
      config,
      limiter: redis?.limiter ?? createSqlRateLimiter(shared),
      cache: redis?.cache ?? createSqlResponseCache(shared),
      recorder,
      ...(onCall === undefined ? {} : { onCall }),
      ...(isDeploymentDisabled === undefined ? {} : { isDeploymentDisabled }),
      ...(onSpend === undefined ? {} : { onSpend }),
      env,
      logger,
    });
  } catch (error) {
    // Nothing was recorded yet; a failing close must not hide the configuration error.
    void recorder.close().catch(() => {});
    void redis?.close();
    throw error;
  }
  const handler = createGatewayHandler({
    gateway,
    apiKeys,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    ...(tracer === undefined ? {} : { tracer }),
    ...(tenantHold === undefined ? {} : { tenantHold }),
    ...(budgets === undefined ? {} : { budgets: createGatewayBudgets({ budgets, gateway, logger }) }),
  });
  const sweep = budgets === undefined ? undefined : sweepStaleHolds(budgets, logger);
  return {
    gateway,
    apiKeys,
    handler,
    hotStore,
    async ready() {
      if (redis === undefined) return;
      if (await redis.ready()) logger.info('gateway redis connected', { redis: redis.description });
      else
        logger.warn('gateway redis not connected yet: its failure policy applies until it is', {
          redis: redis.description,
          onError: config.redis.onError,
        });
    },
    async close() {
      if (sweep !== undefined) clearInterval(sweep);
      try {
        await gateway.close();
      } finally {
        try {
          await recorder.close();
        } finally {
          await redis?.close();
        }
      }
    },
  };
}

/** Holds older than this belong to a gateway process that died mid-call (no call lasts an hour). */
const STALE_HOLD_MS = 60 * 60_000;
const SWEEP_EVERY_MS = 5 * 60_000;

/** Releases, every few minutes, budget holds that a gateway process which died left behind. */
function sweepStaleHolds(budgets: BudgetStore, logger: Logger): NodeJS.Timeout {
  const timer = setInterval(() => {
    budgets.releaseOlderThan(STALE_HOLD_MS).then(
      (released) => {
        if (released > 0) logger.warn('released stale gateway budget holds', { released });
      },
      (error: unknown) => logger.warn('could not sweep stale gateway budget holds', { error: String(error) }),
    );
  }, SWEEP_EVERY_MS);
  timer.unref();
  return timer;
}
