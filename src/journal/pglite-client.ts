import { linkSync, readFileSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { KeelError } from '../errors/keel-error.js';
import type { Logger } from '../util/logger.js';
import { ensurePrivateDirectory, writePrivateFile } from '../util/private-files.js';
import { currentProcessIdentity, holderState } from '../util/process-identity.js';
import { SESSION_LOCK_SQL } from './sql-client.js';
import type { SqlClient, SqlExecutor, SqlResult } from './sql-client.js';

/** Options of `createPgliteClient`. */
export interface PgliteClientOptions {
  /**
   * Directory of the database files; created on first use. `undefined` or `memory://` keeps the
   * database in memory (tests). One process at a time: see `createPgliteClient`.
   */
  dataDir?: string;
  /** Where taking over a stale lock of the data directory is logged (one line). */
  logger?: Logger;
}

const IN_MEMORY = 'memory://';

/**
 * A `SqlClient` over PGlite, Postgres compiled to WASM and run inside this process. PGlite is a
 * single connection: it serializes queries and transactions itself, so "concurrent" callers
 * simply queue (SKIP LOCKED and advisory locks are trivially satisfied).
 *
 * A data directory belongs to one process. PGlite itself does not lock it, and two processes
 * writing the same files corrupt the database silently, so Keel takes a lock file
 * `<dataDir>.lock` (holding the pid, its start time and the host) and throws `KeelError` with code
 * `data_dir_in_use` when a live process holds it. A lock left by a process that is gone, or whose
 * PID now belongs to another process (another start time), is taken over. Several processes that
 * must share a database need Postgres (`DATABASE_URL`). The data directory is made 0700 (also
 * when it existed) and the lock file 0600, whatever the umask: the files hold every run's data.
 */
export async function createPgliteClient({ dataDir, logger }: PgliteClientOptions = {}): Promise<SqlClient> {
  const inMemory = dataDir === undefined || dataDir === IN_MEMORY;
  const directory = inMemory ? undefined : resolve(dataDir);
  const releaseLock = directory === undefined ? () => {} : acquireDataDirLock(directory, logger);
  let database: PGlite;
  try {
    if (directory !== undefined) ensurePrivateDirectory(directory, { restrict: true });
    database = await PGlite.create(directory ?? IN_MEMORY);
  } catch (error) {
    releaseLock();
    throw error;
  }

  // In-process, so it never goes silent through a network; it can still stop answering (a
  // runaway statement or transaction holds the one connection), which `/healthz` reports.
  let lastRoundTripAt: number | undefined;
  const executorOf = (target: Pick<PGlite, 'query' | 'exec'>): SqlExecutor => ({
    async query<Row>(sql: string, params: readonly unknown[] = []): Promise<SqlResult<Row>> {
      try {
        const result = await target.query<Row>(sql, [...params]);
        return { rows: result.rows, rowCount: result.rowCount ?? result.affectedRows ?? result.rows.length };
      } finally {
        lastRoundTripAt = Date.now(); // an SQL error is an answer too
      }
    },
    async exec(sql: string): Promise<void> {
      try {
        await target.exec(sql);
      } finally {
        lastRoundTripAt = Date.now();
      }
    },
  });
  const executor = executorOf(database);

  return {
    dialect: 'pglite',
    query: executor.query,
    exec: executor.exec,
    transaction: (fn) => database.transaction((tx) => fn(executorOf(tx))),
    async listen(channel, onNotify) {
      const unlisten = await database.listen(channel, onNotify);
      return async () => {
        if (!database.closed) await unlisten();
      };
    },
    async notify(channel, payload) {
      await database.query('SELECT pg_notify($1, $2)', [channel, payload]);
    },
    // One connection, one process: the lock lives as long as this database instance, so a
    // process that opens the directory after the owner died finds none of the dead one's locks.
    async holdSessionLock({ namespace, name }) {
      const params = [namespace, name];
      const acquired = await executor.query<{ held: boolean }>(SESSION_LOCK_SQL.acquire, params);
      let held = acquired.rows[0]?.held === true;
      return {
        isHeld: () => held && !database.closed,
        async release() {
          if (!held) return;
          held = false;
          if (!database.closed) await executor.query(SESSION_LOCK_SQL.release, params);
        },
      };
    },
    async close() {
      try {
        if (!database.closed) await database.close();
      } finally {
        releaseLock();
      }
    },
    lastRoundTripAt: () => lastRoundTripAt,
  };
}

interface LockHolder {
  pid: number;
  hostname: string;
  /** Absent in locks written before start times were recorded, or where it cannot be read. */
  startTime?: string;
}

/**
 * Takes `<directory>.lock` or throws `data_dir_in_use`. A lock whose process is gone (crash,
 * SIGKILL), or whose PID another process got since, is stale and taken over, with one log line.
 * Known gap: two processes taking over the same stale lock
 * at the same instant can both succeed; starting two processes on one directory is already a
 * misconfiguration, this only narrows how it can go unnoticed.
 */
function acquireDataDirLock(directory: string, logger: Logger | undefined): () => void {
  const lockPath = `${directory}.lock`;
  ensurePrivateDirectory(dirname(lockPath));
  const self: LockHolder = { ...currentProcessIdentity(), hostname: hostname() };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreateLockFile(lockPath, self)) return () => releaseDataDirLock(lockPath, self);
    const holder = readLockHolder(lockPath);
    const state = holder === undefined || holder.hostname !== self.hostname ? undefined : holderState(holder);
    if (holder && (holder.hostname !== self.hostname || state === 'alive')) {
      throw new KeelError({
        code: 'data_dir_in_use',
        message:
          `The PGlite data directory ${directory} is in use by process ${holder.pid} on ${holder.hostname} ` +
          `(lock file ${lockPath}). PGlite serves one process; stop the other process, or use Postgres ` +
          `(DATABASE_URL) to share a database between processes.`,
        fault: 'system',
        details: { dataDir: directory, lockPath, pid: holder.pid, hostname: holder.hostname },
      });
    }
    // Stale (its process died, or its PID is another process's now) or unreadable: take it over.
    logger?.warn('taking over a stale PGlite data directory lock', {
      lock: lockPath,
      pid: holder?.pid,
      reason:
        state === 'dead'
          ? 'its process is gone'
          : state === 'pid-reused'
            ? 'its PID now belongs to another process'
            : 'unreadable',
    });
    try {
      unlinkSync(lockPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  throw new KeelError({
    code: 'data_dir_in_use',
    message: `Could not take the lock file ${lockPath} of the PGlite data directory ${directory}.`,
    fault: 'system',
    details: { dataDir: directory, lockPath },
  });
}

/**
 * Creates the lock file with its content in one step: written to a private file first, then
 * hard-linked into place, which fails atomically when the lock exists. Readers never see a
 * half-written lock.
 */
function tryCreateLockFile(lockPath: string, self: LockHolder): boolean {
  const privatePath = `${lockPath}.${self.pid}.${Date.now()}`;
  writePrivateFile(privatePath, JSON.stringify(self), 'wx');
  try {
    linkSync(privatePath, lockPath);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(privatePath);
  }
}

function releaseDataDirLock(lockPath: string, self: LockHolder): void {
  // Only remove our own lock: after a takeover race the file may belong to someone else.
  const holder = readLockHolder(lockPath);
  if (holder?.pid !== self.pid || holder.hostname !== self.hostname) return;
  try {
    unlinkSync(lockPath);
  } catch {
    // Already gone; nothing to release.
  }
}

function readLockHolder(lockPath: string): LockHolder | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(lockPath, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const { pid, hostname: host, startTime } = parsed as Partial<LockHolder>;
    if (typeof pid !== 'number' || typeof host !== 'string') return undefined;
    return typeof startTime === 'string' ? { pid, hostname: host, startTime } : { pid, hostname: host };
  } catch {
    return undefined;
  }
}
