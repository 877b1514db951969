import { openStore } from '../journal/open-store.js';
import type { JournalStore } from '../journal/store.js';

/**
 * A journal store in memory: a real Postgres (PGlite) with no files, migrated and ready. The
 * same SQL as production runs underneath, so tests exercise the real store, not an imitation.
 */
export async function createMemoryStore({ schema }: { schema?: string } = {}): Promise<JournalStore> {
  const { store } = await openStore({ dataDir: 'memory://', ...(schema ? { schema } : {}) });
  return store;
}
