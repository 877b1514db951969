import { DatabaseUnavailableError } from '../errors/storage-errors.js';

/**
 * The database boundary of the journal: a handful of methods that PGlite (embedded) and `pg`
 * (a real Postgres) both implement, in the spirit of Kysely's dialect interface. Everything
 * above it speaks one SQL dialect, Postgres.
 *
 * Value conventions, identical on both dialects so that code above never branches:
 * - `int8` (bigint) columns come back as JS numbers (a `bigint` only beyond 2^53, which Keel
 *   never stores); `int4` as numbers; `numeric` as exact decimal strings (convert where used);
 * - `timestamptz` as `Date`; `json`/`jsonb` parsed;
 * - pass `jsonb` parameters as `JSON.stringify(value)` with a `::jsonb` cast, because `pg` turns
 *   JS arrays into Postgres arrays.
 */

/** The result of one statement. */
export interface SqlResult<Row> {
  rows: Row[];
  /** Rows returned, inserted, updated or deleted by the statement. */
  rowCount: number;
}

/** Something that runs statements: the client itself, or a transaction in progress. */
export interface SqlExecutor {
  /** Runs one statement with `$1`-style parameters (extended protocol: exactly one statement). */
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<SqlResult<Row>>;
  /**
   * Runs a script of several statements without parameters (simple protocol). Used for
   * migrations, whose DDL is naturally a script; never pass outside input here.
   */
  exec(sql: string): Promise<void>;
}

/** Which implementation is behind a client. */
export type SqlDialect = 'pglite' | 'postgres';

/**
 * A connection (PGlite) or a pool of them (`pg`). Connection-level failures (refused, reset,
 * admin shutdown, SQLSTATE class 08, pool timeouts) are thrown as `DatabaseUnavailableError`
 * (retryable); any other SQL error is thrown as the driver raised it (with its `code`).
 */
export interface SqlClient extends SqlExecutor {
  readonly dialect: SqlDialect;
  /**
   * Runs `fn` in a transaction (READ COMMITTED) on one connection: committed when `fn`
   * resolves, rolled back when it throws. Use only `tx` inside `fn`: on PGlite the client is
   * one connection, so a query on the client itself would wait for the transaction forever.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * Subscribes to a NOTIFY channel; returns an unsubscribe function. Resolves once the
   * subscription is active, or, when the database is unreachable, once it is registered: the
   * `pg` client then keeps reconnecting in the background and subscribes when it succeeds.
   * Notifications sent while the connection is down are lost, so callers must also poll.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** Sends a notification; delivered when the surrounding transaction (if any) commits. */
  notify(channel: string, payload: string): Promise<void>;
  /** Closes every connection (and listener). The client is unusable afterwards. */
  close(): Promise<void>;
  /**
   * When a statement last came back from the database (success or SQL error: either is a round
   * trip), in `Date.now()` milliseconds; undefined before the first. `/healthz` uses it to tell a
   * wedged process (see `src/server/health.ts`). Optional: clients that cannot tell omit it.
   */
  lastRoundTripAt?(): number | undefined;
  /**
   * Holds the session-level advisory lock `(namespace, hashtext(name))` on a connection of its
   * own (on `pg`, the dedicated connection LISTEN uses; on PGlite, its one connection) until
   * released. It is taken now and again after every reconnect, so it lives exactly as long as
   * this process's connection does: when the process dies, the database drops the connection and
   * the lock with it, and every other session sees that in `pg_locks` at once. Resolves after the
   * first attempt, held or not (database down, or the key held by another session). Optional:
   * a client that cannot hold a session (one bound to a transaction) omits it.
   */
  holdSessionLock?(key: SessionLockKey): Promise<SessionLockHold>;
}

/** The key of a session-level advisory lock: its two-int4 form, the second `hashtext(name)`. */
export interface SessionLockKey {
  namespace: number;
  name: string;
}

/** A session-level lock kept by `SqlClient.holdSessionLock`. */
export interface SessionLockHold {
  /** True while the lock's connection is up and the lock is this process's. */
  isHeld(): boolean;
  /** Unlocks it (and closes the dedicated connection if nothing else needs it). Idempotent. */
  release(): Promise<void>;
}

/** The two statements of a session lock; `$1` the namespace, `$2` the name. */
export const SESSION_LOCK_SQL = {
  acquire: 'SELECT pg_try_advisory_lock($1::int4, hashtext($2::text)) AS held',
  release: 'SELECT pg_advisory_unlock($1::int4, hashtext($2::text))',
} as const;

/** Node socket errors that mean "the database is not reachable right now". */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  // SQLSTATEs: the server is shutting down, crashed, starting, or out of connection slots.
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

/** Messages `pg` and `pg-pool` use for connection failures that carry no code. */
const CONNECTION_ERROR_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Connection closed',
  'connect ECONNREFUSED',
  // pg's client-side `query_timeout`: the database did not answer in time (a silent connection).
  'Query read timeout',
];

/**
 * True when an error means the database could not be reached or the connection dropped, as
 * opposed to an error in the statement itself. Looks through `cause` and AggregateError
 * (Node's happy-eyeballs connect reports one per address).
 */
export function isConnectionError(error: unknown, depth = 0): boolean {
  if (depth > 4 || typeof error !== 'object' || error === null) return false;
  const { code, message, cause, errors } = error as {
    code?: unknown;
    message?: unknown;
    cause?: unknown;
    errors?: unknown;
  };
  if (typeof code === 'string' && (CONNECTION_ERROR_CODES.has(code) || code.startsWith('08'))) return true;
  if (typeof message === 'string' && CONNECTION_ERROR_MESSAGES.some((known) => message.includes(known)))
    return true;
  if (Array.isArray(errors) && errors.some((inner) => isConnectionError(inner, depth + 1))) return true;
  return isConnectionError(cause, depth + 1);
}

/**
 * Turns a connection-level failure into `DatabaseUnavailableError`; returns anything else
 * unchanged so SQL errors keep their driver `code` (e.g. `23505` unique violation).
 */
export function toDatabaseError(error: unknown): unknown {
  if (error instanceof DatabaseUnavailableError || !isConnectionError(error)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new DatabaseUnavailableError(`Database unavailable: ${reason || 'connection failed'}`, error);
}
