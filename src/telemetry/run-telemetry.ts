import { serializeError } from '../errors/keel-error.js';
import type { RunRecord, StepRecord } from '../journal/types.js';
import type { Logger } from '../util/logger.js';

/** How a run was claimed (see `ClaimedRun`). */
export interface RunClaim {
  /** The claim took over an earlier execution's expired lease. */
  leaseRecovered: boolean;
}

/** Why an execution stopped without ending its run. */
export type RunReleaseReason = 'approval' | 'waiting' | 'draining' | 'lease_lost' | 'interrupted';

/**
 * What a worker tells observers (trace export, metrics) about the runs it executes. Every call
 * reports a fact the journal has already committed, so an observer never sees a step that a
 * crash could take back; steps replayed from the journal are not reported again.
 *
 * Observers are called synchronously on the run's path: they must only note the fact and do any
 * work (export, aggregation) later. A throwing observer is logged and ignored, never fails a run
 * (see `guardTelemetry`).
 */
export interface RunTelemetry {
  /**
   * A worker claimed `run`, whose journal so far is `steps` (loaded without outputs' bodies
   * mattering). `run.attempts > 1` means an earlier execution stopped without ending the run;
   * `claim.leaseRecovered` that this claim took the run over from an execution whose lease
   * expired (a dead or stalled worker), not after a drain or a wait for a provider.
   */
  runClaimed?(run: RunRecord, steps: readonly StepRecord[], claim?: RunClaim): void;
  /** A step's row was committed by this execution, as the journal now holds it. */
  stepCommitted?(run: RunRecord, step: StepRecord): void;
  /** The run ended; `run` is its finished row. */
  runEnded?(run: RunRecord): void;
  /** This execution stopped without ending the run (it resumes elsewhere or later). */
  runReleased?(run: RunRecord, reason: RunReleaseReason): void;
}

const OBSERVERS = Symbol('keel.telemetryObservers');

/** Telemetry made by `combineTelemetry`: it keeps its observers so each can be guarded alone. */
type CombinedTelemetry = RunTelemetry & { readonly [OBSERVERS]: readonly RunTelemetry[] };

/**
 * Observers called in order, as one. Each call is made to every observer: one that throws does
 * not keep the next from hearing of it (the first error is rethrown once all were called; under
 * `guardTelemetry` each observer is guarded and logged on its own).
 */
export function combineTelemetry(...observers: readonly (RunTelemetry | undefined)[]): RunTelemetry {
  const present = observers.flatMap((observer) => (observer === undefined ? [] : observersOf(observer)));
  const each = (call: (observer: RunTelemetry) => void): void => {
    let failure: { error: unknown } | undefined;
    for (const observer of present) {
      try {
        call(observer);
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure !== undefined) throw failure.error;
  };
  const combined: CombinedTelemetry = {
    [OBSERVERS]: present,
    runClaimed: (run, steps, claim) => each((observer) => observer.runClaimed?.(run, steps, claim)),
    stepCommitted: (run, step) => each((observer) => observer.stepCommitted?.(run, step)),
    runEnded: (run) => each((observer) => observer.runEnded?.(run)),
    runReleased: (run, reason) => each((observer) => observer.runReleased?.(run, reason)),
  };
  return combined;
}

const observersOf = (telemetry: RunTelemetry): readonly RunTelemetry[] =>
  OBSERVERS in telemetry ? (telemetry as CombinedTelemetry)[OBSERVERS] : [telemetry];

/** How often a failing observer's method is logged at most. */
export const TELEMETRY_FAILURE_LOG_INTERVAL_MS = 60_000;

/**
 * `telemetry` with every call guarded: an observer that throws is logged and ignored, so
 * observability can never fail or stall the run it observes. The observers of a combination
 * (`combineTelemetry`) are guarded one by one: a throwing one (say metrics) does not keep the
 * next (say trace export) from the call. A failure is logged at most once a minute per observer
 * and method, with the number of failures left unlogged since.
 */
export function guardTelemetry(
  telemetry: RunTelemetry,
  logger: Logger,
  now: () => number = Date.now,
): Required<RunTelemetry> {
  const guarded = observersOf(telemetry).map((observer, index) => {
    const lastLogged = new Map<string, number>();
    const unlogged = new Map<string, number>();
    const guard =
      <A extends unknown[]>(name: keyof RunTelemetry, call: ((...args: A) => void) | undefined) =>
      (...args: A): void => {
        if (call === undefined) return;
        try {
          call(...args);
        } catch (error) {
          const at = now();
          const last = lastLogged.get(name);
          if (last !== undefined && at - last < TELEMETRY_FAILURE_LOG_INTERVAL_MS) {
            unlogged.set(name, (unlogged.get(name) ?? 0) + 1);
            return;
          }
          lastLogged.set(name, at);
          const suppressed = unlogged.get(name) ?? 0;
          unlogged.delete(name);
          logger.warn('a telemetry observer failed; ignored (the run goes on)', {
            observer: index,
            method: name,
            error: serializeError(error),
            ...(suppressed > 0 ? { failuresSinceLastLog: suppressed } : {}),
          });
        }
      };
    return {
      runClaimed: guard('runClaimed', observer.runClaimed?.bind(observer)),
      stepCommitted: guard('stepCommitted', observer.stepCommitted?.bind(observer)),
      runEnded: guard('runEnded', observer.runEnded?.bind(observer)),
      runReleased: guard('runReleased', observer.runReleased?.bind(observer)),
    };
  });
  return {
    runClaimed: (run, steps, claim) => guarded.forEach((observer) => observer.runClaimed(run, steps, claim)),
    stepCommitted: (run, step) => guarded.forEach((observer) => observer.stepCommitted(run, step)),
    runEnded: (run) => guarded.forEach((observer) => observer.runEnded(run)),
    runReleased: (run, reason) => guarded.forEach((observer) => observer.runReleased(run, reason)),
  };
}
