import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { CustomTypesConfig, PoolClient, PoolConfig } from 'pg';
import { silentLogger } from '../util/logger.js';
import type { Logger } from '../util/logger.js';
import { isConnectionError, toDatabaseError } from './sql-client.js';
import { SESSION_LOCK_SQL } from './sql-client.js';
import type { SessionLockHold, SessionLockKey, SqlClient, SqlExecutor, SqlResult } from './sql-client.js';

/** Options of `createPgClient`. */
export interface PgClientOptions {
  /** `postgres://user:password@host:port/database` (the usual `DATABASE_URL`). */
  connectionString: string;
  /** Pool size (default 10). LISTEN and held session locks use one more, dedicated connection. */
  max?: number;
  /** How long to wait for a connection, from the server or the pool, before failing (default 10 s). */
  connectionTimeoutMillis?: number;
  /**
   * Client-side limit on one statement, from sending it to its answer (default 15 s, a few times
   * the default 5 s lease; 0 turns it off). A connection that stops answering without a reset
   * (failover behind a load balancer or NAT, a stalled pooler, half-open TCP) fails its statement
   * with `DatabaseUnavailableError` after this long, and is destroyed and replaced rather than
   * returned to the pool. Keep it above your slowest legitimate statement.
   */
  queryTimeoutMs?: number;
  /** Idle time before the OS sends TCP keepalive probes on each connection (default 10 s). */
  keepAliveInitialDelayMs?: number;
  /**
   * How often the LISTEN connection is checked with `SELECT 1` (default 10 s): a silently dead
   * socket never reports an error, so without the check notifications would stop for good.
   */
  listenCheckMs?: number;
  /** How long an idle pooled connection stays open (default 30 s). */
  idleTimeoutMillis?: number;
  /** Shown in `pg_stat_activity` (default `keel`). */
  applicationName?: string;
  /** Backoff of the LISTEN connection after it drops: first delay, then doubling up to the cap. */
  reconnectDelayMs?: { initial?: number; max?: number };
  /** Where dropped connections and reconnects are reported (default: silent). */
  logger?: Logger;
}

const INT8_OID = 20;
const INT8_ARRAY_OID = 1016;

/** int8 as a number while exact, like PGlite does; a bigint beyond 2^53 rather than a wrong number. */
function parseInt8(value: string): number | bigint {
  const parsed = Number(value);
  return Number.isSafeInteger(parsed) ? parsed : BigInt(value);
}

/** pg's own lookup, typed loosely: its typings list only some type ids, not array types. */
const defaultTypeParser = pg.types.getTypeParser as (
  oid: number,
  format: 'text' | 'binary',
) => (value: string) => unknown;
const parseInt8Array = defaultTypeParser(INT8_ARRAY_OID, 'text') as (value: string) => (string | null)[];

/** Per-client parsers, so Keel never patches the global `pg.types` other code may rely on. */
const typeParsers = {
  getTypeParser(oid: number, format: 'text' | 'binary' = 'text') {
    if (oid === INT8_OID) return parseInt8;
    if (oid === INT8_ARRAY_OID) {
      return (value: string) => parseInt8Array(value).map((item) => (item === null ? null : parseInt8(item)));
    }
    return defaultTypeParser(oid, format);
  },
} as CustomTypesConfig;

/**
 * A `SqlClient` over a `pg` Pool: any number of processes on any number of machines share the
 * database. Dropped connections never crash the process: idle pooled connections and the LISTEN
 * connection report through `logger`; a connection that breaks during a transaction is destroyed
 * rather than returned to the pool. A connection that goes silent (no answer, no reset) fails its
 * statement after `queryTimeoutMs` and the pool is replaced (see `replacePool`); every statement
 * answered, even with an SQL error, is recorded for `lastRoundTripAt`. The LISTEN connection is
 * checked every `listenCheckMs` and reconnects with exponential backoff (with jitter) for as long
 * as someone is subscribed, and re-subscribes every channel, so a worker that loses the database
 * keeps going when it returns.
 */
