import { isKeelError, type SerializedError } from '../errors/keel-error.js';
import { NondeterminismError } from '../errors/runtime-errors.js';
import { DatabaseUnavailableError, LeaseLostError } from '../errors/storage-errors.js';
import type { JournalStore } from '../journal/store.js';
import type {
  AgentVersion,
  AgentVersionChange,
  PriorStepExecution,
  ApprovalRecord,
  Lease,
  NewApproval,
  RunEnd,
  RunRecord,
  StepKind,
  StepRecord,
} from '../journal/types.js';
import type { Usage } from '../model/model.js';
import { hashCanonical } from '../util/canonical-hash.js';
import type { Clock } from '../util/clock.js';
import { fullJitterDelay } from './backoff.js';
import { sleep } from '../util/sleep.js';
import type { FaultHook } from './fault-points.js';
import type { RunEventListener } from './run-events.js';
import { redactValue, type TextRedactor } from './redaction.js';

/** A step the code wants to take. Its identity on replay is (seq, kind, name, hash of input). */
export interface StepRequest {
  seq: number;
  kind: StepKind;
  name: string;
  /** Everything the step depends on; only its canonical hash is stored. */
  input: unknown;
  parentSeq?: number | null;
  /** Small facts worth keeping on the step row (model id, effect, tool call id). */
  meta?: Record<string, unknown>;
  /**
   * Journal `started` before executing. Required for steps with effects: a recovered run then
   * knows the step may have happened, and re-invokes it with the same idempotency key.
   */
  journalStart: boolean;
}

/**
 * What executing a step produced. A failed step is still a recorded, replayable fact. `attempt`,
 * when set, is journaled instead of the execution's attempt number (a model step counts its
 * model calls, in place and across waits).
 */
export type StepOutcome =
  | {
      status: 'completed';
      output: unknown;
      usage?: Usage;
      costUsd?: number;
      meta?: Record<string, unknown>;
      attempt?: number;
    }
  | {
      status: 'failed';
      error: SerializedError;
      output?: unknown;
      usage?: Usage;
      costUsd?: number;
      meta?: Record<string, unknown>;
      attempt?: number;
    };

/** What `DurableRun.step` tells the code executing a step. */
export interface StepContext {
  /** The attempt after the recorded one (1 for a new step). */
  attempt: number;
  idempotencyKey: string;
  /** The meta of the step's `started` record, when an earlier execution journaled one. */
  recordedMeta: Record<string, unknown> | null;
  /** True when an earlier execution crashed mid-step: its effect may or may not have happened. */
  unknownOutcome: boolean;
}

export type StepResult = StepOutcome & { replayed: boolean; attempt: number };

export interface DurableRunOptions {
  store: JournalStore;
  run: RunRecord;
  lease: Lease;
  /** The run's journal, loaded with outputs. */
  steps: readonly StepRecord[];
  clock: Clock;
  onEvent?: RunEventListener;
  faultHook?: FaultHook;
  /** False once this worker can no longer be sure it holds the lease; writes then give up. */
  isLeaseValid?: () => boolean;
  /** Told of each step row this execution committed, as the journal now holds it. */
  onStepCommitted?: (step: StepRecord) => void;
  /**
   * The run's redaction rules (redaction.ts): step outputs, errors and meta, and the run's end,
   * are redacted before they are written. What `step` returns to the code is the original.
   */
  redact?: TextRedactor;
  /**
   * What a recorded step that the code now asks for differently does (the agent's
   * `onCodeChange`). `'fail'` (the default here): `NondeterminismError`. `'continue'`: a finished
   * step of the same kind is served from the journal whatever the code asks (the run was
   * resumed by a new deploy), and an unfinished one of the same kind and name executes on the
   * new code; a step of another kind cannot be served and still raises `NondeterminismError`.
   */
  onCodeChange?: 'continue' | 'fail';
}

/**
 * The journal side of one execution of a run: hands out step sequence numbers, returns recorded
 * results on replay (checking that the code asks for the same step), and journals new steps
 * through the fenced store. Store outages are retried while the lease is still ours.
 */
