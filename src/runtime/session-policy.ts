import { SessionBusyError } from '../errors/session-errors.js';
import type { JournalStore } from '../journal/store.js';
import type { SqlClient } from '../journal/sql-client.js';
import { bindClientToTransaction } from '../journal/transaction-client.js';
import type { NewRun, RunRecord } from '../journal/types.js';

/**
 * What to do with a new message for a session whose previous message is still being answered
 * ("double texting"):
 * - `queue` (default): accept it; it runs once the active runs of the session have ended.
 * - `reject`: refuse it with `SessionBusyError` (`session_busy`, HTTP 409).
 * - `interrupt`: cancel the active runs, then accept it; it runs once they have stopped.
 */
export const SESSION_POLICIES = ['queue', 'reject', 'interrupt'] as const;
export type SessionPolicy = (typeof SESSION_POLICIES)[number];

/** What `submitSessionRun` uses of a journal store. */
export type SessionStore = Pick<
  JournalStore,
  'createRun' | 'getSession' | 'requestCancel' | 'findRunByIdempotencyKey' | 'withClient'
>;

/** What `submitSessionRun` did. */
export interface SessionSubmission {
  run: RunRecord;
  /** False when an idempotency key gave back an earlier run. */
  created: boolean;
  /**
   * Runs the `interrupt` policy ended at once (they held no worker), as their finished rows: the
   * caller reports them (telemetry) once the submission has committed. Running runs it
   * interrupted are not here: they end in their workers.
   */
  cancelled: RunRecord[];
}

/**
 * Creates `run` under a session policy. Ordering never depends on the policy: the claim query
 * holds a session's queued run until the earlier ones end, so `queue` only has to create it and
 * `interrupt` only to cancel before creating. Without a `sessionId` the policy does not apply.
 *
 * Under `reject` and `interrupt`, the check (or cancel) and the create are atomic per (tenant,
 * session): they run while holding a lock on that pair, so of N messages sent at the same
 * instant to an idle session exactly one is accepted under `reject`. The lock is:
 * - always an in-process one (calls in this process wait for each other);
 * - also, when `client` is a Postgres one, a Postgres advisory lock
 *   (`pg_advisory_xact_lock(hashtextextended(tenant || ':' || session, 0))`) taken in a
 *   transaction on `client`, which serializes replicas sharing the database. The session check,
 *   the cancels and the create then run in that same transaction, on its one connection,
 *   through the same store bound to it (`store.withClient`): a locked section holds one pooled
 *   connection and needs no other, so a burst of submissions to many sessions only queues for
 *   the pool, however small, and never deadlocks it (each waiting for a second connection while
 *   holding one). The run and the cancels commit together with the lock's release (their
 *   notifications go out then).
 *
 * On PGlite (one connection, one process) there is no advisory lock: the in-process lock
 * already covers it, and the statements run on the store as given.
 */
export async function submitSessionRun({
  store,
  run,
  policy = 'queue',
  client,
}: {
  store: SessionStore;
  run: NewRun;
  policy?: SessionPolicy;
  /** The store's database: adds a cross-process advisory lock on Postgres (see above). */
  client?: Pick<SqlClient, 'dialect' | 'transaction'>;
}): Promise<SessionSubmission> {
  const sessionId = run.sessionId ?? null;
  if (sessionId === null || policy === 'queue') return { ...(await store.createRun(run)), cancelled: [] };
  const tenantId = run.tenantId ?? 'default';
  const checkThenCreate = async (on: Omit<SessionStore, 'withClient'>): Promise<SessionSubmission> => {
    // A retried submission gets its run back: the policy applied to it the first time. (Without
    // this, a retry under `reject` would be refused by its own run, and one under `interrupt`
    // would cancel it.)
    if (run.idempotencyKey) {
      const existing = await on.findRunByIdempotencyKey(run.idempotencyKey, { tenantId });
      if (existing !== undefined) return { run: existing, created: false, cancelled: [] };
    }
    const session = await on.getSession(sessionId, { tenantId });
    const active = session?.activeRunIds ?? [];
    if (active.length > 0 && policy === 'reject') throw new SessionBusyError(sessionId, active);
    const cancelled: RunRecord[] = [];
    if (policy === 'interrupt') {
      for (const runId of active) {
        // An active run that comes back cancelled was queued, waiting or awaiting approval: it
        // ended here (a running one only gets the request, and ends in its worker).
        const after = await on.requestCancel(runId, { tenantId });
        if (after?.status === 'cancelled') cancelled.push(after);
      }
    }
    return { ...(await on.createRun(run)), cancelled };
  };
  return withSessionLock(`${tenantId}\u0000${sessionId}`, () => {
    if (client?.dialect !== 'postgres') return checkThenCreate(store);
    return client.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))", [
        tenantId,
        sessionId,
      ]);
      const bound = bindClientToTransaction(tx, client);
      try {
        return await checkThenCreate(store.withClient(bound));
      } finally {
        await bound.close();
      }
    });
  });
}

/** The tail of each (tenant, session)'s chain of locked sections in this process. */
const sessionLocks = new Map<string, Promise<unknown>>();

/** Runs `fn` once every earlier call with the same `key` has settled; never concurrently with them. */
async function withSessionLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = sessionLocks.get(key) ?? Promise.resolve();
  const result = previous.then(fn, fn);
  const tail = result.then(
    () => undefined,
    () => undefined,
  );
  sessionLocks.set(key, tail);
  try {
    return await result;
  } finally {
    if (sessionLocks.get(key) === tail) sessionLocks.delete(key);
  }
}
