import { RunNotFoundError } from '../errors/storage-errors.js';
import type { JournalStore } from '../journal/store.js';
import { TERMINAL_STATUSES, type NewRun, type RunRecord, type RunStatus } from '../journal/types.js';
import type { Agent } from './agent.js';
import type { PromptVersions } from './prompt-version.js';
import { createPromptPolicy } from './prompt-policy.js';
import { resolvePromptVersion } from './resolve-prompt-version.js';
import { redactValue, runRedactor } from './redaction.js';
import { assertRunAttribution } from './run-attribution.js';
import { sleep } from '../util/sleep.js';
import type { RunEvent } from './run-events.js';
import { agentVersionOf } from './agent-version.js';
import { sharedLiveness } from './shared-liveness.js';
import { createWorker, type WorkerOptions } from './worker.js';

/**
 * Waits until a run reaches a terminal status and returns it. Polls the store, so it works
 * whichever process executes the run; `wake` lets a local worker cut the wait short.
 */
export async function waitForRun({
  store,
  runId,
  tenantId,
  pollMs = 200,
  signal,
  alsoOn = [],
  sleepFirst = false,
}: {
  store: JournalStore;
  runId: string;
  tenantId?: string;
  pollMs?: number;
  signal?: AbortSignal;
  /** Statuses besides the terminal ones that end the wait (a replay stops at `awaiting_approval`). */
  alsoOn?: readonly RunStatus[];
  /** Sleep `pollMs` before the first read (the caller knows the run has not ended yet). */
  sleepFirst?: boolean;
}): Promise<RunRecord> {
  if (sleepFirst) await sleep(pollMs, signal);
  for (;;) {
    const run = await store.getRun(runId, tenantId ? { tenantId } : {});
    if (!run) throw new RunNotFoundError(runId);
    if (TERMINAL_STATUSES.includes(run.status) || alsoOn.includes(run.status)) return run;
    await sleep(pollMs, signal);
  }
}

/** The options of `runAgent`: the worker's options plus the agent, input and run attribution. */
export interface RunAgentOptions extends Omit<WorkerOptions, 'runIds' | 'agents'> {
  agents: readonly Agent[];
  /** Name of the agent to run. */
  agent: string;
  input: unknown;
  sessionId?: string;
  metadata?: Record<string, unknown>;
  /** The end user the run acts for (1-200 characters). */
  userId?: string;
  /** What started the run (1-64 characters); default `api`. */
  trigger?: string;
  idempotencyKey?: string;
  tenantId?: string;
  /**
   * The prompt registry: a version pinned for the agent is the one the run records and runs
   * (its worker gets the registry's step policy, `createPromptPolicy`, after `policies`).
   */
  prompts?: PromptVersions;
  /**
   * Stops waiting for the run's end when it aborts: `runAgent` then returns the run as it stands
   * (not ended), and the run goes on durably where any worker resumes it. `keel run` on the
   * embedded database stops so when the run suspends on an approval, which only another process
   * (`keel approvals approve`) can decide while this one holds the database.
   */
  stopWaiting?: AbortSignal;
}

/**
 * Submits a run and executes it in this process until it ends; returns the finished run.
 * The run is durable like any other: if this process dies, any worker resumes it.
 */
export async function runAgent(options: RunAgentOptions): Promise<RunRecord> {
  const {
    store,
    agent,
    input,
    sessionId,
    metadata,
    userId,
    trigger = 'api',
    idempotencyKey,
    tenantId,
    onEvent,
    prompts,
    stopWaiting,
    ...workerOptions
  } = options;
  assertRunAttribution({ userId, trigger });
  const definition = options.agents.find((candidate) => candidate.name === agent);
  const redact = runRedactor(definition, tenantId ?? 'default', workerOptions.redactByTenant);
  const newRun: NewRun = {
    agent,
    input: redact ? redactValue(input, redact) : input,
    sessionId,
    metadata,
    userId: userId ?? null,
    trigger,
    // The local worker runs this definition: its version is recorded with the row.
    ...(definition ? { agentVersion: agentVersionOf(definition) } : {}),
    // An agent this process does not know is refused by the worker, as before.
    promptVersion: definition
      ? await resolvePromptVersion({
          prompts,
          agent: definition,
          tenantId: tenantId ?? 'default',
        })
      : null,
    idempotencyKey,
    tenantId,
  };
  const { run, created } = await store.createRun(newRun);
  const controller = new AbortController();
  let announceEnd: () => void = () => {};
  const ended = new Promise<void>((resolve) => (announceEnd = resolve));
  /** The run as the local worker's finishing write returned it: no read needed after the end. */
  let finished: RunRecord | undefined;
  const worker = createWorker(
    {
      ...workerOptions,
      // The registry's version the run recorded is the one its loop runs.
      ...(prompts === undefined
        ? {}
        : { policies: [...(workerOptions.policies ?? []), createPromptPolicy(prompts)] }),
      store,
      concurrency: 1,
      runIds: [run.id],
      onEvent: (event: RunEvent) => {
        onEvent?.(event);
        if (event.type === 'run-end' && event.runId === run.id) announceEnd();
      },
    },
    {
      // Unless the caller names an owner, runs of this store share one liveness lock (no lock
      // taken and given back per run).
      ...(workerOptions.owner === undefined ? { liveness: sharedLiveness(store) } : {}),
      onRunFinished: (ended) => {
        if (ended.id !== run.id) return;
        finished = ended;
        announceEnd();
      },
    },
  );
  worker.start();
  try {
    // The local worker's event ends the wait at once; polling covers a run finished elsewhere.
    const stopped = new Promise<void>((resolve) => {
      if (stopWaiting?.aborted) resolve();
      stopWaiting?.addEventListener('abort', () => resolve(), { once: true });
    });
    // A run just created is queued: the first read waits a poll. An existing one (idempotency
    // key) may have ended long ago, so it is read at once.
    await Promise.race([
      ended,
      stopped,
      waitForRun({
        store,
        runId: run.id,
        tenantId,
        pollMs: 1_000,
        signal: controller.signal,
        sleepFirst: created,
      }),
    ]);
    if (finished) return finished;
    if (stopWaiting?.aborted) {
      const current = await store.getRun(run.id, tenantId ? { tenantId } : {});
      if (!current) throw new RunNotFoundError(run.id);
      return current;
    }
    return await waitForRun({ store, runId: run.id, tenantId, pollMs: 50 });
  } finally {
    controller.abort();
    await worker.stop();
  }
}
