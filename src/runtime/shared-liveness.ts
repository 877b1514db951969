import { hostname } from 'node:os';
import type { JournalStore } from '../journal/store.js';
import type { LivenessHold } from '../journal/types.js';
import { createId } from '../util/ids.js';

/** How long a shared liveness lock outlives its last user, so back-to-back runs reuse it. */
export const SHARED_LIVENESS_LINGER_MS = 2_000;

interface Shared {
  owner: string;
  /** The lock while taken or held; undefined once given back. */
  lock: Promise<LivenessHold | undefined> | undefined;
  users: number;
  timer: NodeJS.Timeout | undefined;
}

const sharedByStore = new WeakMap<JournalStore, Shared>();

/**
 * One liveness owner per store for the short-lived workers `runAgent` starts, one per run: each
 * would otherwise take and give back a lock of its own (two round trips a run). They share an
 * owner (fencing is per run and lease, so two runs under one owner stay apart); the lock is taken
 * by the first and given back once no run has used it for `SHARED_LIVENESS_LINGER_MS`. A run
 * left `running` under it (a worker stopped past its drain timeout whose hand-back failed) is
 * taken over when the lock is given back or its lease expires, whichever comes first; a process
 * that dies loses the lock at once as ever.
 */
export function sharedLiveness(store: JournalStore): {
  owner: string;
  hold(): Promise<LivenessHold | undefined>;
} {
  let shared = sharedByStore.get(store);
  if (shared === undefined) {
    shared = {
      owner: `${hostname()}:${process.pid}:${createId('r').slice(-8)}`,
      lock: undefined,
      users: 0,
      timer: undefined,
    };
    sharedByStore.set(store, shared);
  }
  const current = shared;
  return {
    owner: current.owner,
    async hold() {
      current.users++;
      clearTimeout(current.timer);
      current.timer = undefined;
      const pending = (current.lock ??= store.holdLiveness(current.owner));
      let lock: LivenessHold | undefined;
      try {
        lock = await pending;
      } catch (error) {
        current.users--;
        // Only the failed attempt is forgotten, not a newer one another caller started since.
        if (current.lock === pending) current.lock = undefined;
        throw error;
      }
      if (lock === undefined) {
        current.users--;
        return undefined;
      }
      let released = false;
      return {
        isHeld: () => lock.isHeld(),
        async release() {
          if (released) return;
          released = true;
          if (--current.users > 0) return;
          current.timer = setTimeout(() => {
            current.timer = undefined;
            if (current.users > 0) return;
            current.lock = undefined;
            void lock.release().catch(() => {});
          }, SHARED_LIVENESS_LINGER_MS);
          current.timer.unref();
        },
      };
    },
  };
}