export function createPgClient({
  connectionString,
  max = 10,
  connectionTimeoutMillis = 10_000,
  queryTimeoutMs = DEFAULT_QUERY_TIMEOUT_MS,
  keepAliveInitialDelayMs = 10_000,
  listenCheckMs = 10_000,
  idleTimeoutMillis = 30_000,
  applicationName = 'keel',
  reconnectDelayMs = {},
  logger = silentLogger,
}: PgClientOptions): SqlClient {
  const connectionConfig = createPgConnectionConfig({
    connectionString,
    connectionTimeoutMillis,
    queryTimeoutMs,
    keepAliveInitialDelayMs,
    applicationName,
  });
  let lastRoundTripAt: number | undefined;
  const createPool = () => {
    const created = new pg.Pool({ ...connectionConfig, max, idleTimeoutMillis });
    // pg emits 'error' on idle clients whose connection drops; unhandled, that kills the process.
    created.on('error', (error) => logger.warn('idle database connection lost', { error: error.message }));
    return created;
  };
  let pool = createPool();
  const retiredPools = new Set<Promise<void>>();
  let closing = false;

  /**
   * A statement timed out: its connection is destroyed, and the pool's idle connections, opened
   * before the same failover, are most likely dead too. Waiting out one timeout per idle
   * connection would keep the process stuck that many times over, so the pool is replaced at once:
   * new statements open new connections, the old pool ends as its statements finish.
   */
  let lastReplacedAt: number | undefined;
  function replacePool(failed: pg.Pool, error: unknown): void {
    if (failed !== pool || closing) return; // already replaced, or the client is closing
    pool = createPool();
    // Once per episode: a blackhole times out a statement every queryTimeoutMs until it ends.
    if (lastReplacedAt === undefined || (lastRoundTripAt ?? 0) > lastReplacedAt) {
      logger.warn('database statement timed out; replacing every pooled connection', {
        error: (error as Error).message,
        queryTimeoutMs,
      });
    }
    lastReplacedAt = Date.now();
    const ended = failed
      .end()
      .catch(() => {})
      .finally(() => retiredPools.delete(ended));
    retiredPools.add(ended);
  }

  const executorOf = (target: pg.Pool | PoolClient, owner: pg.Pool): SqlExecutor => ({
    async query<Row>(sql: string, params: readonly unknown[] = []): Promise<SqlResult<Row>> {
      try {
        const name = params.length > 0 ? statementName(sql) : undefined;
        const result = await target.query(
          name === undefined
            ? { text: sql, values: params as unknown[] }
            : { name, text: sql, values: params as unknown[] },
        );
        lastRoundTripAt = Date.now();
        return { rows: result.rows as Row[], rowCount: result.rowCount ?? result.rows.length };
      } catch (error) {
        if (isRoundTrip(error)) lastRoundTripAt = Date.now();
        else if (isQueryTimeout(error)) replacePool(owner, error);
        throw toDatabaseError(error);
      }
    },
    async exec(sql: string): Promise<void> {
      try {
        // Without parameters pg uses the simple protocol, which accepts several statements.
        await target.query(sql);
        lastRoundTripAt = Date.now();
      } catch (error) {
        if (isRoundTrip(error)) lastRoundTripAt = Date.now();
        else if (isQueryTimeout(error)) replacePool(owner, error);
        throw toDatabaseError(error);
      }
    },
  });
  const executor: SqlExecutor = {
    query: (sql, params) => executorOf(pool, pool).query(sql, params),
    exec: (sql) => executorOf(pool, pool).exec(sql),
  };

  async function transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    let connection: PoolClient;
    const owner = pool;
    try {
      connection = await owner.connect();
    } catch (error) {
      throw toDatabaseError(error);
    }
    // A checked-out client has no pool listener: without ours, a drop mid-transaction would crash.
    let connectionError: Error | undefined;
    const onError = (error: Error) => {
      connectionError = error;
    };
    connection.on('error', onError);
    const tx = executorOf(connection, owner);
    let destroy = false;
    try {
      await tx.query('BEGIN');
      const result = await fn(tx);
      await tx.query('COMMIT');
      return result;
    } catch (error) {
      try {
        // A statement that timed out leaves the connection waiting for an answer that may never
        // come: ROLLBACK would wait as long again. Destroying it rolls back on the server.
        if (connectionError === undefined && !isConnectionError(error)) await connection.query('ROLLBACK');
        else destroy = true;
      } catch {
        destroy = true;
      }
      throw error;
    } finally {
      connection.removeListener('error', onError);
      connection.release(destroy || connectionError !== undefined);
    }
  }

  const notifications = createListenConnection({
    connectionConfig,
    reconnectDelayMs,
    listenCheckMs,
    lingerMs: idleTimeoutMillis,
    logger,
  });

  return {
    dialect: 'postgres',
    query: executor.query,
    exec: executor.exec,
    transaction,
    listen: notifications.listen,
    holdSessionLock: notifications.holdSessionLock,
    async notify(channel, payload) {
      await executor.query('SELECT pg_notify($1, $2)', [channel, payload]);
    },
    async close() {
      closing = true;
      await notifications.close();
      // Connections of a replaced pool may be silent for good: give them a moment, not forever.
      const retired = Promise.all(retiredPools);
      await Promise.all([pool.end(), Promise.race([retired, sleep(1_000, undefined, { ref: false })])]);
    },
    lastRoundTripAt: () => lastRoundTripAt,
  };
}

