import { SessionBusyError } from '../errors/session-errors.js';
import type { JournalStore } from '../journal/store.js';
import type { NewRun, RunRecord } from '../journal/types.js';

/**
 * What to do with a new message for a session whose previous message is still being answered
 * ("double texting"):
 * - `queue` (default): accept it; it runs once the active runs of the session have ended.
 * - `reject`: refuse it with `SessionBusyError` (`session_busy`, HTTP 409).
 * - `interrupt`: cancel the active runs, then accept it; it runs once they have stopped.
 */
export const SESSION_POLICIES = ['queue', 'reject', 'interrupt'] as const;
/** What a new message does to a busy session: `queue`, `reject` or `interrupt`. */
export type SessionPolicy = (typeof SESSION_POLICIES)[number];

/** What `submitSessionRun` uses of a journal store. */
export type SessionStore = Pick<
  JournalStore,
  'createRun' | 'getSession' | 'requestCancel' | 'findRunByIdempotencyKey' | 'withSessionLock'
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
 * session): they run in the store's `withSessionLock` for that pair, on the store it gives (on
 * Postgres, bound to the lock's transaction, so the run and the cancels commit together with
 * the lock's release), so of N messages sent at the same instant to an idle session exactly one
 * is accepted under `reject`, across every replica sharing the database.
 */
export async function submitSessionRun({
  store,
  run,
  policy = 'queue',
}: {
  store: SessionStore;
  run: NewRun;
  policy?: SessionPolicy;
}): Promise<SessionSubmission> {
  const sessionId = run.sessionId ?? null;
  if (sessionId === null || policy === 'queue') return { ...(await store.createRun(run)), cancelled: [] };
  const tenantId = run.tenantId ?? 'default';
  const checkThenCreate = async (on: Omit<SessionStore, 'withSessionLock'>): Promise<SessionSubmission> => {
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
  return store.withSessionLock({ tenantId, sessionId }, checkThenCreate);
}
