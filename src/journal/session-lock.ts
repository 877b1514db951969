import type { SqlClient } from './sql-client.js';
import { bindClientToTransaction } from './transaction-client.js';

/**
 * The tail of each (tenant, session)'s chain of locked sections, per database client: stores
 * over the same client (one process's view of the database) wait for each other; stores over
 * different clients (other replicas) are serialized by the advisory lock alone.
 */
const sectionChains = new WeakMap<object, Map<string, Promise<unknown>>>();

/**
 * Runs `section` holding the lock of one (tenant, session): never concurrently with another
 * section for the same pair on the same client, nor, on Postgres, on any client of the database.
 *
 * On Postgres the section runs in a transaction that first takes
 * `pg_advisory_xact_lock(hashtextextended(tenant || ':' || session, 0))`, and gets `client`
 * bound to that transaction: its statements run on the lock's one connection and commit (with
 * their notifications) when the lock is released. A locked section thus holds one pooled
 * connection and needs no other, so a burst of sections on many sessions only queues for the
 * pool, however small, and never deadlocks it. On PGlite (one connection, one process) the
 * in-process lock is enough and `section` gets `client` itself.
 */
export function withSessionLock<T>(
  client: SqlClient,
  { tenantId, sessionId }: { tenantId: string; sessionId: string },
  section: (client: SqlClient) => Promise<T>,
): Promise<T> {
  return inProcess(client, `${tenantId}\u0000${sessionId}`, () => {
    if (client.dialect !== 'postgres') return section(client);
    return client.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))", [
        tenantId,
        sessionId,
      ]);
      const bound = bindClientToTransaction(tx, client);
      try {
        return await section(bound);
      } finally {
        await bound.close();
      }
    });
  });
}

/** Runs `fn` once every earlier call with the same `key` on `client` has settled. */
async function inProcess<T>(client: object, key: string, fn: () => Promise<T>): Promise<T> {
  let chains = sectionChains.get(client);
  if (chains === undefined) sectionChains.set(client, (chains = new Map()));
  const previous = chains.get(key) ?? Promise.resolve();
  const result = previous.then(fn, fn);
  const tail = result.then(
    () => undefined,
    () => undefined,
  );
  chains.set(key, tail);
  try {
    return await result;
  } finally {
    if (chains.get(key) === tail) chains.delete(key);
  }
}
