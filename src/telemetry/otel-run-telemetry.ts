import { serializeError } from '../errors/keel-error.js';
import type { RunRecord, StepRecord } from '../journal/types.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { runSpan, stepSpans, toolCallArgumentsOf, type JournalSpanOptions } from './journal-spans.js';
import type { OtelExportMarks } from './otel-export-marks.js';
import type { RunTelemetry } from './run-telemetry.js';
import type { QueuedSpans } from './span-export-queue.js';

/** Options of {@link createOtelRunTelemetry}. */
export interface OtelRunTelemetryOptions {
  /** Where spans go (the export queue's `add`). */
  enqueue: (entry: QueuedSpans) => void;
  /** The runs' export marks; without them a resumed run re-emits nothing. */
  marks?: OtelExportMarks;
  spans: JournalSpanOptions;
  logger?: Logger;
  /** Released runs whose export state is kept in memory at most (default 10,000). */
  maxTrackedRuns?: number;
}

/** The journal-to-spans observer, plus the hook its export queue calls after each accepted batch. */
export interface OtelRunTelemetry extends Required<RunTelemetry> {
  /** Advances the export marks of the live runs in `entries` (the queue's `onExported`). */
  exported(entries: readonly QueuedSpans[]): Promise<void>;
}

interface RunState {
  run: RunRecord;
  /** Steps whose spans this process queued (above `mark`). */
  emitted: Set<number>;
  /** Steps known exported above `mark` (by this process, or by another as the marks say). */
  exported: Set<number>;
  /** Every step at or below it was exported (-1: none known). */
  mark: number;
  /** Seqs of the run's model steps, for the parent of tool steps. */
  modelSeqs: number[];
  /** Tool call id → arguments, from model responses (content capture only). */
  toolArguments: Map<string, string>;
}

/**
 * Turns what a worker reports (claims, committed steps, ends) into spans (see journal-spans.ts)
 * queued for export, and keeps the export marks that let a resuming worker re-emit what a dead
 * one never exported:
 *
 * - A committed step is queued once, by the execution that committed it.
 * - A claim that recovered an expired lease (`claim.leaseRecovered`: the last execution died or
 *   stalled) reads the run's mark and queues the finished steps it does not cover (their
 *   committer died before exporting them), except those this process queued itself. A claim
 *   after a release (drain, provider wait, approval) queues nothing again: the releasing
 *   process's queue still holds and sends what it committed.
 * - After an accepted batch, the marks of the runs still live are advanced in one statement. An
 *   ended run's mark is never written: no one resumes it.
 *
 * Every method only notes facts and queues work; the one database read (on a resumed claim) and
 * all writes happen off the run's path, and their failures are logged, never thrown.
 */