export class DurableRun {
  readonly runId: string;
  private readonly recorded: Map<number, StepRecord>;
  private nextSeqValue = 0;
  private completedSteps = 0;
  private readonly divergedSeqs: number[] = [];

  constructor(private readonly options: DurableRunOptions) {
    this.runId = options.run.id;
    this.recorded = new Map(options.steps.map((step) => [step.seq, step]));
  }

  /** Number of steps recorded before this execution began. */
  get replayableSteps(): number {
    return this.recorded.size;
  }

  /** Steps of the run so far (recorded and new), for the run's totals. */
  get stepCount(): number {
    return this.completedSteps;
  }

  /** Recorded steps served from the journal although the code asked for them differently. */
  get divergedSteps(): readonly number[] {
    return this.divergedSeqs;
  }

  /** Allocates the next sequence number. Callers allocate in a deterministic order. */
  allocateSeq(): number {
    return this.nextSeqValue++;
  }

  /** True when an earlier execution started this step and may have done its effect (a crash mid-step). */
  isStarted(seq: number): boolean {
    return this.recorded.get(seq)?.status === 'started';
  }

  /**
   * True when an earlier execution started this step and stopped without a word: a crash or a
   * lost lease, so its effect may or may not have happened. Not a step whose execution released
   * the run on purpose (a draining worker: meta `released`; a provider wait: meta `waited`).
   */
  isUnknownOutcome(seq: number): boolean {
    const step = this.recorded.get(seq);
    return step?.status === 'started' && step.meta?.released !== true && step.meta?.waited !== true;
  }

  /** True when the journal already holds a finished result for this seq. */
  isReplay(seq: number): boolean {
    const step = this.recorded.get(seq);
    return step !== undefined && step.status !== 'started';
  }

  /**
   * Runs a step exactly as the journal dictates: a finished recorded step returns its result
   * without executing; an unfinished one (a crash mid-step) executes again with the next attempt
   * number and the same idempotency key; a new one executes and is journaled.
   */
  async step(
    request: StepRequest,
    execute: (context: StepContext) => Promise<StepOutcome>,
  ): Promise<StepResult> {
    const { store, lease, clock, onEvent, faultHook } = this.options;
    const inputHash = hashCanonical(request.input);
    const recorded = this.recorded.get(request.seq);
    if (recorded) {
      if (
        recorded.kind !== request.kind ||
        recorded.name !== request.name ||
        recorded.inputHash !== inputHash
      ) {
        if (!this.tolerates(recorded, request)) {
          throw new NondeterminismError(
            this.runId,
            { seq: recorded.seq, kind: recorded.kind, name: recorded.name, inputHash: recorded.inputHash },
            { seq: request.seq, kind: request.kind, name: request.name, inputHash },
          );
        }
        this.divergedSeqs.push(request.seq);
      }
      if (recorded.status !== 'started') {
        this.completedSteps++;
        onEvent?.({
          type: 'step-start',
          runId: this.runId,
          seq: request.seq,
          kind: request.kind,
          name: request.name,
          replayed: true,
        });
        const result = replayedResult(recorded);
        onEvent?.({
          type: 'step-end',
          runId: this.runId,
          seq: request.seq,
          kind: request.kind,
          name: request.name,
          status: result.status,
          replayed: true,
          durationMs: 0,
          usage: result.usage,
          costUsd: result.costUsd,
          error: result.status === 'failed' ? result.error : undefined,
        });
        return result;
      }
    }

    const identity = this.identity(request, inputHash);
    const { attempt, startedAt } = identity;
    onEvent?.({
      type: 'step-start',
      runId: this.runId,
      seq: request.seq,
      kind: request.kind,
      name: request.name,
      replayed: false,
    });
    if (request.journalStart) await this.write(() => store.startStep(lease, identity));

    const outcome = await execute({
      attempt,
      idempotencyKey: `${this.runId}:${request.seq}`,
      recordedMeta: recorded?.meta ?? null,
      unknownOutcome: this.isUnknownOutcome(request.seq),
    });
    const endedAt = new Date(clock.now());
    const stored = this.stored(outcome);
    const meta = stored.meta ? { ...request.meta, ...stored.meta } : (request.meta ?? null);
    await this.write(async () => {
      const append = store.completeStep(lease, {
        ...identity,
        attempt: outcome.attempt ?? attempt,
        meta,
        status: outcome.status,
        endedAt,
        output: stored.output,
        error: stored.status === 'failed' ? stored.error : null,
        usage: outcome.usage ?? null,
        costUsd: outcome.costUsd ?? null,
      });
      // The crash test kills the process here, with the append in flight.
      await faultHook?.('during-journal-append', { runId: this.runId, seq: request.seq });
      await append;
    });
    this.completedSteps++;
    this.options.onStepCommitted?.({
      runId: this.runId,
      ...identity,
      attempt: outcome.attempt ?? attempt,
      meta,
      status: outcome.status,
      endedAt,
      usage: outcome.usage ?? null,
      costUsd: outcome.costUsd ?? null,
      outputRef: outcome.output === undefined ? null : `${this.runId}:${request.seq}`,
      error: stored.status === 'failed' ? stored.error : null,
      priorExecutions: priorExecutionsAfter(recorded, request.journalStart),
      // The value just journaled (not a copy): trace export reads the response model from it.
      ...(stored.output === undefined ? {} : { output: stored.output }),
    });
    onEvent?.({
      type: 'step-end',
      runId: this.runId,
      seq: request.seq,
      kind: request.kind,
      name: request.name,
      status: outcome.status,
      replayed: false,
      durationMs: endedAt.getTime() - startedAt.getTime(),
      usage: outcome.usage,
      costUsd: outcome.costUsd,
      error: outcome.status === 'failed' ? outcome.error : undefined,
    });
    return { ...outcome, replayed: false, attempt: outcome.attempt ?? attempt };
  }

