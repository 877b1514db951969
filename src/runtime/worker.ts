import { hostname } from 'node:os';
import { isKeelError, serializeError } from '../errors/keel-error.js';
import { RunCancelledError } from '../errors/runtime-errors.js';
import { LeaseLostError } from '../errors/storage-errors.js';
import type { JournalStore } from '../journal/store.js';
import type {
  AgentVersion,
  ClaimedRun,
  Lease,
  LivenessHold,
  RunEnd,
  RunRecord,
  StepRecord,
} from '../journal/types.js';
import type { LanguageModel } from '../model/model.js';
import { resolveModel } from '../model/resolve-model.js';
import { systemClock, type Clock } from '../util/clock.js';
import { createId } from '../util/ids.js';
import { createJsonLogger, type Logger } from '../util/logger.js';
import type { Agent } from './agent.js';
import { runAgentLoop } from './agent-loop.js';
import { agentVersionChange, agentVersionOf } from './agent-version.js';
import type { StepPolicy } from './step-policy.js';
import { redactingLogger, runRedactor, type TenantRedaction } from './redaction.js';
import { loadSessionHistory } from './session-history.js';
import { fullJitterDelay } from './backoff.js';
import { DurableRun } from './durable-run.js';
import type { FaultHook } from './fault-points.js';
import type { RunEvent, RunEventListener } from './run-events.js';
import { WorkerDrainingError } from './run-signals.js';
import { guardTelemetry, type RunTelemetry } from '../telemetry/run-telemetry.js';
import { createTextDeltaWriter } from './text-delta-writer.js';
import { createWakeSignal } from './wake-signal.js';

/**
 * Default lease on a claimed run. Recovering the runs of a worker that stalled or was cut off
 * takes about this long; those of a worker whose process died are recovered at the next poll of
 * another worker (its liveness lock is gone, see `JournalStore.holdLiveness`).
 */
export const DEFAULT_LEASE_MS = 5_000;

/** The options of `createWorker`: store, agents, concurrency, lease, policies, telemetry. */
export interface WorkerOptions {
  store: JournalStore;
  agents: readonly Agent[];
  /** Runs executed at once by this worker. Default 4. */
  concurrency?: number;
  /** Lease on claimed runs. Default 5 s; heartbeats renew it every `leaseMs / 4`. */
  leaseMs?: number;
  heartbeatMs?: number;
  /**
   * Fallback poll when no notification arrives; it also finds the runs of workers that died
   * (within one poll) and of expired leases. Default 500 ms.
   */
  pollMs?: number;
  /**
   * How often this worker expires approvals past their ttl (waking their runs, which treat the
   * call as rejected). Default 1 s, shared by the process's workers of one store (a `runAgent`
   * per run sweeps once a second, not once a run); any worker may do it, several at once are
   * harmless.
   */
  approvalSweepMs?: number;
  /** Time SIGTERM gives running runs to finish before they are handed back. Default 10 s. */
  drainTimeoutMs?: number;
  /** A run claimed more often than this is ended with `error` (a poison run). Default 25. */
  maxRunAttempts?: number;
  /** Claim only these runs (the CLI's in-process worker runs the run it submitted). */
  runIds?: readonly string[];
  /** Worker identity written as lease owner. Default: host:pid:random. */
  owner?: string;
  logger?: Logger;
  clock?: Clock;
  onEvent?: RunEventListener;
  /** Stream model output as `text-delta` events to `onEvent` (for live display). Default false. */
  streamText?: boolean;
  /**
   * Journal the text models stream (coalesced slices, see `text-delta-writer.ts`), so that any
   * replica's event stream shows it live. Implies `streamText`. Default false (`keel serve` turns
   * it on).
   */
  journalTextDeltas?: boolean;
  faultHook?: FaultHook;
  /** Turns an agent's model reference into a model (default: `resolveModel`). */
  resolveModel?: (reference: LanguageModel | string) => LanguageModel;
  /** Observers of claims, committed steps, ends and releases (trace export, metrics). */
  telemetry?: RunTelemetry;
  /**
   * What governs every run besides its agent's limits (budgets, controls, the prompt
   * registry), consulted in this order at each step (see step-policy.ts).
   */
  policies?: readonly StepPolicy[];
  /** Redaction rules per tenant, applied with each agent's own (see redaction.ts). */
  redactByTenant?: TenantRedaction;
  /**
   * Overrides every agent's `onCodeChange`: a replay of a recording (a cassette) passes `'fail'`,
   * since finding where the code parts from the recording is what it is for.
   */
  onCodeChange?: 'continue' | 'fail';
}

