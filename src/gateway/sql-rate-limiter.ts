import { assertSchemaName, DEFAULT_SCHEMA } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';
import { toDate } from '../journal/sql-rows.js';
import type { Clock } from '../util/clock.js';
import { createId } from '../util/ids.js';
import type { IdGenerator } from '../util/ids.js';
import type { LimitScope, RateLimiter, ReserveResult } from './gateway-store.js';

/** Options of `createSqlRateLimiter`. */
export interface SqlRateLimiterOptions {
  client: SqlClient;
  /** Postgres schema of the tables (default `keel`); validated, then interpolated into SQL. */
  schema?: string;
  /**
   * Where windows come from. Leave unset in production: the database clock (`now()`) is the
   * one clock every gateway process shares, so windows agree whatever the machines' skew.
   * Tests pass a fake clock to cross window boundaries deterministically.
   */
  clock?: Clock;
  generateId?: IdGenerator;
  /** Delete scopes idle for an hour once every this many reserves (default 100), off the hot path. */
  cleanupEvery?: number;
}

/** Length of a window. */
export const RATE_WINDOW_MS = 60_000;

/** Rows whose window is older than this are deleted by the occasional cleanup. */
const IDLE_SCOPE_INTERVAL = `interval '1 hour'`;
const MAX_CLEANUP_ROWS = 1_000;
/** A scope row missing on the first attempt is created, then found on the second. */
const MAX_ATTEMPTS = 3;

/** One scope as the reserve statement saw it after locking its row and rolling its window. */
interface ScopeStateRow {
  scope: string;
  rpm: number | null;
  tpm: number | null;
  window_start: Date | string;
  elapsed_ms: number;
  requests: number;
  tokens: number;
  previous_requests: number;
  previous_tokens: number;
  rpm_ok: boolean;
  tpm_ok: boolean;
  updated: number;
}

/**
 * The rate limiter over SQL, shared by every gateway process on the same database.
 *
 * Algorithm: a sliding-window estimate over one-minute windows (as Cloudflare and nginx-style
 * limiters do): the count in the last minute is taken as `previous * (1 - elapsed / 60 s) +
 * current`, where `previous` is the whole previous minute's total. Unlike fixed windows it does
 * not admit 2x the limit across a minute boundary (rpm requests at 0:59 and rpm more at 1:00),
 * and it costs nothing extra: both windows live in the scope's one row (see migration 0002).
 *
 * Atomicity: `reserve` is ONE statement. It locks the rows of all its scopes in scope order
 * (`SELECT ... ORDER BY scope FOR UPDATE`: concurrent multi-scope reserves cannot deadlock; in
 * READ COMMITTED the lock returns each row's latest committed version), checks every limit of
 * every scope against those locked values, and increments all rows only if all pass. So
 * concurrent callers, in any number of processes, never overshoot, and a refusal changes
 * nothing. A scope used for the first time (or after an hour idle) has no row yet: that
 * reserve creates it in a second statement and tries again (three round trips, once).
 *
 * Round trips: one per `reserve` and one per `settle` (none when nothing changes); the cleanup
 * of idle scopes runs every `cleanupEvery` reserves, not awaited by the caller.
 *
 * A request whose token estimate exceeds a scope's tpm is never admitted (its `retryAfterMs`
 * is the time until both windows are empty); callers should reject it as too large.
 */