  /**
   * Whether a recorded step the code asks for differently may go on (see `onCodeChange`): a
   * finished one of the same kind is served as recorded; an unfinished one executes again on the
   * new code only when it is the same step (kind and name), as its idempotency key promises.
   */
  private tolerates(recorded: StepRecord, request: StepRequest): boolean {
    if (this.options.onCodeChange !== 'continue' || recorded.kind !== request.kind) return false;
    return recorded.status !== 'started' || recorded.name === request.name;
  }

  /** The identity a step request is journaled under (for steps started outside `step`). */
  stepStart(request: StepRequest): NewApproval['step'] {
    return this.identity(request, hashCanonical(request.input));
  }

  /** A step's journal identity, starting now: the attempt after the recorded one, if any. */
  private identity(request: StepRequest, inputHash: string): NewApproval['step'] {
    return {
      seq: request.seq,
      parentSeq: request.parentSeq ?? null,
      kind: request.kind,
      name: request.name,
      inputHash,
      attempt: (this.recorded.get(request.seq)?.attempt ?? 0) + 1,
      startedAt: new Date(this.options.clock.now()),
      meta: request.meta ?? null,
    };
  }

  /** Approvals of this run, to find decisions taken while it waited. */
  listApprovals(): Promise<ApprovalRecord[]> {
    return this.write(() => this.options.store.listApprovals({ runId: this.runId, limit: 500 }));
  }

  /**
   * Suspends the run on approvals (fenced; see `JournalStore.suspendForApproval`). After this
   * the execution must end without finishing the run: it no longer holds the lease.
   */
  suspendForApproval(approvals: readonly NewApproval[]): Promise<ApprovalRecord[]> {
    return this.write(() => this.options.store.suspendForApproval(this.options.lease, { approvals }));
  }

