import type { SessionLockKey } from './sql-client.js';

/**
 * Worker liveness: how a claim tells a worker that died from one that stalled.
 *
 * Each worker holds a session-level advisory lock, `(LIVENESS_LOCK_NAMESPACE, hashtext(owner))`,
 * on a dedicated connection (`SqlClient.holdSessionLock`) for as long as it runs. When its
 * process dies, the operating system closes its sockets, Postgres ends the session, and the
 * lock is gone from `pg_locks` within milliseconds; the claim query then treats the worker's
 * running runs as claimable at once (`OWNER_GONE_SQL`), without waiting for their lease. A worker
 * that is alive but stalled (GC pause, SIGSTOP, frozen VM) or cut off by a partition keeps its
 * connection, or the database keeps it until TCP gives up, so its lock stays and only the lease
 * recovers its runs, as before. Fencing is the same on both paths: the claim bumps the fence,
 * and the old holder's writes are refused.
 *
 * A wrong "alive" (two owners whose names hash alike, one in 2^32 per pair) costs only speed:
 * the lease still recovers the run. A wrong "gone" (the dedicated connection dropped while the
 * process lives) costs the worker its runs, which fencing makes safe.
 */

/** The first key of every liveness lock (`keel` in ASCII), apart from other advisory locks. */
export const LIVENESS_LOCK_NAMESPACE = 0x6b65656c;

/** The liveness lock of a lease owner. */
export function livenessLockKey(owner: string): SessionLockKey {
  return { namespace: LIVENESS_LOCK_NAMESPACE, name: owner };
}

/**
 * True (in SQL) when the run row's lease owner took the run holding its liveness lock and holds
 * it no more. Uncorrelated against `pg_locks`, so Postgres reads the lock table once per
 * statement (a hashed subplan), however many runs are running.
 */
export const OWNER_GONE_SQL = `(lease_liveness AND hashtext(lease_owner)::oid NOT IN (
  SELECT objid FROM pg_locks
  WHERE locktype = 'advisory' AND classid = ${LIVENESS_LOCK_NAMESPACE} AND objsubid = 2 AND granted
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())))`;