/**
 * The settings every connection of a client gets, pooled or LISTEN: connect timeout, client-side
 * statement timeout, TCP keepalive after `keepAliveInitialDelayMs` (Node sets the idle time; the
 * probe interval and count stay the OS's), and Keel's type parsers.
 */
export function createPgConnectionConfig({
  connectionString,
  connectionTimeoutMillis = 10_000,
  queryTimeoutMs = DEFAULT_QUERY_TIMEOUT_MS,
  keepAliveInitialDelayMs = 10_000,
  applicationName = 'keel',
}: Pick<
  PgClientOptions,
  | 'connectionString'
  | 'connectionTimeoutMillis'
  | 'queryTimeoutMs'
  | 'keepAliveInitialDelayMs'
  | 'applicationName'
>): PoolConfig {
  return {
    connectionString,
    connectionTimeoutMillis,
    application_name: applicationName,
    keepAlive: true,
    keepAliveInitialDelayMillis: keepAliveInitialDelayMs,
    ...(queryTimeoutMs > 0 ? { query_timeout: queryTimeoutMs } : {}),
    types: typeParsers,
  };
}

/** Default `queryTimeoutMs`: three times the default lease (5 s). */
export const DEFAULT_QUERY_TIMEOUT_MS = 15_000;

function isQueryTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Query read timeout';
}

/**
 * An error that is an answer: the server answered the statement (or refused the connection,
 * e.g. `57P03` while it starts), or the network answered at once (connection refused, no such
 * host). The process is not wedged then, only the database is down, and restarting the process
 * would not help; only silence (a timeout) is not an answer.
 */
function isRoundTrip(error: unknown): boolean {
  if (typeof (error as { severity?: unknown }).severity === 'string') return true;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && ANSWERED_AT_ONCE.has(code);
}

