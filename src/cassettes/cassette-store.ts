import { RunNotFoundError } from '../errors/storage-errors.js';
import type { JournalStore } from '../journal/store.js';
import type { RunRecord, StopReason } from '../journal/types.js';
import { loadEarlierSessionRuns } from '../runtime/session-history.js';
import { claimForWriting, seedSessionExchanges } from '../runtime/session-seed.js';
import { buildCassette, type Cassette } from './cassette.js';

/**
 * A stored run as a cassette, read as the journal holds it (payloads already redacted). The
 * session history is what the run saw: the completed runs of its session created before it.
 */
export async function readCassette({
  store,
  runId,
  tenantId,
}: {
  store: JournalStore;
  runId: string;
  tenantId?: string;
}): Promise<Cassette> {
  const run = await store.getRun(runId, tenantId === undefined ? {} : { tenantId });
  if (!run) throw new RunNotFoundError(runId);
  return cassetteOfRun({ store, run });
}

/** The cassette of a run already read: its steps with outputs and its session's earlier exchanges. */
export async function cassetteOfRun({
  store,
  run,
}: {
  store: Pick<JournalStore, 'listRuns' | 'loadSteps'>;
  run: RunRecord;
}): Promise<Cassette> {
  const [steps, earlier] = await Promise.all([
    store.loadSteps(run.id, { withOutputs: true }),
    loadEarlierSessionRuns({ store, run }),
  ]);
  return buildCassette({
    run,
    steps,
    session: earlier.map((previous) => ({ input: previous.input, output: previous.output })),
  });
}

/**
 * Writes a cassette's run into `store` under a new id with `trigger: 'import'`. `mode: 'ended'`
 * stores it as it ended (`keel import`); `mode: 'queued'` stores its steps and leaves it queued,
 * so that a worker resumes it and replays every recorded step from the journal (`keel replay`).
 * With `seedSession`, the session's earlier exchanges are written first as completed runs, so the
 * run starts from the same history.
 */
export async function writeCassetteRun({
  store,
  cassette,
  mode,
  tenantId,
  seedSession = false,
}: {
  store: JournalStore;
  cassette: Cassette;
  mode: 'ended' | 'queued';
  tenantId?: string;
  seedSession?: boolean;
}): Promise<RunRecord> {
  const sessionId = cassette.session_id ?? null;
  if (seedSession && sessionId !== null)
    await seedSessionExchanges({
      store,
      agent: cassette.agent,
      sessionId,
      exchanges: cassette.session,
      trigger: 'import',
      ...(tenantId === undefined ? {} : { tenantId }),
    });
  const { run } = await store.createRun({
    agent: cassette.agent,
    input: cassette.input,
    sessionId,
    userId: cassette.user_id ?? null,
    trigger: 'import',
    promptVersion: cassette.prompt_version ?? null,
    metadata: cassette.run_id === undefined ? {} : { imported_from: cassette.run_id },
    ...(tenantId === undefined ? {} : { tenantId }),
  });
  const lease = await claimForWriting(store, run.id);
  for (const step of cassette.steps) {
    const startedAt = new Date();
    const common = {
      seq: step.seq,
      parentSeq: step.parent_seq ?? null,
      kind: step.kind,
      name: step.name,
      inputHash: step.input_hash,
      attempt: step.attempt ?? 1,
      startedAt,
      endedAt: startedAt,
      meta: step.meta ?? null,
      usage: step.usage ?? undefined,
      costUsd: step.cost_usd ?? undefined,
      output: step.output,
    };
    await store.completeStep(
      lease,
      step.status === 'completed'
        ? { ...common, status: 'completed' }
        : {
            ...common,
            status: 'failed',
            error: step.error ?? { code: 'unknown', message: 'failed', fault: 'system', retryable: false },
          },
    );
  }
  if (mode === 'queued') {
    await store.releaseRun(lease);
    return (await store.getRun(run.id))!;
  }
  return store.finishRun(lease, {
    stopReason: cassette.stop_reason as StopReason,
    output: cassette.output,
    error: cassette.error ?? null,
    usage: cassette.usage ?? { inputTokens: 0, outputTokens: 0 },
    costUsd: cassette.cost_usd ?? 0,
    stepCount: cassette.steps.length,
  });
}
