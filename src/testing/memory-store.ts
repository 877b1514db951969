import { openStore } from '../journal/open-store.js';
import type { JournalStore } from '../journal/store.js';
import type { Clock } from '../util/clock.js';
import type { IdGenerator } from '../util/ids.js';

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
  schema?: string;
  /** Stamps runs' `created_at` (e.g. a fake clock). Default: the system clock. */
  clock?: Clock;
  /** Makes the ids of runs and approvals (called with the prefix `run` or `apr`). Default: time-ordered random ids. */
  generateId?: IdGenerator;
}

/**
 * A journal store in memory: a real Postgres (PGlite) with no files, migrated and ready. The
 * same SQL as production runs underneath, so tests exercise the real store, not an imitation.
 */
export async function createMemoryStore({
  schema,
  clock,
  generateId,
}: MemoryStoreOptions = {}): Promise<JournalStore> {
  const { store } = await openStore({
    dataDir: 'memory://',
    ...(schema ? { schema } : {}),
    ...(clock ? { clock } : {}),
    ...(generateId ? { generateId } : {}),
  });
  return store;
}
