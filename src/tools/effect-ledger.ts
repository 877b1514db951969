import { createHash } from 'node:crypto';
import { ConfigError } from '../errors/config-errors.js';
import { assertSchemaName, DEFAULT_SCHEMA } from '../journal/migrations.js';
import type { SqlClient, SqlExecutor } from '../journal/sql-client.js';
import { toDate, toJson } from '../journal/sql-rows.js';
import { fromStorableJson } from '../journal/storable-json.js';

/** Options of `createEffectLedger`. */
export interface EffectLedgerOptions {
  /** The database the effects write to; the ledger row commits in the same transaction. */
  client: SqlClient;
  /** Postgres schema of the ledger table (default `keel`). */
  schema?: string;
  /** Ledger table name (default `effects`); lowercase letters, digits and `_`. */
  table?: string;
}

/** What `once` returns: the effect's value, and whether it came from the ledger. */
export interface EffectOutcome<T> {
  value: T;
  /** True when the effect had already committed under this key and did not run again. */
  replayed: boolean;
}

/** A recorded effect. */
export interface EffectRecord {
  key: string;
  value: unknown;
  createdAt: Date;
}

/**
 * Exactly-once effects for tool authors, for effects that are writes to the ledger's own
 * database. Use the tool's `ctx.idempotencyKey` (`runId:seq`, the same across re-executions of
 * the step after a crash) as the key:
 *
 * ```ts
 * const { value } = await ledger.once(ctx.idempotencyKey, (tx) =>
 *   tx.query('INSERT INTO orders (item) VALUES ($1) RETURNING id', [args.item]).then((r) => r.rows[0]));
 * ```
 *
 * The effect's writes and the ledger row commit in one transaction: either both exist or
 * neither, so a crash at any point leaves the effect done once or not at all, and a re-run
 * replays the stored value. The guarantee covers only what the effect writes through `tx`. An
 * effect on an external API (payments, email, tickets) is not made exactly-once by the ledger:
 * pass the idempotency key to that API (for example the `Idempotency-Key` header), and let the
 * API deduplicate.
 */
export interface EffectLedger {
  /** Creates the schema and table if missing (idempotent, safe to call concurrently). */
  ensureTable(): Promise<void>;
  /**
   * Runs `effect` once per key. The first call inserts the key (taking its unique-key lock),
   * runs `effect` in that transaction, stores the value and commits. A concurrent call with the
   * same key waits on that lock: it replays the committed value, or, if the first transaction
   * rolled back (the effect threw), runs its own effect. Values are stored as JSON and always
   * returned in their JSON form, on the first run as on a replay (`undefined` becomes `null`,
   * dates become strings). Inside
   * `effect` use only `tx`: on PGlite, a query on the client itself would wait forever.
   */
  once<T>(key: string, effect: (tx: SqlExecutor) => Promise<T>): Promise<EffectOutcome<T>>;
  /** The recorded effect for `key`, if it committed. */
  get(key: string): Promise<EffectRecord | undefined>;
}

const TABLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Creates an effect ledger over `client`; call `ensureTable()` once before use. */
export function createEffectLedger({
  client,
  schema = DEFAULT_SCHEMA,
  table = 'effects',
}: EffectLedgerOptions): EffectLedger {
  assertSchemaName(schema);
  if (!TABLE_NAME.test(table)) {
    throw new ConfigError('config_invalid', `Invalid effect ledger table name ${JSON.stringify(table)}.`, {
      table,
    });
  }
  const qualified = `${schema}.${table}`;
  const lockKey = createHash('sha256')
    .update(`keel:ledger:${qualified}`)
    .digest()
    .readBigInt64BE(0)
    .toString();

  return {
    async ensureTable() {
      // Concurrent CREATE ... IF NOT EXISTS can still collide in the catalog; the lock serializes them.
      await client.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey]);
        await tx.exec(`
          CREATE SCHEMA IF NOT EXISTS ${schema};
          CREATE TABLE IF NOT EXISTS ${qualified} (
            key text PRIMARY KEY,
            result jsonb,
            created_at timestamptz NOT NULL DEFAULT now()
          );
        `);
      });
    },

    once<T>(key: string, effect: (tx: SqlExecutor) => Promise<T>): Promise<EffectOutcome<T>> {
      return client.transaction(async (tx) => {
        // Claims the key first: a concurrent holder makes this wait until it commits or rolls back.
        const claimed = await tx.query(
          `INSERT INTO ${qualified} (key) VALUES ($1) ON CONFLICT (key) DO NOTHING RETURNING key`,
          [key],
        );
        if (claimed.rowCount === 0) {
          const stored = await tx.query<{ result: unknown }>(
            `SELECT result FROM ${qualified} WHERE key = $1`,
            [key],
          );
          return { value: fromStorableJson(stored.rows[0]?.result) as T, replayed: true };
        }
        const json = toJson(await effect(tx));
        // Returns the stored form (jsonb even reorders keys): first run and replay never differ.
        const stored = await tx.query<{ result: unknown }>(
          `UPDATE ${qualified} SET result = $2::jsonb WHERE key = $1 RETURNING result`,
          [key, json],
        );
        return { value: fromStorableJson(stored.rows[0]?.result) as T, replayed: false };
      });
    },

    async get(key) {
      const result = await client.query<{ key: string; result: unknown; created_at: Date | string }>(
        `SELECT key, result, created_at FROM ${qualified} WHERE key = $1`,
        [key],
      );
      const row = result.rows[0];
      if (!row) return undefined;
      return {
        key: row.key,
        value: fromStorableJson(row.result),
        createdAt: toDate(row.created_at),
      };
    },
  };
}