/** A worker: claims runnable runs, executes them durably, heartbeats, drains on stop. */
export interface Worker {
  readonly owner: string;
  /** Starts claiming. Returns at once; work happens in the background. */
  start(): void;
  /** Stops claiming, lets running runs finish within the drain timeout, releases the rest. */
  stop(): Promise<void>;
  /** Ids of the runs this worker is executing now. */
  activeRunIds(): string[];
}

interface ActiveRun {
  lease: Lease;
  controller: AbortController;
  /** Until when this worker may assume it holds the lease (last good heartbeat + lease). */
  validUntil: number;
  done: Promise<void>;
}

/** When each store's approvals were last swept here, per clock: the workers of a process share it. */
const lastSweeps = new WeakMap<JournalStore, WeakMap<Clock, number>>();

/**
 * Whether this process's workers of `store` have not swept for `everyMs` (and if so, marks the
 * sweep as done now): a `runAgent` per run would otherwise sweep once per run.
 */
function sweepDue(store: JournalStore, clock: Clock, everyMs: number): boolean {
  let byClock = lastSweeps.get(store);
  if (byClock === undefined) lastSweeps.set(store, (byClock = new WeakMap()));
  const last = byClock.get(clock);
  const now = clock.now();
  if (last !== undefined && now - last < everyMs && now >= last) return false;
  byClock.set(clock, now);
  return true;
}

/** What `runAgent` learns from the worker it starts (not part of the public options). */
export interface WorkerHooks {
  /** The run as the finishing write returned it, as soon as it is committed. */
  onRunFinished?: (run: RunRecord) => void;
  /** The liveness owner and lock to use instead of a lock of the worker's own (`sharedLiveness`). */
  liveness?: { owner: string; hold(): Promise<LivenessHold | undefined> };
}

