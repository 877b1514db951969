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
export type SessionPolicy = 'queue' | 'reject' | 'interrupt';

export const SESSION_POLICIES: readonly SessionPolicy[] = ['queue', 'reject', 'interrupt'];

/**
 * Creates `run` under a session policy. Ordering never depends on the policy: the claim query
 * holds a session's queued run until the earlier ones end, so `queue` only has to create it and
 * `interrupt` only to cancel before creating. Without a `sessionId` the policy does not apply.
 *
 * `reject` checks, then creates: two messages sent at the same instant to an idle session may
 * both be accepted, and then run one after the other (as under `queue`).
 */
export async function submitSessionRun({
  store,
  run,
  policy = 'queue',
}: {
  store: Pick<JournalStore, 'createRun' | 'getSession' | 'requestCancel'>;
  run: NewRun;
  policy?: SessionPolicy;
}): Promise<{ run: RunRecord; created: boolean }> {
  const sessionId = run.sessionId ?? null;
  if (sessionId === null || policy === 'queue') return store.createRun(run);
  const tenantId = run.tenantId ?? 'default';
  const session = await store.getSession(sessionId, { tenantId });
  const active = session?.activeRunIds ?? [];
  if (active.length > 0 && policy === 'reject') throw new SessionBusyError(sessionId, active);
  if (policy === 'interrupt') {
    for (const runId of active) await store.requestCancel(runId, { tenantId });
  }
  return store.createRun(run);
}
