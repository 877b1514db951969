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

/** Observers called in order, as one. */
export function combineTelemetry(...observers: readonly (RunTelemetry | undefined)[]): RunTelemetry {
  const present = observers.filter((observer): observer is RunTelemetry => observer !== undefined);
  return {
    runClaimed: (run, steps, claim) =>
      present.forEach((observer) => observer.runClaimed?.(run, steps, claim)),
    stepCommitted: (run, step) => present.forEach((observer) => observer.stepCommitted?.(run, step)),
    runEnded: (run) => present.forEach((observer) => observer.runEnded?.(run)),
    runReleased: (run, reason) => present.forEach((observer) => observer.runReleased?.(run, reason)),
  };
}

/**
 * `telemetry` with every call guarded: an observer that throws is logged (once per method) and
 * ignored, so observability can never fail or stall the run it observes.
 */
export function guardTelemetry(telemetry: RunTelemetry, logger: Logger): Required<RunTelemetry> {
  const reported = new Set<string>();
  const guard =
    <A extends unknown[]>(name: keyof RunTelemetry, call: ((...args: A) => void) | undefined) =>
    (...args: A): void => {
      if (call === undefined) return;
      try {
        call(...args);
      } catch (error) {
        if (reported.has(name)) return;
        reported.add(name);
        logger.warn('a telemetry observer failed; ignored (the run goes on)', {
          method: name,
          error: serializeError(error),
        });
      }
    };
  return {
    runClaimed: guard('runClaimed', telemetry.runClaimed?.bind(telemetry)),
    stepCommitted: guard('stepCommitted', telemetry.stepCommitted?.bind(telemetry)),
    runEnded: guard('runEnded', telemetry.runEnded?.bind(telemetry)),
    runReleased: guard('runReleased', telemetry.runReleased?.bind(telemetry)),
  };
}
