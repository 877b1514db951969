import { TooManyStreamsError } from '../errors/auth-errors.js';

/** Default number of event streams one API key may hold open on one server. */
export const DEFAULT_MAX_STREAMS_PER_KEY = 16;

/** Open event streams counted per API key, against a cap. */
export interface StreamSlots {
  /**
   * Takes a slot of `keyId`; throws `TooManyStreamsError` (429 `too_many_streams`) when it holds
   * them all. Returns the function that gives it back (calling it again does nothing).
   */
  acquire(keyId: string): () => void;
  /** Slots held by `keyId` now. */
  held(keyId: string): number;
}

/**
 * Event streams are long-lived and each polls the journal, so one key could open thousands and
 * slow every tenant (memory, database reads, sockets). The count is this process's: behind a load
 * balancer a key may hold `maxPerKey` streams on each replica.
 */
export function createStreamSlots({
  maxPerKey = DEFAULT_MAX_STREAMS_PER_KEY,
}: { maxPerKey?: number } = {}): StreamSlots {
  const open = new Map<string, number>();
  return {
    acquire(keyId) {
      const count = open.get(keyId) ?? 0;
      if (count >= maxPerKey) throw new TooManyStreamsError(maxPerKey);
      open.set(keyId, count + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (open.get(keyId) ?? 1) - 1;
        if (left <= 0) open.delete(keyId);
        else open.set(keyId, left);
      };
    },
    held: (keyId) => open.get(keyId) ?? 0,
  };
}
