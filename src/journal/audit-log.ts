import { assertSchemaName, DEFAULT_SCHEMA } from './migrations.js';
import type { SqlExecutor } from './sql-client.js';
import { toDate } from './sql-rows.js';
import { toStorableJson, fromStorableJson } from './storable-json.js';

/**
 * The audit log's vocabulary. An action is `<thing>.<verb>`; the target names what it acted on
 * as `<kind>:<id>` (`budget:bud_1`, `tool:send_email`, `run:run_1`, `api_key:key_1`).
 */
export type AuditAction =
  | 'tool.call'
  | 'tool.refused'
  | 'approval.decide'
  | 'api_key.create'
  | 'api_key.revoke'
  | 'budget.create'
  | 'budget.update'
  | 'budget.extend'
  | 'budget.delete'
  | 'breaker.trip'
  | 'agent.pause'
  | 'agent.resume'
  | 'control.set'
  | 'control.clear'
  | 'prompt.push'
  | 'prompt.pin'
  | 'prompt.rollback'
  | 'user.erase'
  | (string & {});

/** One audited action, as written. */
export interface AuditEntry {
  tenantId: string;
  /** Who: `key:<id>` of the API key, `system:<component>` (a breaker), `worker:<owner>`. */
  actor: string;
  action: AuditAction;
  target: string;
  /** The state before and after the change (null for a creation, a deletion). */
  before?: unknown;
  after?: unknown;
  /** Anything else worth keeping (a reason, a run id, a request id). */
  details?: unknown;
}

/** An audit row as read back. */
export interface AuditRecord extends Required<Omit<AuditEntry, 'before' | 'after' | 'details'>> {
  /** Increasing in write order; the cursor of `GET /v1/audit`. */
  id: number;
  at: Date;
  before: unknown;
  after: unknown;
  details: unknown;
}

/** The table name of the audit log in `schema` (checked). */
export function auditTable(schema: string = DEFAULT_SCHEMA): string {
  return `${assertSchemaName(schema)}.audit_log`;
}

/**
 * Appends entries to the audit log. Pass the transaction that makes the change (`tx`), so the
 * change and its audit row commit together or not at all; the table refuses updates and deletes
 * (migration 17), so a row once committed stays as written.
 */
export async function appendAudit(
  executor: SqlExecutor,
  entries: AuditEntry | readonly AuditEntry[],
  { schema = DEFAULT_SCHEMA }: { schema?: string } = {},
): Promise<void> {
  const list = Array.isArray(entries) ? entries : [entries as AuditEntry];
  if (list.length === 0) return;
  const json = (value: unknown) => (value === undefined ? null : toStorableJson(value));
  await executor.query(
    `INSERT INTO ${auditTable(schema)} (tenant_id, actor, action, target, before, after, details)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[], $7::jsonb[])`,
    [
      list.map((entry) => entry.tenantId),
      list.map((entry) => entry.actor),
      list.map((entry) => entry.action),
      list.map((entry) => entry.target),
      list.map((entry) => json(entry.before)),
      list.map((entry) => json(entry.after)),
      list.map((entry) => json(entry.details)),
    ],
  );
}

/** The columns of an `audit_log` row as the drivers return them. */
export interface AuditRow {
  id: number | string;
  at: Date | string;
  tenant_id: string;
  actor: string;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
  details: unknown;
}

export function toAuditRecord(row: AuditRow): AuditRecord {
  return {
    id: Number(row.id),
    at: toDate(row.at),
    tenantId: row.tenant_id,
    actor: row.actor,
    action: row.action,
    target: row.target,
    before: row.before === null ? null : fromStorableJson(row.before),
    after: row.after === null ? null : fromStorableJson(row.after),
    details: row.details === null ? null : fromStorableJson(row.details),
  };
}