/** Creates a worker. See `Worker`. */
export function createWorker(options: WorkerOptions, hooks: WorkerHooks = {}): Worker {
  const {
    store,
    concurrency = 4,
    leaseMs = DEFAULT_LEASE_MS,
    heartbeatMs = Math.max(50, Math.floor(leaseMs / 4)),
    pollMs = 500,
    approvalSweepMs = 1_000,
    drainTimeoutMs = 10_000,
    maxRunAttempts = 25,
    runIds,
    owner = hooks.liveness?.owner ?? `${hostname()}:${process.pid}:${createId('w').slice(-8)}`,
    clock = systemClock,
    onEvent,
    streamText = false,
    journalTextDeltas = false,
    faultHook,
  } = options;
  const logger = (options.logger ?? createJsonLogger()).child({ worker: owner });
  const telemetry = guardTelemetry(options.telemetry ?? {}, logger, () => clock.now());
  const agents = new Map(options.agents.map((agent) => [agent.name, agent]));
  const agentNames = [...agents.keys()];
  /** Each agent's version, computed once: the claim records it on a run's first execution. */
  const agentVersions = Object.fromEntries(
    options.agents.map((agent) => [agent.name, agentVersionOf(agent)]),
  );
  const toModel = options.resolveModel ?? ((reference: LanguageModel | string) => resolveModel(reference));
  const active = new Map<string, ActiveRun>();
  const wake = createWakeSignal();
  let stopping = false;
  let loopDone: Promise<void> | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => Promise<void>) | undefined;
  let liveness: LivenessHold | undefined;

  async function claimLoop(): Promise<void> {
    try {
      unsubscribe = await store.onRunnable(() => wake.notify());
    } catch (error) {
      logger.warn('cannot listen for new runs; polling only', { error: serializeError(error) });
    }
    // Before the first claim: runs claimed while it is held are recovered at once if we die.
    try {
      liveness = await (hooks.liveness ? hooks.liveness.hold() : store.holdLiveness(owner));
      if (liveness?.isHeld() === false)
        logger.warn('liveness lock not held yet; if this worker dies, its runs wait for their lease');
    } catch (error) {
      logger.warn('cannot hold a liveness lock; if this worker dies, its runs wait for their lease', {
        error: serializeError(error),
      });
    }
    let failures = 0;
    while (!stopping) {
      if (sweepDue(store, clock, approvalSweepMs)) await sweepApprovals();
      const capacity = concurrency - active.size;
      if (capacity > 0) {
        let claimed: ClaimedRun[];
        try {
          claimed = await store.claimRuns({
            owner,
            limit: capacity,
            leaseMs,
            agents: agentNames,
            agentVersions,
            ...(runIds ? { ids: runIds } : {}),
          });
          if (failures > 0) logger.info('claims resumed', { failedAttempts: failures });
          failures = 0;
          databaseAnswered();
        } catch (error) {
          failures++;
          // Once per episode, with its cause: the backoff below retries without a line each time.
          if (failures === 1) logger.warn('claim failed; retrying', { error: serializeError(error) });
          await wake.wait(fullJitterDelay({ attempt: failures, baseMs: 200, capMs: 5_000 }) + 100);
          continue;
        }
        for (const run of claimed) execute(run);
        if (claimed.length === capacity) continue;
      }
      await wake.wait(pollMs);
    }
  }

  /** Expires overdue approvals; their runs become runnable and this loop may claim them next. */
  async function sweepApprovals(): Promise<void> {
    try {
      const expired = await store.expireApprovals();
      for (const approval of expired)
        logger.info('approval expired', {
          runId: approval.runId,
          approvalId: approval.id,
          tool: approval.tool,
        });
    } catch (error) {
      logger.warn('approval expiry sweep failed', { error: serializeError(error) });
    }
  }

  function execute(run: ClaimedRun): void {
    const lease: Lease = { runId: run.id, owner, fence: run.fence };
    const controller = new AbortController();
    const entry: ActiveRun = {
      lease,
      controller,
      validUntil: clock.now() + leaseMs,
      done: Promise.resolve(),
    };
    // Claimed again while still executing here (its lease expired under us): the old execution
    // holds a stale fence and must stop, so one process never runs one run twice.
    active.get(run.id)?.controller.abort(new LeaseLostError(run.id, run.fence - 1));
    active.set(run.id, entry);
    entry.done = executeRun(run, entry)
      .catch((error: unknown) =>
        logger.error('run execution crashed', { runId: run.id, error: serializeError(error) }),
      )
      .finally(() => {
        if (active.get(run.id) === entry) active.delete(run.id);
        wake.notify();
      });
  }

  /** Tells the policies a run ended (a budget gives back what it still holds); never throws. */
  async function policiesEnded(run: RunRecord, log: Logger): Promise<void> {
    for (const policy of options.policies ?? []) {
      try {
        await policy.runEnded?.(run);
      } catch (error) {
        log.error('policy failed after the run ended', { policy: policy.name, error: serializeError(error) });
      }
    }
  }

  async function executeRun(run: ClaimedRun, entry: ActiveRun): Promise<void> {
    const { lease, controller } = entry;
    const redact = runRedactor(agents.get(run.agent), run.tenantId, options.redactByTenant);
    const plainLog = logger.child({ runId: run.id, agent: run.agent, attempt: run.attempts });
    const log = redact ? redactingLogger(plainLog, redact) : plainLog;
    const finishEarly = async (end: RunEnd) => {
      const ended = await store.finishRun(lease, end);
      hooks.onRunFinished?.(ended);
      await policiesEnded(ended, log);
      return ended;
    };
    // Streamed slices are not journaled under redaction rules: a value split across two slices
    // would escape them. Callers of such runs get the (redacted) output when the run ends.
    const deltas =
      journalTextDeltas && !redact ? createTextDeltaWriter({ store, lease, logger: log }) : undefined;
    const onRunEvent: RunEventListener | undefined =
      deltas === undefined
        ? onEvent
        : (event) => {
            deltas.onEvent(event);
            onEvent?.(event);
          };
    try {
      const agent = agents.get(run.agent);
      if (!agent) return; // not claimable by construction (claims filter by agent)
      // Reported before any early end: a claim that ends the run at once may still be a lease
      // recovery, whose dead worker's committed steps must be exported and counted.
      // Fence 1 is the run's first claim ever: no lease before it, so no step can be journaled
      // (every step write is fenced). Only a run claimed before has a journal to load.
      const steps = run.fence === 1 ? [] : await store.loadSteps(run.id, { withOutputs: true });
      telemetry.runClaimed(run, steps, { leaseRecovered: run.leaseRecovered });
      if (run.cancelRequested) {
        telemetry.runEnded(await finishEarly(emptyEnd('cancelled', new RunCancelledError(run.id).toJSON())));
        return;
      }
      if (run.attempts > maxRunAttempts) {
        const ended = await finishEarly(
          emptyEnd('error', {
            code: 'too_many_attempts',
            message: `Run was claimed ${run.attempts} times without finishing; giving up (maxRunAttempts ${maxRunAttempts}).`,
            fault: 'system',
            retryable: false,
          }),
        );
        telemetry.runEnded(ended);
        return;
      }
      const history = await loadSessionHistory({ store, run });
      const durable = new DurableRun({
        store,
        run,
        lease,
        steps,
        clock,
        onEvent: onRunEvent,
        faultHook,
        isLeaseValid: () => clock.now() < entry.validUntil && !controller.signal.aborted,
        onStepCommitted: (step) => telemetry.stepCommitted(run, step),
        ...(redact ? { redact } : {}),
        onCodeChange: options.onCodeChange ?? agent.onCodeChange ?? 'continue',
      });
      await recordAgentVersion({ durable, run, current: agentVersions[agent.name]!, steps, clock, log });
      onEvent?.({
        type: 'run-start',
        runId: run.id,
        agent: run.agent,
        attempt: run.attempts,
        replayedSteps: steps.length,
      });
      log.debug('run claimed', { fence: run.fence, recordedSteps: steps.length });
      if (run.leaseRecovered)
        log.info('run recovered', {
          from: run.ownerGone ? 'a worker that died' : 'an expired lease',
          fence: run.fence,
          recordedSteps: steps.length,
        });

      let end: RunEnd;
      let model: LanguageModel | undefined;
      try {
        model = toModel(agent.model);
      } catch (error) {
        end = emptyEnd('error', serializeError(error));
      }
      end ??= await runAgentLoop({
        run,
        agent,
        model: model!,
        durable,
        signal: controller.signal,
        clock,
        logger: log,
        onEvent: onRunEvent,
        faultHook,
        streamText: streamText || journalTextDeltas,
        history,
        policies: options.policies,
        ...(redact ? { redact } : {}),
      });
      await faultHook?.('before-run-end', { runId: run.id });
      const finished = await durable.finish(end);
      hooks.onRunFinished?.(finished);
      await policiesEnded(finished, log);
      telemetry.runEnded(finished);
      onEvent?.({
        type: 'run-end',
        runId: run.id,
        stopReason: end.stopReason,
        usage: end.usage,
        costUsd: end.costUsd,
        ...(end.error ? { error: end.error } : {}),
      });
      log.info('run ended', { stopReason: finished.stopReason, steps: end.stepCount, costUsd: end.costUsd });
    } catch (error) {
      if (isKeelError(error) && error.code === 'run_suspended') {
        // Not an end: the store already set the run awaiting_approval and cleared the lease.
        const approvalIds = (error.details.approvalIds as string[] | undefined) ?? [];
        onEvent?.({ type: 'run-suspend', runId: run.id, approvalIds });
        telemetry.runReleased(run, 'approval');
        log.info('run awaiting approval', { approvalIds });
      } else if (isKeelError(error) && error.code === 'run_waiting') {
        // Not an end: the store already set the run waiting (claimable again at `until`) and
        // cleared the lease; any worker's poll resumes it then.
        const { reason, until, seq, attempts } = error.details as Omit<
          Extract<RunEvent, { type: 'run-wait' }>,
          'type' | 'runId'
        >;
        onEvent?.({ type: 'run-wait', runId: run.id, reason, until, seq, attempts });
        telemetry.runReleased(run, 'waiting');
        log.info('run waiting to retry its model call', { reason, until, seq, attempts });
      } else if (isKeelError(error) && error.code === 'worker_draining') {
        await store.releaseRun(lease).catch((releaseError: unknown) => {
          log.warn('could not release run; it will be recovered when its lease expires', {
            error: serializeError(releaseError),
          });
        });
        log.info('run released by draining worker');
        telemetry.runReleased(run, 'draining');
      } else if (isKeelError(error) && error.code === 'lease_lost') {
        log.warn('lease lost; abandoning run to its new owner');
        telemetry.runReleased(run, 'lease_lost');
      } else {
        // Database outages and the like: the lease expires and another claim resumes the run.
        log.error('run interrupted; it will resume after its lease expires', {
          error: serializeError(error),
        });
        telemetry.runReleased(run, 'interrupted');
      }
    } finally {
      await deltas?.close();
    }
  }

  /**
   * One episode of heartbeats failing or hanging (a database gone, or gone silent): logged when
   * it starts, when it costs this worker its runs, and when it ends; never once per heartbeat.
   */
  let heartbeatTrouble: { since: number; cause: string; runsStopped: boolean } | undefined;
  let heartbeatSentAt: number | undefined;

  /** Ends an episode of heartbeat trouble (a heartbeat or a claim got its answer). */
  function databaseAnswered(): void {
    if (heartbeatTrouble === undefined) return;
    logger.info('the database answers again; heartbeats and claims go on', {
      troubleForMs: clock.now() - heartbeatTrouble.since,
      cause: heartbeatTrouble.cause,
    });
    heartbeatTrouble = undefined;
  }

  async function heartbeat(): Promise<void> {
    if (active.size === 0) return;
    const entries = [...active.values()];
    const sentAt = clock.now();
    heartbeatSentAt = sentAt;
    try {
      const results = await store.heartbeat({ leases: entries.map((entry) => entry.lease), leaseMs });
      databaseAnswered();
      for (const result of results) {
        const entry = active.get(result.runId);
        if (!entry) continue;
        if (!result.held) entry.controller.abort(new LeaseLostError(entry.lease.runId, entry.lease.fence));
        else {
          entry.validUntil = sentAt + leaseMs;
          if (result.cancelRequested) entry.controller.abort(new RunCancelledError(result.runId));
        }
      }
    } catch (error) {
      const cause = (error as Error).message;
      if (heartbeatTrouble === undefined) {
        heartbeatTrouble = { since: sentAt, cause, runsStopped: false };
        logger.warn('heartbeat failed; retrying until the leases run out', {
          error: serializeError(error),
          runs: entries.length,
        });
      } else heartbeatTrouble.cause = cause;
    } finally {
      heartbeatSentAt = undefined;
    }
  }

  /** Without a confirmed heartbeat we cannot know we still own a run past its lease: stop it. */
  function abortUnconfirmed(): void {
    const now = clock.now();
    const stopped: string[] = [];
    for (const entry of active.values()) {
      if (now >= entry.validUntil && !entry.controller.signal.aborted) {
        entry.controller.abort(new LeaseLostError(entry.lease.runId, entry.lease.fence));
        stopped.push(entry.lease.runId);
      }
    }
    if (stopped.length === 0) return;
    // A heartbeat still waiting for its answer: the database went silent rather than failing.
    const cause =
      heartbeatTrouble?.cause ??
      (heartbeatSentAt === undefined
        ? 'no heartbeat confirmed the leases'
        : `heartbeat unanswered for ${now - heartbeatSentAt} ms`);
    heartbeatTrouble ??= { since: heartbeatSentAt ?? now, cause, runsStopped: false };
    if (heartbeatTrouble.runsStopped) return;
    heartbeatTrouble.runsStopped = true;
    logger.warn(
      'leases not renewed in time; stopping runs here (their new owner resumes them, the fence guards the journal)',
      { runIds: stopped, cause, leaseMs },
    );
  }

  let heartbeatRunning = false;
  const tick = () => {
    // Checked on every tick, also while a heartbeat hangs (a partition without a reset).
    abortUnconfirmed();
    if (heartbeatRunning) return;
    heartbeatRunning = true;
    void heartbeat().finally(() => {
      heartbeatRunning = false;
    });
  };

  return {
    owner,
    start() {
      if (loopDone) return;
      heartbeatTimer = setInterval(tick, heartbeatMs);
      loopDone = claimLoop();
    },
    async stop() {
      stopping = true;
      wake.notify();
      await loopDone;
      const drained = Promise.all([...active.values()].map((entry) => entry.done));
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        drained.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), drainTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        for (const entry of active.values())
          entry.controller.abort(new WorkerDrainingError(entry.lease.runId));
        await Promise.all([...active.values()].map((entry) => entry.done));
      }
      clearInterval(heartbeatTimer);
      await unsubscribe?.().catch(() => {});
      // Last: every run is finished or handed back, so none is left to be taken over.
      await liveness?.release().catch(() => {});
    },
    activeRunIds: () => [...active.keys()],
  };
}

