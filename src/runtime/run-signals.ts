import { KeelError } from '../errors/keel-error.js';

/** Abort reason: the run passed its `deadlineMs`. */
export class DeadlineExceededError extends KeelError {
  constructor(runId: string, deadlineMs: number) {
    super({
      code: 'deadline_exceeded',
      message: `Run ${runId} passed its deadline of ${deadlineMs} ms.`,
      fault: 'caller',
      details: { runId, deadlineMs },
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