export function createOtelRunTelemetry({
  enqueue,
  marks,
  spans: spanOptions,
  logger = silentLogger,
  maxTrackedRuns = 10_000,
}: OtelRunTelemetryOptions): OtelRunTelemetry {
  const states = new Map<string, RunState>();
  let markFailureLogged = false;

  const stateOf = (run: RunRecord): RunState => {
    let state = states.get(run.id);
    if (state === undefined) {
      state = {
        run,
        emitted: new Set(),
        exported: new Set(),
        mark: -1,
        modelSeqs: [],
        toolArguments: new Map(),
      };
      states.set(run.id, state);
      if (states.size > maxTrackedRuns) states.delete(states.keys().next().value!);
    } else state.run = run;
    return state;
  };

  const learn = (state: RunState, step: StepRecord) => {
    if (step.kind !== 'model') return;
    if (!state.modelSeqs.includes(step.seq)) {
      state.modelSeqs.push(step.seq);
      state.modelSeqs.sort((a, b) => a - b);
    }
    if (spanOptions.captureContent && step.output !== undefined)
      for (const [id, args] of toolCallArgumentsOf(step.output)) state.toolArguments.set(id, args);
  };

  const parentOf = (state: RunState, step: StepRecord): number | null => {
    if (step.parentSeq !== null) return step.parentSeq;
    if (step.kind === 'model') return null;
    let parent: number | null = null;
    for (const seq of state.modelSeqs) if (seq < step.seq) parent = seq;
    return parent;
  };

  /** Queues the spans of a finished step (or, for a kind without spans, counts it exported). */
  const emit = (state: RunState, step: StepRecord) => {
    if (step.seq <= state.mark || state.emitted.has(step.seq)) return;
    state.emitted.add(step.seq);
    const spanKind = step.kind === 'model' || step.kind === 'tool' || step.kind === 'guard';
    if (!spanKind) {
      state.exported.add(step.seq);
      return;
    }
    const run = state.run;
    const callId = typeof step.meta?.toolCallId === 'string' ? step.meta.toolCallId : undefined;
    const context = {
      ...spanOptions,
      parentSeq: parentOf(state, step),
      ...(callId !== undefined && state.toolArguments.has(callId)
        ? { toolArguments: state.toolArguments.get(callId)! }
        : {}),
    };
    enqueue({
      count: 1 + step.priorExecutions.length,
      build: () => stepSpans(run, step, context),
      runId: run.id,
      seq: step.seq,
    });
  };

  /**
   * Learns which finished steps of a resumed run the marks cover; with `reemit` (a recovered
   * lease) also re-emits those they do not.
   */
  const resume = async (state: RunState, finished: readonly StepRecord[], reemit: boolean) => {
    let covered: (seq: number) => boolean = () => false;
    if (marks !== undefined) {
      try {
        const mark = await marks.read(state.run.id);
        const above = new Set(mark.above);
        covered = (seq) => seq <= mark.seq || above.has(seq);
        for (const step of finished)
          if (covered(step.seq) && step.seq > state.mark) state.exported.add(step.seq);
        advanceMark(state);
      } catch (error) {
        // Unknown: re-emitting may duplicate spans (same ids), not re-emitting may lose them.
        logger.warn(
          reemit
            ? 'could not read a run’s span export mark; re-emitting its finished steps'
            : 'could not read a run’s span export mark',
          { runId: state.run.id, error: serializeError(error) },
        );
      }
    }
    if (!reemit) return;
    for (const step of finished) if (!covered(step.seq)) emit(state, step);
  };

  const advanceMark = (state: RunState): boolean => {
    const before = state.mark;
    while (state.exported.has(state.mark + 1)) state.exported.delete(++state.mark);
    for (const seq of state.emitted) if (seq <= state.mark) state.emitted.delete(seq);
    return state.mark !== before;
  };

  return {
    runClaimed(run, steps, claim) {
      const state = stateOf(run);
      for (const step of steps) learn(state, step);
      const finished = steps.filter((step) => step.status !== 'started');
      if (finished.length === 0) return;
      // Only a crash leaves committed steps that no one will export. After a release (drain,
      // provider wait, approval) the releasing process still holds and sends their spans: the
      // marks are read only to know which steps are done, never to queue them a second time.
      void resume(state, finished, claim?.leaseRecovered === true);
    },
    stepCommitted(run, step) {
      const state = stateOf(run);
      learn(state, step);
      emit(state, step);
    },
    runEnded(run) {
      states.delete(run.id);
      enqueue({ count: 1, build: () => [runSpan(run, spanOptions)] });
    },
    runReleased(run) {
      stateOf(run);
    },
    async exported(entries) {
      const touched = new Set<RunState>();
      for (const entry of entries) {
        if (entry.runId === undefined || entry.seq === undefined) continue;
        const state = states.get(entry.runId);
        if (state === undefined) continue; // ended (or forgotten): its mark is of no use
        if (entry.seq > state.mark) state.exported.add(entry.seq);
        touched.add(state);
      }
      if (touched.size === 0 || marks === undefined) return;
      for (const state of touched) advanceMark(state);
      try {
        await marks.advance(
          [...touched].map((state) => ({
            runId: state.run.id,
            seq: state.mark,
            above: [...state.exported].sort((a, b) => a - b),
          })),
        );
        markFailureLogged = false;
      } catch (error) {
        if (markFailureLogged) return;
        markFailureLogged = true;
        logger.warn('could not record span export marks; a resumed run may export some spans again', {
          runs: touched.size,
          error: serializeError(error),
        });
      }
    },
  };
}
