import { SessionBusyError } from '../errors/session-errors.js';
import type { JournalStore } from '../journal/store.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { NewRun, RunRecord } from '../journal/types.js';

/**
 * What to do with a new message for a session whose previous message is still being answered
 * ("double texting"):
 * - `queue` (default): accept it; it runs once the active runs of the session have ended.
 * - `reject`: refuse it with `SessionBusyError` (`session_busy`, HTTP 409).
 * - `interrupt`: cancel the active runs, then accept it; it runs once they have stopped.
 */
export type SessionPolicy = 'queue' | 'reject' | 'interrupt';

export const SESSION_POLICIES: readonly SessionPolicy[] = ['queue', 'reject', 'interrupt'];

/**
 * Creates `run` under a session policy. Ordering never depends on the policy: the claim query
 * holds a session's queued run until the earlier ones end, so `queue` only has to create it and
 * `interrupt` only to cancel before creating. Without a `sessionId` the policy does not apply.
 *
 * Under `reject` and `interrupt`, the check (or cancel) and the create are atomic per (tenant,
 * session): they run while holding a lock on that pair, so of N messages sent at the same
 * instant to an idle session exactly one is accepted under `reject`. The lock is:
 * - always an in-process one (calls in this process wait for each other);
 * - also, when `client` is given, a Postgres advisory lock
 *   (`pg_advisory_xact_lock(hashtextextended(tenant || ':' || session, 0))`) held by a
 *   transaction on `client` for the duration, which serializes replicas sharing the database.
 *   The store's own statements run on other connections meanwhile, so this needs a pool (`pg`):
 *   it is skipped on PGlite (one connection, one process: the in-process lock already covers it).
 *   Each held lock takes one pooled connection for the length of the check and create.
 */
export async function submitSessionRun({
  store,
  run,
  policy = 'queue',
  client,
}: {
  store: Pick<JournalStore, 'createRun' | 'getSession' | 'requestCancel'>;
  run: NewRun;
  policy?: SessionPolicy;
  /** The store's database: adds a cross-process advisory lock on Postgres (see above). */
  client?: Pick<SqlClient, 'dialect' | 'transaction'>;
}): Promise<{ run: RunRecord; created: boolean }> {
  const sessionId = run.sessionId ?? null;
  if (sessionId === null || policy === 'queue') return store.createRun(run);
  const tenantId = run.tenantId ?? 'default';
  const checkThenCreate = async () => {
    const session = await store.getSession(sessionId, { tenantId });
    const active = session?.activeRunIds ?? [];
    if (active.length > 0 && policy === 'reject') throw new SessionBusyError(sessionId, active);
    if (policy === 'interrupt') {
      for (const runId of active) await store.requestCancel(runId, { tenantId });
    }
    return store.createRun(run);
  };
  return withSessionLock(`${tenantId}\u0000${sessionId}`, () =>
    client?.dialect === 'postgres'
      ? client.transaction(async (tx) => {
          await tx.query("SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))", [
            tenantId,
            sessionId,
          ]);
          return checkThenCreate();
        })
      : checkThenCreate(),
  );
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
