import type { SqlClient } from './sql-client.js';
import type { JournalStore } from './store.js';

/** Makes a store identical to another one (schema, ids, clock) whose statements run on `client`. */
export type StoreOnClient = (client: SqlClient) => JournalStore;

/**
 * A global symbol, so a store is recognised by any copy of this module (two installs of Keel,
 * tests that reload modules).
 */
const STORE_ON_CLIENT = Symbol.for('keel.journal.storeOnClient');

/**
 * Records on `store` how to make the same store over another client (e.g. a transaction's, see
 * `bindClientToTransaction`). The property is not enumerable: a wrapper that copies the store's
 * methods does not inherit it, so a store that overrides some of them is never bypassed.
 */
export function setStoreOnClient<Store extends object>(store: Store, storeOn: StoreOnClient): Store {
  Object.defineProperty(store, STORE_ON_CLIENT, { value: storeOn, enumerable: false });
  return store;
}

/** What `setStoreOnClient` recorded on `store`, if anything. */
export function getStoreOnClient(store: object): StoreOnClient | undefined {
  const storeOn = (store as { [STORE_ON_CLIENT]?: unknown })[STORE_ON_CLIENT];
  return typeof storeOn === 'function' ? (storeOn as StoreOnClient) : undefined;
}
