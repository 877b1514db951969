import { createHash } from 'node:crypto';
import { ConfigError } from '../errors/config-errors.js';
import { MigrationError } from '../errors/storage-errors.js';
import { apiKeysMigration } from './migration-0003-api-keys.js';
import { approvalsMigration } from './migration-0004-approvals.js';
import { gatewayMigration } from './migration-0002-gateway.js';
import { sessionsMigration } from './migration-0005-sessions.js';
import { textDeltasMigration } from './migration-0006-text-deltas.js';
import { retentionMigration } from './migration-0007-retention.js';
import { providerWaitsMigration } from './migration-0008-provider-waits.js';
import { runAttributionMigration } from './migration-0012-run-attribution.js';
import { outcomesFeedbackMigration } from './migration-0013-outcomes-feedback.js';
import { stepExecutionsMigration } from './migration-0014-step-executions.js';
import { otelExportMarksMigration } from './migration-0015-otel-export-marks.js';
import { runStepFactsMigration } from './migration-0016-run-step-facts.js';
import { auditLogMigration } from './migration-0017-audit-log.js';
import { budgetsMigration } from './migration-0018-budgets.js';
import { controlsMigration } from './migration-0019-controls.js';
import { promptsMigration } from './migration-0020-prompts.js';
import { budgetReserveBatchMigration } from './migration-0022-budget-reserve-batch.js';
import { runSearchMigration } from './migration-0023-run-search.js';
import { evalsMigration } from './migration-0024-evals.js';
import { gatewayPriceTableMigration } from './migration-0025-gateway-price-table.js';
import { leaseLivenessMigration } from './migration-0026-lease-liveness.js';
import { storageFootprintMigration } from './migration-0027-storage-footprint.js';
import { runRetriesMigration } from './migration-0028-run-retries.js';
import { agentVersionsMigration } from './migration-0029-agent-versions.js';
import { gatewayCallAttributionMigration } from './migration-0030-gateway-call-attribution.js';
import { inlineOutputsMigration } from './migration-0031-inline-outputs.js';
import type { SqlClient, SqlExecutor } from './sql-client.js';

/** The Postgres schema Keel's tables live in unless configured otherwise. */
export const DEFAULT_SCHEMA = 'keel';

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Checks a schema name before it is interpolated into SQL (identifiers cannot be parameters).
 * Lowercase letters, digits and `_`, at most 63 characters, not starting with a digit: such a
 * name needs no quoting and cannot inject anything. Throws `ConfigError` (`config_invalid`).
 */
export function assertSchemaName(schema: string): string {
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema) || schema.startsWith('pg_')) {
    throw new ConfigError(
      'config_invalid',
      `Invalid database schema name ${JSON.stringify(schema)}: use 1-63 lowercase letters, digits or "_", ` +
        `not starting with a digit or "pg_".`,
      { schema },
    );
  }
  return schema;
}

/** One step of the schema's history. Never edit a released migration: add a new one. */
export interface Migration {
  version: number;
  name: string;
  /** The DDL script for `schema` (already validated by `assertSchemaName`). */
  up(schema: string): string;
}

/**
 * The journal's tables. Design notes:
 * - `steps` rows stay small (no payloads): outputs live in `payloads`, referenced by
 *   `output_ref`, one row per step output, so storage grows linearly with new content.
 *   (Migration 31 keeps outputs of at most 512 bytes in the step row itself.)
 * - `payloads` has the primary key (run_id, id): it serves the join from steps and the cascade
 *   delete of a run without a second index.
 * - `runs` is updated often (claim, heartbeat, finish): fillfactor 80 leaves room for HOT updates
 *   (a heartbeat touches no indexed column).
 * - `runs_runnable` is a partial index on the few live runs; the claim query scans it in
 *   `created_at` order, however many terminal runs the table holds. (Migration 27 makes it
 *   partial on `ended_at IS NULL`, so that the claim is a HOT update.)
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'create_runs_steps_payloads',
    up: (schema) => `
      CREATE TABLE ${schema}.runs (
        id text PRIMARY KEY,
        tenant_id text NOT NULL DEFAULT 'default',
        agent text NOT NULL,
        status text NOT NULL CHECK (status IN ('queued', 'running', 'waiting', 'completed', 'failed', 'cancelled')),
        stop_reason text,
        input jsonb,
        output jsonb,
        error jsonb,
        session_id text,
        metadata jsonb NOT NULL DEFAULT '{}',
        idempotency_key text,
        lease_owner text,
        lease_expires_at timestamptz,
        fence bigint NOT NULL DEFAULT 0,
        attempts integer NOT NULL DEFAULT 0,
        cancel_requested boolean NOT NULL DEFAULT false,
        input_tokens bigint NOT NULL DEFAULT 0,
        output_tokens bigint NOT NULL DEFAULT 0,
        cached_input_tokens bigint,
        reasoning_tokens bigint,
        cost_usd numeric NOT NULL DEFAULT 0,
        step_count integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        ended_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now(),
        available_at timestamptz NOT NULL DEFAULT now()
      ) WITH (fillfactor = 80);

      CREATE UNIQUE INDEX runs_idempotency_key ON ${schema}.runs (tenant_id, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
      CREATE INDEX runs_runnable ON ${schema}.runs (created_at, id) WHERE status IN ('queued', 'running');
      CREATE INDEX runs_tenant_created ON ${schema}.runs (tenant_id, created_at DESC, id DESC);
      CREATE INDEX runs_tenant_agent_created ON ${schema}.runs (tenant_id, agent, created_at DESC, id DESC);
      CREATE INDEX runs_session_created ON ${schema}.runs (session_id, created_at DESC, id DESC)
        WHERE session_id IS NOT NULL;

      CREATE TABLE ${schema}.steps (
        run_id text NOT NULL REFERENCES ${schema}.runs (id) ON DELETE CASCADE,
        seq integer NOT NULL,
        parent_seq integer,
        kind text NOT NULL,
        name text NOT NULL,
        input_hash text NOT NULL,
        status text NOT NULL CHECK (status IN ('started', 'completed', 'failed')),
        attempt integer NOT NULL DEFAULT 1,
        started_at timestamptz NOT NULL,
        ended_at timestamptz,
        input_tokens integer,
        output_tokens integer,
        cached_input_tokens integer,
        reasoning_tokens integer,
        cost_usd numeric,
        output_ref text,
        error jsonb,
        meta jsonb,
        PRIMARY KEY (run_id, seq)
      );

      CREATE TABLE ${schema}.payloads (
        run_id text NOT NULL REFERENCES ${schema}.runs (id) ON DELETE CASCADE,
        id text NOT NULL,
        body jsonb NOT NULL,
        bytes integer NOT NULL,
        PRIMARY KEY (run_id, id)
      );
    `,
  },
  gatewayMigration,
  apiKeysMigration,
  approvalsMigration,
  sessionsMigration,
  textDeltasMigration,
  retentionMigration,
  providerWaitsMigration,
  runAttributionMigration,
  outcomesFeedbackMigration,
  stepExecutionsMigration,
  otelExportMarksMigration,
  runStepFactsMigration,
  auditLogMigration,
  budgetsMigration,
  controlsMigration,
  promptsMigration,
  budgetReserveBatchMigration,
  runSearchMigration,
  evalsMigration,
  gatewayPriceTableMigration,
  leaseLivenessMigration,
  storageFootprintMigration,
  runRetriesMigration,
  agentVersionsMigration,
  gatewayCallAttributionMigration,
  inlineOutputsMigration,
];

/** Options of `migrate` and `migrationStatus`. */
export interface MigrateOptions {
  /** Postgres schema of Keel's tables (default `keel`). */
  schema?: string;
}