  /**
   * Releases the run to wait `delayMs` for a provider (fenced; see `JournalStore.waitForRetry`),
   * journaling `request`'s step as started with `attempts` and `meta`. After this the execution
   * must end without finishing the run: it no longer holds the lease.
   */
  waitForRetry({
    request,
    attempts,
    meta,
    delayMs,
    error,
  }: {
    request: StepRequest;
    attempts: number;
    meta: Record<string, unknown>;
    delayMs: number;
    error: SerializedError;
  }): Promise<RunRecord> {
    const step = {
      ...this.identity(request, hashCanonical(request.input)),
      attempt: attempts,
      meta: { ...request.meta, ...meta },
    };
    return this.write(() =>
      this.options.store.waitForRetry(this.options.lease, {
        step,
        delayMs,
        reason: error.code,
        message: this.options.redact ? this.options.redact(error.message) : error.message,
      }),
    );
  }

  /** Records the agent version executing the run and, on a deploy, the change (fenced, retried). */
  recordAgentVersion(input: { version: AgentVersion; change?: AgentVersionChange }): Promise<void> {
    return this.write(() => this.options.store.recordAgentVersion(this.options.lease, input));
  }

  /** Ends the run with its stop reason and totals (fenced, retried like any journal write). */
  finish(end: RunEnd): Promise<RunRecord> {
    const { redact } = this.options;
    const stored = redact
      ? {
          ...end,
          output: redactValue(end.output, redact),
          error: end.error && redactValue(end.error, redact),
        }
      : end;
    return this.write(() => this.options.store.finishRun(this.options.lease, stored));
  }

  /** A step's outcome as the journal stores it: redacted when the run has rules. */
  private stored(outcome: StepOutcome): StepOutcome {
    const { redact } = this.options;
    if (!redact) return outcome;
    return {
      ...outcome,
      ...(outcome.output === undefined ? {} : { output: redactValue(outcome.output, redact) }),
      ...(outcome.meta === undefined ? {} : { meta: redactValue(outcome.meta, redact) }),
      ...(outcome.status === 'failed' ? { error: redactValue(outcome.error, redact) } : {}),
    } as StepOutcome;
  }

  /**
   * Retries a journal write through database outages for as long as the lease may still be
   * ours; a fencing failure is final. Writes are idempotent per (run, seq), so a retry after an
   * ambiguous failure (sent, but the answer was lost) cannot duplicate an entry.
   */
  private async write<T>(operation: () => Promise<T>): Promise<T> {
    const { isLeaseValid = () => true, lease } = this.options;
    for (let attempt = 0; ; attempt++) {
      try {
        return await operation();
      } catch (error) {
        const unavailable =
          error instanceof DatabaseUnavailableError ||
          (isKeelError(error) && error.code === 'database_unavailable');
        if (!unavailable) throw error;
        if (!isLeaseValid()) throw new LeaseLostError(lease.runId, lease.fence);
        await sleep(fullJitterDelay({ attempt, baseMs: 50, capMs: 2_000 }));
      }
    }
  }
}

/**
 * A step's earlier executions once this one committed, as the journal's `startStep` records them
 * (see migration 14): a started row that this execution's own start replaced is appended.
 */
function priorExecutionsAfter(recorded: StepRecord | undefined, journalStart: boolean): PriorStepExecution[] {
  if (recorded === undefined) return [];
  if (!journalStart || recorded.status !== 'started') return recorded.priorExecutions;
  return [
    ...recorded.priorExecutions,
    {
      attempt: recorded.attempt,
      startedAt: recorded.startedAt,
      end:
        recorded.meta?.waited === true
          ? 'waited'
          : recorded.meta?.released === true
            ? 'released'
            : 'abandoned',
    },
  ];
}

function replayedResult(step: StepRecord): StepResult {
  const usage = step.usage ?? undefined;
  const costUsd = step.costUsd ?? undefined;
  const meta = step.meta ?? undefined;
  if (step.status === 'failed') {
    return {
      status: 'failed',
      error: step.error ?? {
        code: 'unknown',
        message: 'failed step without error',
        fault: 'system',
        retryable: false,
      },
      output: step.output,
      usage,
      costUsd,
      meta,
      replayed: true,
      attempt: step.attempt,
    };
  }
  return {
    status: 'completed',
    output: step.output,
    usage,
    costUsd,
    meta,
    replayed: true,
    attempt: step.attempt,
  };
}
