import { closeSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { KeelError } from '../errors/keel-error.js';
import type { SqlClient, SqlExecutor, SqlResult } from './sql-client.js';

/** Options of `createPgliteClient`. */
export interface PgliteClientOptions {
  /**
   * Directory of the database files; created on first use. `undefined` or `memory://` keeps the
   * database in memory (tests). One process at a time: see `createPgliteClient`.
   */
  dataDir?: string;
}

const IN_MEMORY = 'memory://';

/**
 * A `SqlClient` over PGlite, Postgres compiled to WASM and run inside this process. PGlite is a
 * single connection: it serializes queries and transactions itself, so "concurrent" callers
 * simply queue (SKIP LOCKED and advisory locks are trivially satisfied).
 *
 * A data directory belongs to one process. PGlite itself does not lock it, and two processes
 * writing the same files corrupt the database silently, so Keel takes a lock file
 * `<dataDir>.lock` (holding the pid) and throws `KeelError` with code `data_dir_in_use` when a
 * live process holds it. A lock left by a crashed process is taken over. Several processes that
 * must share a database need Postgres (`DATABASE_URL`).
 */
export async function createPgliteClient({ dataDir }: PgliteClientOptions = {}): Promise<SqlClient> {
  const inMemory = dataDir === undefined || dataDir === IN_MEMORY;
  const directory = inMemory ? undefined : resolve(dataDir);
  const releaseLock = directory === undefined ? () => {} : acquireDataDirLock(directory);
  let database: PGlite;
  try {
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
}

/**
 * Takes `<directory>.lock` or throws `data_dir_in_use`. A lock whose process is gone (crash,
 * SIGKILL) is stale and taken over. Known gap: two processes taking over the same stale lock
 * at the same instant can both succeed; starting two processes on one directory is already a
 * misconfiguration, this only narrows how it can go unnoticed.
 */
function acquireDataDirLock(directory: string): () => void {
  const lockPath = `${directory}.lock`;
  mkdirSync(dirname(lockPath), { recursive: true });
  const self: LockHolder = { pid: process.pid, hostname: hostname() };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreateLockFile(lockPath, self)) return () => releaseDataDirLock(lockPath, self);
    const holder = readLockHolder(lockPath);
    if (holder && (holder.hostname !== self.hostname || isProcessAlive(holder.pid))) {
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
    // Stale (its process died) or unreadable (not written by Keel): take it over.
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
  const descriptor = openSync(privatePath, 'wx');
  try {
    writeSync(descriptor, JSON.stringify(self));
  } finally {
    closeSync(descriptor);
  }
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
    const { pid, hostname: host } = parsed as Partial<LockHolder>;
    return typeof pid === 'number' && typeof host === 'string' ? { pid, hostname: host } : undefined;
  } catch {
    return undefined;
  }
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
