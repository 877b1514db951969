import { resolve } from 'node:path';
import { ConfigError } from '../errors/config-errors.js';
import type { Clock } from '../util/clock.js';
import type { IdGenerator } from '../util/ids.js';
import type { Logger } from '../util/logger.js';
import { DEFAULT_SCHEMA, migrate as applyMigrations } from './migrations.js';
import { createPgClient } from './pg-client.js';
import { createPgliteClient } from './pglite-client.js';
import type { SqlClient } from './sql-client.js';
import { createSqlJournalStore } from './sql-journal-store.js';
import type { JournalStore } from './store.js';

/** Options of `openStore`. */
export interface OpenStoreOptions {
  /** `postgres://...`: use Postgres. Default: `DATABASE_URL`, unless `dataDir` is given. */
  databaseUrl?: string;
  /**
   * PGlite data directory, or `memory://` for an in-memory database. Default: `data` inside the
   * Keel folder, which is `KEEL_DATA_DIR` or else `./.keel` (as the CLI reads it), resolved from
   * the working directory; `KEEL_DATA_DIR=memory://` means in memory.
   */
  dataDir?: string;
  /** Postgres schema of Keel's tables (default `keel`). */
  schema?: string;
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
  /** Pool size for Postgres (default 10). */
  maxConnections?: number;
  /**
   * Postgres: client-side statement timeout (`queryTimeoutMs` of `createPgClient`). Default:
   * `KEEL_DB_QUERY_TIMEOUT_MS`, else 15 s; 0 turns it off.
   */
  queryTimeoutMs?: number;
  /** Postgres: connect timeout. Default: `KEEL_DB_CONNECT_TIMEOUT_MS`, else 10 s. */
  connectTimeoutMs?: number;
  /** Postgres: idle time before TCP keepalive probes. Default: `KEEL_DB_KEEPALIVE_MS`, else 10 s. */
  keepAliveInitialDelayMs?: number;
  clock?: Clock;
  generateId?: IdGenerator;
  logger?: Logger;
  /** Where `DATABASE_URL` and `KEEL_DATA_DIR` are read from (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Default Keel folder (holding the PGlite `data` directory), relative to the working directory. */
export const DEFAULT_KEEL_DIR = './.keel';

/**
 * Opens the journal store Keel runs on: Postgres when a database URL is given (option, else
 * `DATABASE_URL`), otherwise embedded PGlite in a data directory. Options win over the
 * environment, which is read only for what the options leave out; an explicit `dataDir` means
 * PGlite even when `DATABASE_URL` is set. The returned store closes the client when it closes;
 * `client` is returned for what shares the database (the effect ledger, readiness checks).
 */
export async function openStore({
  databaseUrl,
  dataDir,
  schema = DEFAULT_SCHEMA,
  migrate = true,
  maxConnections,
  queryTimeoutMs,
  connectTimeoutMs,
  keepAliveInitialDelayMs,
  clock,
  generateId,
  logger,
  env = process.env,
}: OpenStoreOptions = {}): Promise<{ store: JournalStore; client: SqlClient }> {
  const location = resolveStoreLocation({ databaseUrl, dataDir, env });
  queryTimeoutMs ??= integerEnv(env, 'KEEL_DB_QUERY_TIMEOUT_MS', 0);
  connectTimeoutMs ??= integerEnv(env, 'KEEL_DB_CONNECT_TIMEOUT_MS', 1);
  keepAliveInitialDelayMs ??= integerEnv(env, 'KEEL_DB_KEEPALIVE_MS', 1);
  const pgOptions = (location: { databaseUrl: string }) => ({
    connectionString: location.databaseUrl,
    ...(connectTimeoutMs === undefined ? {} : { connectionTimeoutMillis: connectTimeoutMs }),
    ...(keepAliveInitialDelayMs === undefined ? {} : { keepAliveInitialDelayMs }),
    ...(logger === undefined ? {} : { logger }),
  });
  const client =
    location.dialect === 'postgres'
      ? createPgClient({
          ...pgOptions(location),
          ...(maxConnections === undefined ? {} : { max: maxConnections }),
          ...(queryTimeoutMs === undefined ? {} : { queryTimeoutMs }),
        })
      : await createPgliteClient({ dataDir: location.dataDir });

  try {
    if (migrate && location.dialect === 'postgres') {
      // Migrations run on their own connection without the statement timeout: building an index
      // over a large table, or waiting for another replica's migration lock, may take longer than
      // a statement may take at run time, and a timeout would roll it back at every start.
      const migrator = createPgClient({ ...pgOptions(location), max: 1, queryTimeoutMs: 0 });
      try {
        await applyMigrations(migrator, { schema });
      } finally {
        await migrator.close().catch(() => {});
      }
    } else if (migrate) await applyMigrations(client, { schema });
  } catch (error) {
    await client.close().catch(() => {});
    throw error;
  }
  const store = createSqlJournalStore({
    client,
    schema,
    closeClient: true,
    ...(clock === undefined ? {} : { clock }),
    ...(generateId === undefined ? {} : { generateId }),
  });
  return { store, client };
}

/** Where `openStore` will keep its data: a Postgres URL, or a PGlite directory (absolute) or `memory://`. */
export type StoreLocation =
  { dialect: 'postgres'; databaseUrl: string } | { dialect: 'pglite'; dataDir: string };

/**
 * Decides between Postgres and PGlite exactly as `openStore` does, without opening anything
 * (for `keel doctor`-style reports and tests). Throws `ConfigError` for a URL that is not
 * `postgres://` or `postgresql://`.
 */
export function resolveStoreLocation({
  databaseUrl,
  dataDir,
  env = process.env,
}: Pick<OpenStoreOptions, 'databaseUrl' | 'dataDir' | 'env'>): StoreLocation {
  const url = databaseUrl ?? (dataDir === undefined ? nonEmpty(env.DATABASE_URL) : undefined);
  if (url !== undefined) {
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new ConfigError(
        'config_invalid',
        'The database URL must start with postgres:// or postgresql://.',
        {
          // The URL may carry a password: report only its scheme.
          scheme: url.split(':')[0],
        },
      );
    }
    return { dialect: 'postgres', databaseUrl: url };
  }
  if (dataDir !== undefined)
    return { dialect: 'pglite', dataDir: dataDir === IN_MEMORY ? dataDir : resolve(dataDir) };
  const keelDir = nonEmpty(env.KEEL_DATA_DIR) ?? DEFAULT_KEEL_DIR;
  return { dialect: 'pglite', dataDir: keelDir === IN_MEMORY ? keelDir : resolve(keelDir, 'data') };
}

const IN_MEMORY = 'memory://';

/** An integer setting from the environment (at least `min`), or undefined when unset. */
function integerEnv(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
  min: number,
): number | undefined {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ConfigError('config_invalid', `${name} must be an integer of at least ${min} (milliseconds).`, {
      name,
      value: raw,
    });
  }
  return value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