export function createSqlRateLimiter({
  client,
  schema = DEFAULT_SCHEMA,
  clock,
  generateId = createId,
  cleanupEvery = 100,
}: SqlRateLimiterOptions): RateLimiter {
  assertSchemaName(schema);
  const table = `${schema}.rate_windows`;
  const now = () => (clock === undefined ? null : new Date(clock.now()).toISOString());
  const clockSql = (parameter: string) => `coalesce(${parameter}::timestamptz, now())`;
  let reservesSinceCleanup = 0;

  // $1 scopes (sorted, distinct), $2 rpm, $3 tpm, $4 tokens, $5 now (null: database clock).
  const reserveSql = `
    WITH input AS (
      SELECT * FROM unnest($1::text[], $2::int4[], $3::int8[]) AS input (scope, rpm, tpm)
    ), clock AS (
      SELECT ${clockSql('$5')} AS now, date_trunc('minute', ${clockSql('$5')}) AS window_start
    ), locked AS MATERIALIZED (
      SELECT scope, window_start, requests, tokens, previous_requests, previous_tokens
      FROM ${table} WHERE scope = ANY($1::text[])
      ORDER BY scope
      FOR UPDATE
    ), rolled AS (
      -- A window that ended becomes the previous one if it is the minute just before, else nothing.
      -- A row already ahead of this statement's clock (a later transaction rolled it) is kept.
      SELECT input.scope, input.rpm, input.tpm, clock.now,
        greatest(locked.window_start, clock.window_start) AS window_start,
        CASE WHEN locked.window_start >= clock.window_start THEN locked.requests ELSE 0 END AS requests,
        CASE WHEN locked.window_start >= clock.window_start THEN locked.tokens ELSE 0 END AS tokens,
        CASE WHEN locked.window_start >= clock.window_start THEN locked.previous_requests
             WHEN locked.window_start = clock.window_start - interval '1 minute' THEN locked.requests
             ELSE 0 END AS previous_requests,
        CASE WHEN locked.window_start >= clock.window_start THEN locked.previous_tokens
             WHEN locked.window_start = clock.window_start - interval '1 minute' THEN locked.tokens
             ELSE 0 END AS previous_tokens
      FROM input JOIN locked USING (scope) CROSS JOIN clock
    ), weighted AS (
      SELECT rolled.*,
        extract(epoch FROM rolled.now - rolled.window_start)::float8 * 1000 AS elapsed_ms,
        1 - least(1, greatest(0, extract(epoch FROM rolled.now - rolled.window_start)::float8 / 60)) AS weight
      FROM rolled
    ), checked AS (
      SELECT weighted.*,
        rpm IS NULL OR previous_requests * weight + requests + 1 <= rpm AS rpm_ok,
        tpm IS NULL OR previous_tokens * weight + tokens + $4::int8 <= tpm AS tpm_ok
      FROM weighted
    ), verdict AS (
      SELECT count(*) = cardinality($1::text[]) AND coalesce(bool_and(rpm_ok AND tpm_ok), false) AS admitted
      FROM checked
    ), updated AS (
      UPDATE ${table} AS counter SET
        window_start = checked.window_start,
        requests = checked.requests + 1,
        tokens = checked.tokens + $4::int8,
        previous_requests = checked.previous_requests,
        previous_tokens = checked.previous_tokens
      FROM checked
      WHERE counter.scope = checked.scope AND (SELECT admitted FROM verdict)
      RETURNING counter.scope
    )
    SELECT scope, rpm, tpm, window_start, elapsed_ms, requests, tokens, previous_requests, previous_tokens,
      rpm_ok, tpm_ok, (SELECT count(*)::int FROM updated) AS updated
    FROM checked`;

  // $1 scopes, $2 now. Sorted so that concurrent creations of overlapping sets cannot deadlock.
  const createSql = `
    INSERT INTO ${table} (scope, window_start)
    SELECT scope, date_trunc('minute', ${clockSql('$2')}) FROM unnest($1::text[]) AS scope
    ORDER BY scope
    ON CONFLICT (scope) DO NOTHING`;

  // $1 scopes, $2 the reservation's window, $3 token correction. Rows locked in scope order,
  // like reserve. The window may have rolled since: the correction then goes to the previous
  // totals (which the sliding estimate still weighs), or nowhere once that window is gone too.
  const settleSql = `
    WITH locked AS MATERIALIZED (
      SELECT scope FROM ${table}
      WHERE scope = ANY($1::text[])
        AND window_start IN ($2::timestamptz, $2::timestamptz + interval '1 minute')
      ORDER BY scope
      FOR UPDATE
    )
    UPDATE ${table} AS counter SET
      tokens = CASE WHEN counter.window_start = $2::timestamptz
        THEN greatest(0, counter.tokens + $3::int8) ELSE counter.tokens END,
      previous_tokens = CASE WHEN counter.window_start = $2::timestamptz + interval '1 minute'
        THEN greatest(0, counter.previous_tokens + $3::int8) ELSE counter.previous_tokens END
    FROM locked
    WHERE counter.scope = locked.scope AND (SELECT count(*) FROM locked) > 0`;

  // SKIP LOCKED: the cleanup never waits on a row, so it can never be part of a deadlock.
  const cleanupSql = `
    DELETE FROM ${table} WHERE scope IN (
      SELECT scope FROM ${table}
      WHERE window_start < ${clockSql('$1')} - ${IDLE_SCOPE_INTERVAL}
      LIMIT ${MAX_CLEANUP_ROWS}
      FOR UPDATE SKIP LOCKED
    )`;

  const cleanUp = () => {
    reservesSinceCleanup = 0;
    // Not awaited: it must not delay the reserve. A failure is harmless (idle rows stay longer).
    client.query(cleanupSql, [now()]).catch(() => {});
  };

  return {
    async reserve(scopes, tokens) {
      const limited = normalizeScopes(scopes);
      const estimate = Math.max(0, Math.ceil(tokens));
      if (limited.length === 0) {
        const windowStart = Math.floor((clock?.now() ?? Date.now()) / RATE_WINDOW_MS) * RATE_WINDOW_MS;
        return {
          ok: true,
          reservation: { id: generateId('rsv'), scopes: [], tokens: estimate, windowStart },
        };
      }
      if (++reservesSinceCleanup >= cleanupEvery) cleanUp();
      const names = limited.map((scope) => scope.scope);
      const parameters = [
        names,
        limited.map((scope) => scope.rpm ?? null),
        limited.map((scope) => scope.tpm ?? null),
        estimate,
      ];

      for (let attempt = 1; ; attempt++) {
        const timestamp = now();
        const result = await client.query<ScopeStateRow>(reserveSql, [...parameters, timestamp]);
        const rows = result.rows;
        if (rows.length === limited.length) {
          const windowStart = Math.max(...rows.map((row) => toDate(row.window_start).getTime()));
          if (rows[0]?.updated === limited.length) {
            return {
              ok: true,
              reservation: { id: generateId('rsv'), scopes: names, tokens: estimate, windowStart },
            };
          }
          return refusal(rows, estimate);
        }
        if (attempt >= MAX_ATTEMPTS) {
          throw new Error(`Rate limit rows for ${names.join(', ')} could not be created.`);
        }
        await client.query(createSql, [names, timestamp]);
      }
    },

    async settle(reservation, actualTokens) {
      const delta = Math.max(0, Math.ceil(actualTokens)) - reservation.tokens;
      if (delta === 0 || reservation.scopes.length === 0) return;
      await client.query(settleSql, [
        [...reservation.scopes].sort(),
        new Date(reservation.windowStart).toISOString(),
        delta,
      ]);
    },
  };
}

