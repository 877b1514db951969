import type { SqlClient, SqlDialect, SqlExecutor } from './sql-client.js';

/**
 * A `SqlClient` view of a transaction in progress, so that code written against a client (a
 * store built by `createSqlJournalStore`, say) runs its statements on that transaction's one
 * connection, inside it:
 * - `query` and `exec` run on `tx`;
 * - `transaction(fn)` runs `fn` in a savepoint of `tx` (`SAVEPOINT`, then `RELEASE` when `fn`
 *   resolves or `ROLLBACK TO` when it throws), so a nested transaction that fails undoes its own
 *   statements only, as it would on its own; the outer transaction decides what commits;
 * - `notify` sends on `tx`: delivered when the outer transaction commits, dropped if it rolls back;
 * - `listen` is refused: a subscription is not transactional and would outlive the view;
 * - `close` ends the view, not the connection (the transaction owns it): every call afterwards
 *   throws. Close the view when the transaction ends, so that a late call cannot reach a
 *   connection that has gone back to the pool.
 *
 * Like the transaction itself, the view runs one thing at a time: do not start a nested
 * transaction while another one of the same view is in progress.
 */
export function bindClientToTransaction(tx: SqlExecutor, { dialect }: { dialect: SqlDialect }): SqlClient {
  let closed = false;
  let savepoints = 0;
  const open = () => {
    if (closed) throw new Error('This client is bound to a transaction that has ended.');
  };
  const executor: SqlExecutor = {
    async query(sql, params) {
      open();
      return tx.query(sql, params);
    },
    async exec(sql) {
      open();
      await tx.exec(sql);
    },
  };
  return {
    dialect,
    query: executor.query,
    exec: executor.exec,
    async transaction(fn) {
      open();
      // Unique within the transaction, so a nested transaction never releases someone else's.
      const savepoint = `keel_savepoint_${++savepoints}`;
      await tx.query(`SAVEPOINT ${savepoint}`);
      let result;
      try {
        result = await fn(executor);
      } catch (error) {
        // If this fails too, the connection is broken and the outer transaction fails anyway.
        await tx.exec(`ROLLBACK TO SAVEPOINT ${savepoint}; RELEASE SAVEPOINT ${savepoint}`).catch(() => {});
        throw error;
      }
      await tx.query(`RELEASE SAVEPOINT ${savepoint}`);
      return result;
    },
    listen() {
      return Promise.reject(
        new Error('A client bound to a transaction cannot listen: subscribe on the client itself.'),
      );
    },
    async notify(channel, payload) {
      await executor.query('SELECT pg_notify($1, $2)', [channel, payload]);
    },
    async close() {
      closed = true;
    },
  };
}