/** Socket errors that come back at once from the network (not after waiting out a silence). */
const ANSWERED_AT_ONCE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * The one dedicated connection of a client, for LISTEN and held session locks. It is opened by
 * the first subscription or lock, and reopened with backoff whenever it drops while in use; locks
 * are taken again on the new connection (until then, and whenever another session holds the key,
 * `isHeld()` is false and the check retries them). After the last subscription ends it stays open
 * `lingerMs` (the pool's idle time), still listening, so a process that subscribes and
 * unsubscribes per run (`runAgent`'s worker) neither opens a connection nor sends LISTEN for each
 * run; it closes `lingerMs` after neither a subscription nor a lock uses it.
 */
function createListenConnection({
  connectionConfig,
  reconnectDelayMs: { initial = 100, max = 5_000 },
  listenCheckMs,
  lingerMs,
  logger,
}: {
  connectionConfig: PoolConfig;
  reconnectDelayMs: { initial?: number; max?: number };
  listenCheckMs: number;
  lingerMs: number;
  logger: Logger;
}) {
  const subscribers = new Map<string, Set<(payload: string) => void>>();
  const locks = new Set<{ key: SessionLockKey; held: boolean; taking: boolean }>();
  const inUse = () => subscribers.size > 0 || locks.size > 0;
  let connection: pg.Client | undefined;
  /** Channels the current connection LISTENs to (lingering ones included). */
  let listened = new Set<string>();
  let lingerTimer: NodeJS.Timeout | undefined;
  let connecting: Promise<void> | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let failedAttempts = 0;
  let closed = false;
  let checkTimer: NodeJS.Timeout | undefined;

  /**
   * A silently dead socket never emits 'error': ask it something now and then. The statement
   * fails by the query timeout (or a socket error) and the connection is dropped and reopened.
   */
  function scheduleCheck(client: pg.Client): void {
    if (listenCheckMs <= 0) return;
    checkTimer = setTimeout(() => {
      checkTimer = undefined;
      if (connection !== client) return;
      client.query('SELECT 1').then(
        async () => {
          await takeLocks(client).catch(() => {});
          if (connection === client) scheduleCheck(client);
        },
        (error: unknown) => client.emit('error', error instanceof Error ? error : new Error(String(error))),
      );
    }, listenCheckMs);
    checkTimer.unref();
  }

  /**
   * Takes the locks not held yet on `client`, one attempt at a time per lock: the lock is
   * reentrant, and taken twice it would outlive one unlock.
   */
  async function takeLocks(client: pg.Client): Promise<void> {
    for (const lock of locks) {
      if (lock.held || lock.taking) continue;
      lock.taking = true;
      try {
        const result = await client.query<{ held: boolean }>(SESSION_LOCK_SQL.acquire, [
          lock.key.namespace,
          lock.key.name,
        ]);
        lock.held = result.rows[0]?.held === true && connection === client;
        // Released while it was being taken: give it back.
        if (lock.held && !locks.has(lock)) {
          lock.held = false;
          await client.query(SESSION_LOCK_SQL.release, [lock.key.namespace, lock.key.name]);
        }
      } finally {
        lock.taking = false;
      }
    }
  }

  async function connect(): Promise<void> {
    const client = new pg.Client(connectionConfig);
    const dropped = (error?: Error) => {
      if (connection !== client && connection !== undefined) return;
      if (connection === client) {
        connection = undefined;
        for (const lock of locks) lock.held = false;
      }
      client.removeAllListeners('end');
      client.end().catch(() => {});
      if (error) logger.warn('LISTEN connection lost; reconnecting', { error: error.message });
      scheduleReconnect();
    };
    client.on('error', dropped);
    client.on('end', () => dropped(new Error('connection ended')));
    client.on('notification', ({ channel, payload }) => {
      for (const onNotify of subscribers.get(channel) ?? []) {
        try {
          onNotify(payload ?? '');
        } catch (error) {
          logger.error('notification listener threw', { channel, error: (error as Error).message });
        }
      }
    });
    const channels = new Set<string>();
    try {
      await client.connect();
      for (const channel of subscribers.keys()) {
        await client.query(`LISTEN ${quoteIdentifier(channel)}`);
        channels.add(channel);
      }
    } catch (error) {
      client.removeAllListeners('end');
      client.on('error', () => {});
      await client.end().catch(() => {});
      throw toDatabaseError(error);
    }
    if (closed || !inUse()) {
      client.removeAllListeners('end');
      await client.end().catch(() => {});
      return;
    }
    connection = client;
    listened = channels;
    failedAttempts = 0;
    try {
      await takeLocks(client);
    } catch (error) {
      client.emit('error', error instanceof Error ? error : new Error(String(error)));
      throw toDatabaseError(error);
    }
    scheduleCheck(client);
  }

  function ensureConnected(): Promise<void> {
    connecting ??= connect().finally(() => {
      connecting = undefined;
    });
    return connecting;
  }

  function scheduleReconnect(): void {
    if (closed || !inUse() || reconnectTimer !== undefined || connecting !== undefined) return;
    // Full jitter keeps a fleet of workers from reconnecting in lockstep after an outage.
    const delay = Math.random() * Math.min(max, initial * 2 ** failedAttempts);
    failedAttempts++;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      ensureConnected().then(
        () =>
          logger.info('LISTEN connection restored', {
            channels: [...subscribers.keys()],
            locksHeld: [...locks].filter((lock) => lock.held).length,
          }),
        (error: unknown) => {
          logger.warn('LISTEN reconnect failed', {
            error: (error as Error).message,
            attempt: failedAttempts,
          });
          scheduleReconnect();
        },
      );
    }, delay);
    // The reconnect loop alone must not keep a process alive that is otherwise done.
    reconnectTimer.unref();
  }

  async function listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    if (closed) throw new Error('The database client is closed.');
    const existing = subscribers.get(channel);
    const callbacks = existing ?? new Set<(payload: string) => void>();
    callbacks.add(onNotify);
    subscribers.set(channel, callbacks);
    const unsubscribe = () => unlisten(channel, onNotify);
    clearTimeout(lingerTimer);
    lingerTimer = undefined;

    if (reconnectTimer !== undefined) return unsubscribe; // subscribed when the reconnect succeeds
    try {
      if (connection === undefined) await ensureConnected();
      // A connection opened just before this channel was added does not listen to it yet; one
      // lingering from an earlier subscription already does.
      const current = connection;
      if (current !== undefined && !listened.has(channel)) {
        await current.query(`LISTEN ${quoteIdentifier(channel)}`);
        if (connection === current) listened.add(channel);
      }
    } catch (error) {
      // Database down (at start or meanwhile): keep the subscription and retry in the background
      // rather than leave a worker on polling alone for the rest of its life.
      logger.warn('LISTEN connection unavailable; retrying in the background', {
        error: (error as Error).message,
      });
      scheduleReconnect();
    }
    return unsubscribe;
  }

  /**
   * Keeps the connection open `lingerMs` once nothing uses it, still listening: the next
   * subscription or lock (the next `runAgent`'s worker) costs neither a connection nor a LISTEN.
   */
  function linger(): void {
    clearTimeout(lingerTimer);
    lingerTimer = setTimeout(() => {
      lingerTimer = undefined;
      if (!inUse()) void stop();
    }, lingerMs);
    lingerTimer.unref();
  }

  async function unlisten(channel: string, onNotify: (payload: string) => void): Promise<void> {
    const callbacks = subscribers.get(channel);
    if (!callbacks?.delete(onNotify) || callbacks.size > 0) return;
    subscribers.delete(channel);
    const client = connection;
    if (subscribers.size === 0) {
      if (!inUse()) linger();
    } else if (client !== undefined) {
      listened.delete(channel);
      await client.query(`UNLISTEN ${quoteIdentifier(channel)}`).catch(() => {});
    }
  }

  async function holdSessionLock(key: SessionLockKey): Promise<SessionLockHold> {
    if (closed) throw new Error('The database client is closed.');
    const lock = { key: { ...key }, held: false, taking: false };
    locks.add(lock);
    clearTimeout(lingerTimer);
    lingerTimer = undefined;
    const hold: SessionLockHold = {
      isHeld: () => lock.held,
      async release() {
        if (!locks.delete(lock)) return;
        const client = connection;
        if (lock.held && client !== undefined)
          await client.query(SESSION_LOCK_SQL.release, [key.namespace, key.name]).catch(() => {});
        lock.held = false;
        if (!inUse()) linger();
      },
    };
    if (reconnectTimer !== undefined) return hold; // taken when the reconnect succeeds
    try {
      if (connection === undefined) await ensureConnected();
      // A connection opened just before this lock was added did not take it.
      else await takeLocks(connection);
    } catch (error) {
      logger.warn('lock connection unavailable; retrying in the background', {
        error: (error as Error).message,
      });
      scheduleReconnect();
    }
    return hold;
  }

  async function stop(): Promise<void> {
    clearTimeout(lingerTimer);
    lingerTimer = undefined;
    clearTimeout(reconnectTimer);
    reconnectTimer = undefined;
    clearTimeout(checkTimer);
    checkTimer = undefined;
    const client = connection;
    connection = undefined;
    listened = new Set();
    if (client !== undefined) {
      client.removeAllListeners('end');
      client.on('error', () => {});
      await client.end().catch(() => {});
    }
  }

  return {
    listen,
    holdSessionLock,
    async close() {
      closed = true;
      subscribers.clear();
      locks.clear();
      await connecting?.catch(() => {});
      await stop();
    },
  };
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

const PREPARED_NAMES = new Map<string, string>();
const MAX_PREPARED = 500;

/**
 * A stable name for a parameterized statement, so each connection parses and plans it once and
 * then only binds and executes (measured here: a journal append drops from ~0.78 ms to ~0.48 ms).
 * Keel's statements are a small fixed set; past `MAX_PREPARED` distinct texts, statements run
 * unnamed rather than grow the per-connection cache without bound.
 */
function statementName(sql: string): string | undefined {
  let name = PREPARED_NAMES.get(sql);
  if (name === undefined) {
    if (PREPARED_NAMES.size >= MAX_PREPARED) return undefined;
    name = `keel_${createHash('sha256').update(sql).digest('hex').slice(0, 20)}`;
    PREPARED_NAMES.set(sql, name);
  }
  return name;
}
