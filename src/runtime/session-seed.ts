import { RunNotFoundError } from '../errors/storage-errors.js';
import type { JournalStore } from '../journal/store.js';

/**
 * Writes a session's earlier exchanges as completed runs (input = the user's message, output =
 * the answer), oldest first, so that the next run of the session starts from that history
 * (`loadSessionHistory` reads completed runs of the session). Used by replay (the history a
 * cassette recorded) and evals (a case's `session`).
 */
export async function seedSessionExchanges({
  store,
  agent,
  sessionId,
  exchanges,
  trigger,
  tenantId,
}: {
  store: JournalStore;
  agent: string;
  sessionId: string;
  exchanges: readonly { input: unknown; output: unknown }[];
  trigger: string;
  tenantId?: string;
}): Promise<void> {
  for (const exchange of exchanges) {
    const { run } = await store.createRun({
      agent,
      input: exchange.input,
      sessionId,
      trigger,
      ...(tenantId === undefined ? {} : { tenantId }),
    });
    const lease = await claimForWriting(store, run.id);
    await store.finishRun(lease, {
      stopReason: 'completed',
      output: exchange.output,
      usage: { inputTokens: 0, outputTokens: 0 },
      costUsd: 0,
      stepCount: 0,
    });
  }
}

/** Claims a run just created, to write its steps or end it directly (not to execute it). */
export async function claimForWriting(
  store: JournalStore,
  runId: string,
  owner = 'keel-import',
): Promise<{ runId: string; owner: string; fence: number }> {
  const [claimed] = await store.claimRuns({ owner, limit: 1, leaseMs: 60_000, ids: [runId] });
  if (!claimed) throw new RunNotFoundError(runId);
  return { runId, owner, fence: claimed.fence };
}
