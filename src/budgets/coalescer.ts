/**
 * Coalesces concurrent requests of one process into batches: the requests submitted while
 * `maxInFlight` batches are already out wait and go together in the next one. Made for budget
 * reservations and settlements on a hot budget, where every call locks the same counter row
 * until its commit: a batch takes that lock (and pays that commit) once for all its calls.
 *
 * No timer: a request submitted when fewer than `maxInFlight` batches are out leaves at the end
 * of the current tick (with whatever else was submitted in it), so a lone call waits for nothing.
 * A batch of one goes through `runOne`. When a batch fails with anything but an unreachable
 * database (`DatabaseUnavailableError`), each of its requests is retried alone, in order, through `runOne`,
 * so one bad request fails only itself; an unreachable database fails them all (fail closed).
 */
import { DatabaseUnavailableError } from '../errors/storage-errors.js';

/** Options of {@link createCoalescer}. */
export interface CoalescerOptions<Request, Result> {
  /** Runs many requests in one statement: one result per request, in the same order. */
  runBatch(requests: readonly Request[]): Promise<Result[]>;
  /** Runs one request alone. */
  runOne(request: Request): Promise<Result>;
  /** Most requests in one batch (default 64). */
  maxBatchSize?: number;
  /** Most batches out at once (default 2). */
  maxInFlight?: number;
}

/** Submits requests to be coalesced. */
export interface Coalescer<Request, Result> {
  submit(request: Request): Promise<Result>;
}

interface Pending<Request, Result> {
  request: Request;
  resolve(result: Result): void;
  reject(error: unknown): void;
}

/** Creates a coalescer over a batch and a single runner. */
export function createCoalescer<Request, Result>({
  runBatch,
  runOne,
  maxBatchSize = 64,
  maxInFlight = 2,
}: CoalescerOptions<Request, Result>): Coalescer<Request, Result> {
  const queue: Pending<Request, Result>[] = [];
  let inFlight = 0;
  let scheduled = false;

  const settleOne = (pending: Pending<Request, Result>) =>
    runOne(pending.request).then(pending.resolve, pending.reject);

  const send = async (batch: Pending<Request, Result>[]) => {
    if (batch.length === 1) return settleOne(batch[0] as Pending<Request, Result>);
    let results: Result[];
    try {
      results = await runBatch(batch.map((pending) => pending.request));
    } catch (error) {
      if (error instanceof DatabaseUnavailableError) {
        for (const pending of batch) pending.reject(error);
        return;
      }
      // Nothing of the failed batch was kept (one statement): each request on its own, in order.
      for (const pending of batch) await settleOne(pending);
      return;
    }
    batch.forEach((pending, index) => {
      if (index < results.length) pending.resolve(results[index] as Result);
      else pending.reject(new Error('batch returned fewer results than requests'));
    });
  };

  const flush = () => {
    scheduled = false;
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = queue.splice(0, maxBatchSize);
      inFlight++;
      void send(batch).finally(() => {
        inFlight--;
        flush();
      });
    }
  };

  return {
    submit(request) {
      return new Promise<Result>((resolve, reject) => {
        queue.push({ request, resolve, reject });
        if (!scheduled && inFlight < maxInFlight) {
          scheduled = true;
          queueMicrotask(flush);
        }
      });
    },
  };
}
