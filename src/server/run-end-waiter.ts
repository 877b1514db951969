/**
 * Waits for runs to end, for `POST /v1/runs?wait=N`: one LISTEN subscription per server process
 * (`store.onRunEnded`, opened on first use) fans out to the requests waiting on each run, so a
 * waiting request answers as soon as any worker, on any replica, finishes its run.
 *
 * A notification can be missed (the LISTEN connection dropped and is reconnecting, or the
 * subscription is still being set up): every wait is also capped by `recheckMs`, after which the
 * caller re-reads the run. Callers must register (`watch`) BEFORE they read the run's status, so a
 * run ending between the read and the wait still wakes them.
 */
import type { JournalStore } from '../journal/store.js';
import { createWakeSignal } from '../runtime/wake-signal.js';
import type { Logger } from '../util/logger.js';

/** One request's registration: wait for the run's end, then dispose. */
export interface RunEndWatch {
  /** Resolves when the run ended (per notification), after `ms`, or when `signal` aborts. */
  wait(ms: number, signal?: AbortSignal): Promise<void>;
  dispose(): void;
}

/** See the file comment. */
export interface RunEndWaiter {
  watch(runId: string): RunEndWatch;
  /** Unsubscribes from the store. */
  close(): Promise<void>;
}

/** Options of {@link createRunEndWaiter}. */
export interface RunEndWaiterOptions {
  store: Pick<JournalStore, 'onRunEnded'>;
  logger: Logger;
}

/** Creates the waiter of a server process; see the file comment. */
export function createRunEndWaiter({ store, logger }: RunEndWaiterOptions): RunEndWaiter {
  const watchers = new Map<string, Set<() => void>>();
  let subscription: Promise<(() => Promise<void>) | undefined> | undefined;
  let closed = false;

  const subscribe = () => {
    subscription ??= store
      .onRunEnded((runId) => {
        for (const wake of watchers.get(runId) ?? []) wake();
      })
      .catch((error: unknown) => {
        // Waits still end by re-reading the run; the next watch tries to subscribe again.
        logger.warn('run-end notifications unavailable; ?wait falls back to re-reading runs', {
          error: error instanceof Error ? error.message : String(error),
        });
        subscription = undefined;
        return undefined;
      });
  };

  return {
    watch(runId) {
      if (!closed) subscribe();
      const signal = createWakeSignal();
      const wake = () => signal.notify();
      let set = watchers.get(runId);
      if (set === undefined) watchers.set(runId, (set = new Set()));
      set.add(wake);
      return {
        async wait(ms, abort) {
          if (abort?.aborted) return;
          const onAbort = () => signal.notify();
          abort?.addEventListener('abort', onAbort, { once: true });
          try {
            await signal.wait(ms);
          } finally {
            abort?.removeEventListener('abort', onAbort);
          }
        },
        dispose() {
          const current = watchers.get(runId);
          current?.delete(wake);
          if (current?.size === 0) watchers.delete(runId);
        },
      };
    },

    async close() {
      closed = true;
      const unsubscribe = await subscription;
      subscription = undefined;
      await unsubscribe?.();
    },
  };
}