/** Applied versus known migrations; `upToDate` is what a readiness check wants. */
export interface MigrationStatus {
  schema: string;
  applied: number[];
  known: number[];
  pending: number[];
  /** Applied versions this code does not know (the database was migrated by newer code). */
  unknown: number[];
  upToDate: boolean;
}

/**
 * Brings `schema` up to date: creates it and its `migrations` table, then applies each pending
 * migration in its own transaction. Every transaction first takes a transaction-scoped advisory
 * lock derived from the schema name, so any number of processes may call this at once: one
 * applies, the others wait and find nothing left to do. Throws `MigrationError` when the
 * database has a version newer than this code knows (roll the code forward, not the database
 * back).
 */
export async function migrate(
  client: SqlClient,
  { schema = DEFAULT_SCHEMA }: MigrateOptions = {},
): Promise<MigrationStatus> {
  assertSchemaName(schema);
  const lockKey = advisoryLockKey(schema);
  const latest = Math.max(...migrations.map((migration) => migration.version));

  const applied = await client.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey]);
    await tx.exec(`
      CREATE SCHEMA IF NOT EXISTS ${schema};
      CREATE TABLE IF NOT EXISTS ${schema}.migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      );
    `);
    return appliedVersions(tx, schema);
  });
  const newest = Math.max(0, ...applied);
  if (newest > latest) {
    throw new MigrationError(
      `The database schema "${schema}" is at version ${newest}, newer than this version of Keel knows (${latest}). ` +
        `Upgrade Keel; never run older code against a newer schema.`,
      { schema, databaseVersion: newest, codeVersion: latest },
    );
  }

  for (const migration of migrations) {
    if (applied.includes(migration.version)) continue;
    await client.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey]);
      // Another process may have applied it while we waited for the lock.
      const done = await tx.query(`SELECT 1 FROM ${schema}.migrations WHERE version = $1`, [
        migration.version,
      ]);
      if (done.rowCount > 0) return;
      await tx.exec(migration.up(schema));
      await tx.query(`INSERT INTO ${schema}.migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
    });
  }
  return migrationStatus(client, { schema });
}

/** Reads which migrations are applied, without changing anything (readiness checks, `keel migrate --status`). */
export async function migrationStatus(
  client: SqlExecutor,
  { schema = DEFAULT_SCHEMA }: MigrateOptions = {},
): Promise<MigrationStatus> {
  assertSchemaName(schema);
  const exists = await client.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [
    `${schema}.migrations`,
  ]);
  const applied = exists.rows[0]?.present ? await appliedVersions(client, schema) : [];
  const known = migrations.map((migration) => migration.version);
  const pending = known.filter((version) => !applied.includes(version));
  const unknown = applied.filter((version) => !known.includes(version));
  return { schema, applied, known, pending, unknown, upToDate: pending.length === 0 && unknown.length === 0 };
}

async function appliedVersions(executor: SqlExecutor, schema: string): Promise<number[]> {
  const result = await executor.query<{ version: number }>(
    `SELECT version FROM ${schema}.migrations ORDER BY version`,
  );
  return result.rows.map((row) => Number(row.version));
}

/** A stable 64-bit lock key per schema, so migrations of different schemas never wait on each other. */
function advisoryLockKey(schema: string): string {
  return createHash('sha256').update(`keel:migrate:${schema}`).digest().readBigInt64BE(0).toString();
}