function emptyEnd(stopReason: RunEnd['stopReason'], error: RunEnd['error']): RunEnd {
  return {
    stopReason,
    output: null,
    error,
    usage: { inputTokens: 0, outputTokens: 0 },
    costUsd: 0,
    stepCount: 0,
  };
}

/**
 * Records which agent version executes the run. The first execution's claim recorded it already
 * (`agentVersions`), so this writes only when the recorded version is another: a resume by
 * another version (a deploy) appends the change to the run's `versionChanges`, starting at the
 * first step the journal does not hold finished.
 */
async function recordAgentVersion({
  durable,
  run,
  current,
  steps,
  clock,
  log,
}: {
  durable: DurableRun;
  run: RunRecord;
  current: AgentVersion;
  steps: readonly StepRecord[];
  clock: Clock;
  log: Logger;
}): Promise<void> {
  if (run.agentVersion?.version === current.version) return;
  const started = steps.filter((step) => step.status === 'started').map((step) => step.seq);
  const atSeq =
    started.length > 0 ? Math.min(...started) : Math.max(-1, ...steps.map((step) => step.seq)) + 1;
  const change =
    run.agentVersion && steps.length > 0
      ? agentVersionChange({ recorded: run.agentVersion, current, atSeq, at: new Date(clock.now()) })
      : undefined;
  await durable.recordAgentVersion({ version: current, ...(change ? { change } : {}) });
  if (change) log.info('run resumed by another agent version', { ...change });
}