/**
 * Drops scopes without limits (nothing to reserve) and merges duplicates (the tighter limit
 * wins); sorts by scope, the order rows are locked in.
 */
export function normalizeScopes(scopes: readonly LimitScope[]): LimitScope[] {
  const byName = new Map<string, LimitScope>();
  for (const { scope, rpm, tpm } of scopes) {
    if (rpm === undefined && tpm === undefined) continue;
    const known = byName.get(scope);
    byName.set(scope, {
      scope,
      ...(tighter(known?.rpm, rpm) === undefined ? {} : { rpm: tighter(known?.rpm, rpm) }),
      ...(tighter(known?.tpm, tpm) === undefined ? {} : { tpm: tighter(known?.tpm, tpm) }),
    });
  }
  return [...byName.values()].sort((left, right) => (left.scope < right.scope ? -1 : 1));
}

function tighter(left: number | undefined, right: number | undefined): number | undefined {
  if (left === undefined) return right === undefined ? undefined : Math.floor(right);
  return right === undefined ? left : Math.min(left, Math.floor(right));
}

/** The refused limit that frees last: retrying earlier would be refused again. */
function refusal(rows: readonly ScopeStateRow[], estimate: number): ReserveResult {
  let worst: { scope: string; limit: 'rpm' | 'tpm'; retryAfterMs: number } | undefined;
  const consider = (scope: string, limit: 'rpm' | 'tpm', retryAfterMs: number) => {
    if (worst === undefined || retryAfterMs > worst.retryAfterMs) worst = { scope, limit, retryAfterMs };
  };
  for (const row of rows) {
    const elapsedMs = Number(row.elapsed_ms);
    if (!row.rpm_ok && row.rpm !== null) {
      const current = Number(row.requests);
      const previous = Number(row.previous_requests);
      consider(row.scope, 'rpm', msUntilFree({ current, previous, need: 1, limit: row.rpm, elapsedMs }));
    }
    if (!row.tpm_ok && row.tpm !== null) {
      const current = Number(row.tokens);
      const previous = Number(row.previous_tokens);
      consider(
        row.scope,
        'tpm',
        msUntilFree({ current, previous, need: estimate, limit: Number(row.tpm), elapsedMs }),
      );
    }
  }
  // Unreachable in practice (a refusal has a failing limit); a minute is the safe answer.
  return {
    ok: false,
    ...(worst ?? { scope: rows[0]?.scope ?? '', limit: 'rpm', retryAfterMs: RATE_WINDOW_MS }),
  };
}

/**
 * When `need` more fits under `limit` if nothing else arrives: solves
 * `previous * (1 - t / W) + current + need <= limit` for the time t into the window, or, when
 * the current window alone is full, the same in the next window (where `current` is the
 * previous one). At least 1 ms.
 */
export function msUntilFree({
  current,
  previous,
  need,
  limit,
  elapsedMs,
}: {
  current: number;
  previous: number;
  need: number;
  limit: number;
  elapsedMs: number;
}): number {
  const elapsed = Math.min(RATE_WINDOW_MS, Math.max(0, elapsedMs));
  let wait: number;
  if (need > limit) {
    wait = 2 * RATE_WINDOW_MS - elapsed;
  } else if (current + need <= limit) {
    const freeAt = previous > 0 ? RATE_WINDOW_MS * (1 - (limit - current - need) / previous) : 0;
    wait = freeAt - elapsed;
  } else {
    const freeAt = current > 0 ? RATE_WINDOW_MS * (1 - (limit - need) / current) : 0;
    wait = RATE_WINDOW_MS - elapsed + Math.max(0, freeAt);
  }
  return Math.max(1, Math.ceil(wait));
}
