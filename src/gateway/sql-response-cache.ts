import { assertSchemaName, DEFAULT_SCHEMA } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';
import { fromStorableJson, toStorableJson } from '../journal/storable-json.js';
import type { ModelResponse } from '../model/model.js';
import { storedModelResponseSchema } from '../model/stored-model-response.js';
import type { Clock } from '../util/clock.js';
import type { ResponseCache } from './gateway-store.js';

/** Options of `createSqlResponseCache`. */
export interface SqlResponseCacheOptions {
  client: SqlClient;
  /** Postgres schema of the tables (default `keel`); validated, then interpolated into SQL. */
  schema?: string;
  /**
   * Where expiry times come from. Default: the database clock, shared by every process (one
   * process's skew cannot make another serve a stale entry). Tests pass a fake clock.
   */
  clock?: Clock;
  /** Delete expired entries once every this many `set` calls (default 100), off the hot path. */
  cleanupEvery?: number;
}

const MAX_CLEANUP_ROWS = 1_000;

/**
 * The response cache over SQL, shared by every gateway process on the same database. One
 * round trip per `get` and per `set`. Expired rows are never served; they are deleted in
 * bounded batches every `cleanupEvery` sets (oldest expiry first, skipping locked rows), so the
 * table holds roughly what is live. An entry that does not parse as a model response (written
 * by another version, or damaged) is a miss, never an error.
 */
export function createSqlResponseCache({
  client,
  schema = DEFAULT_SCHEMA,
  clock,
  cleanupEvery = 100,
}: SqlResponseCacheOptions): ResponseCache {
  assertSchemaName(schema);
  const table = `${schema}.response_cache`;
  const now = () => (clock === undefined ? null : new Date(clock.now()).toISOString());
  const clockSql = (parameter: string) => `coalesce(${parameter}::timestamptz, now())`;
  let setsSinceCleanup = 0;

  // $1 key, $2 now (null: database clock).
  const getSql = `SELECT response FROM ${table} WHERE key = $1 AND expires_at > ${clockSql('$2')}`;

  // $1 key, $2 response, $3 now (null: database clock), $4 time to live in ms.
  const setSql = `
    INSERT INTO ${table} (key, response, expires_at, created_at)
    VALUES ($1, $2::jsonb, ${clockSql('$3')} + $4::float8 * interval '1 millisecond', ${clockSql('$3')})
    ON CONFLICT (key) DO UPDATE SET
      response = excluded.response, expires_at = excluded.expires_at, created_at = excluded.created_at`;

  const cleanupSql = `
    DELETE FROM ${table} WHERE key IN (
      SELECT key FROM ${table} WHERE expires_at <= ${clockSql('$1')}
      ORDER BY expires_at
      LIMIT ${MAX_CLEANUP_ROWS}
      FOR UPDATE SKIP LOCKED
    )`;

  return {
    async get(key) {
      const result = await client.query<{ response: unknown }>(getSql, [key, now()]);
      const row = result.rows[0];
      if (!row) return undefined;
      let stored: unknown;
      try {
        stored = fromStorableJson(row.response);
      } catch {
        return undefined;
      }
      const parsed = storedModelResponseSchema.safeParse(stored);
      return parsed.success ? (parsed.data as ModelResponse) : undefined;
    },

    async set(key, response, ttlMs) {
      if (!(ttlMs > 0)) return;
      if (++setsSinceCleanup >= cleanupEvery) {
        setsSinceCleanup = 0;
        // Not awaited: a failed cleanup only leaves expired rows for the next one.
        client.query(cleanupSql, [now()]).catch(() => {});
      }
      // Escaped where Postgres refuses the text (an answer with a NUL or a lone surrogate).
      await client.query(setSql, [key, toStorableJson(response), now(), ttlMs]);
    },
  };
}
