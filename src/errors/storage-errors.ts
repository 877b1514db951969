import { KeelError } from './keel-error.js';

/** The database cannot be reached (down at start, or dropped mid-run). Retryable. */
export class DatabaseUnavailableError extends KeelError {
  constructor(message: string, cause?: unknown) {
    super({ code: 'database_unavailable', message, fault: 'system', retryable: true, cause });
  }
}

/**
 * A journal write was refused because this worker no longer holds the run's lease: another worker
 * claimed it with a newer fencing token. The stale worker must stop working on the run.
 */
export class LeaseLostError extends KeelError {
  constructor(runId: string, fence: number) {
    super({
      code: 'lease_lost',
      message: `Run ${runId}: lease lost (fencing token ${fence} is stale); another worker owns the run.`,
      fault: 'system',
      details: { runId, fence },
    });
  }
}

/** The schema in the database is newer than this code knows, or migrations are missing. */
export class MigrationError extends KeelError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super({ code: 'migration_error', message, fault: 'system', details });
  }
}

/** A stored string starts with the escape marker but is not an escaped string (journal/storable-json.ts). */
export class JournalCorruptError extends KeelError {
  constructor(message: string) {
    super({ code: 'journal_corrupt', message, fault: 'system' });
  }
}

/** A run id that does not exist (or belongs to another tenant). */
/** An `Idempotency-Key` sent again with a different request than the run it created (HTTP 422). */
export class IdempotencyKeyReusedError extends KeelError {
  constructor(runId: string) {
    super({
      code: 'idempotency_key_reused',
      message: `This Idempotency-Key was used for a different request (run ${runId}); use a new key for a new request.`,
      fault: 'caller',
      details: { runId },
    });
  }
}

/** A run id that does not exist (or belongs to another tenant): `run_not_found`. */
export class RunNotFoundError extends KeelError {
  constructor(runId: string) {
    super({ code: 'run_not_found', message: `Run ${runId} not found.`, fault: 'caller', details: { runId } });
  }
}

/**
 * A retry of a run that is not dead (HTTP 409): still live (queued, running, waiting, awaiting
 * approval) or ended otherwise than with stop reason `error` (completed, cancelled, a limit).
 */
export class RunNotDeadError extends KeelError {
  constructor(runId: string, status: string, stopReason: string | null) {
    super({
      code: 'run_not_dead',
      message:
        `Run ${runId} is ${status}${stopReason ? ` (stop reason ${stopReason})` : ''}: ` +
        `only a run that ended with stop reason error can be retried.`,
      fault: 'caller',
      details: { runId, status, stopReason },
    });
  }
}

/** A retry of a dead run that was already retried (HTTP 409): retry the retry if it died too. */
export class RunAlreadyRetriedError extends KeelError {
  constructor(runId: string, retriedBy: string) {
    super({
      code: 'run_already_retried',
      message: `Run ${runId} was already retried by run ${retriedBy}; retry that run if it failed too.`,
      fault: 'caller',
      details: { runId, retriedBy },
    });
  }
}

/** A step a run does not have (or a step number that cannot exist: not an integer from 0). */
export class StepNotFoundError extends KeelError {
  constructor(runId: string, seq: string) {
    super({
      code: 'step_not_found',
      message: `Run ${runId} has no step ${seq}.`,
      fault: 'caller',
      details: { runId, seq },
    });
  }
}
