import { KeelError, type SerializedError } from '../errors/keel-error.js';

/**
 * Abort reason: the run passed its `deadlineMs`. With `cause`, the run was waiting out that
 * provider error (`details.cause`) and could not retry before its deadline.
 */
export class DeadlineExceededError extends KeelError {
  constructor(runId: string, deadlineMs: number, cause?: { error: SerializedError; attempts: number }) {
    super({
      code: 'deadline_exceeded',
      message:
        cause === undefined
          ? `Run ${runId} passed its deadline of ${deadlineMs} ms.`
          : `Run ${runId} reaches its deadline of ${deadlineMs} ms before its model call can be retried ` +
            `(${cause.attempts} attempt(s); last error: ${cause.error.message}).`,
      fault: 'caller',
      details:
        cause === undefined
          ? { runId, deadlineMs }
          : { runId, deadlineMs, attempts: cause.attempts, cause: cause.error },
    });
  }
}

/**
 * Not a failure: a model step released the run to wait out a provider error (the store already
 * set it `waiting` with its not-before time and cleared the lease). The execution ends here
 * without finishing the run; any worker resumes it when its time has come.
 */
export class RunWaitingError extends KeelError {
  constructor(runId: string, wait: { reason: string; until: Date; seq: number; attempts: number }) {
    super({
      code: 'run_waiting',
      message: `Run ${runId} waits until ${wait.until.toISOString()} to retry its model call (${wait.reason}).`,
      fault: 'system',
      details: {
        runId,
        reason: wait.reason,
        until: wait.until.toISOString(),
        seq: wait.seq,
        attempts: wait.attempts,
      },
    });
  }
}

/** Abort reason: the worker is shutting down and hands the run back to the queue. */
export class WorkerDrainingError extends KeelError {
  constructor(runId: string) {
    super({
      code: 'worker_draining',
      message: `Run ${runId} was released by a worker shutting down.`,
      fault: 'system',
      retryable: true,
      details: { runId },
    });
  }
}

/**
 * Not a failure: the run suspended on human approvals (the store already set it
 * `awaiting_approval` and cleared the lease). The execution ends here without finishing the run.
 */
export class RunSuspendedError extends KeelError {
  constructor(runId: string, approvalIds: readonly string[]) {
    super({
      code: 'run_suspended',
      message: `Run ${runId} is awaiting approval (${approvalIds.join(', ')}).`,
      fault: 'system',
      details: { runId, approvalIds: [...approvalIds] },
    });
  }
}

/** A signal that aborts when the first of `signals` does, or after `timeoutMs` with `onTimeout()`. */
export function combineSignals({
  signals,
  timeoutMs,
  onTimeout,
}: {
  signals: AbortSignal[];
  timeoutMs?: number;
  onTimeout?: () => unknown;
}): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const cleanups: Array<() => void> = [];
  const abort = (reason: unknown) => {
    if (!controller.signal.aborted) controller.abort(reason);
    dispose();
  };
  for (const source of signals) {
    if (source.aborted) {
      abort(source.reason);
      return { signal: controller.signal, dispose: () => {} };
    }
    const listener = () => abort(source.reason);
    source.addEventListener('abort', listener, { once: true });
    cleanups.push(() => source.removeEventListener('abort', listener));
  }
  if (timeoutMs !== undefined) {
    const timer = setTimeout(
      () => abort(onTimeout ? onTimeout() : new Error(`timed out after ${timeoutMs} ms`)),
      Math.max(0, timeoutMs),
    );
    cleanups.push(() => clearTimeout(timer));
  }
  function dispose() {
    for (const cleanup of cleanups.splice(0)) cleanup();
  }
  return { signal: controller.signal, dispose };
}
