import { z } from 'zod';
import { KeelError } from '../errors/keel-error.js';
import { DEFAULT_SCHEMA } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';
import { auditTable, toAuditRecord, type AuditRecord, type AuditRow } from '../journal/audit-log.js';

/** What `GET /v1/audit` and `keel audit` filter on; every field narrows the answer. */
export interface AuditFilter {
  /** One tenant's rows; undefined: every tenant's (an operator's view). */
  tenantId?: string | undefined;
  /** An action (`prompt.pin`), or every action of a thing with `<thing>.*` (`prompt.*`). */
  action?: string | undefined;
  /** `key:<id>`, `system:breaker`... */
  actor?: string | undefined;
  /** `prompt:planner`, `user:u_1`... */
  target?: string | undefined;
  /** Rows written at or after. */
  since?: Date | undefined;
  /** Rows written before. */
  until?: Date | undefined;
  /** Page size (1-500, default 100). */
  limit?: number | undefined;
  /** The `nextCursor` of the page before. */
  cursor?: string | undefined;
}

/** A page of audit rows, newest first; `nextCursor` when more rows follow. */
export interface AuditPage {
  entries: AuditRecord[];
  nextCursor?: string;
}

/** Reads the audit log (writes go through `appendAudit`, in the transaction of each change). */
export interface AuditLog {
  list(filter?: AuditFilter): Promise<AuditPage>;
}

/** Options of {@link createAuditLog}. */
export interface AuditLogOptions {
  client: SqlClient;
  /** Postgres schema of Keel's tables (default `keel`). */
  schema?: string;
}

export const MAX_AUDIT_PAGE = 500;
const cursorSchema = z.object({ id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER) }).strict();

/** The cursor after the row `id` (opaque to callers: base64url JSON). */
export function encodeAuditCursor(id: number): string {
  return Buffer.from(JSON.stringify({ id })).toString('base64url');
}

/** The id a cursor names; `invalid_cursor` (the caller's, 400) for anything this code did not write. */
export function decodeAuditCursor(cursor: string): number {
  let parsed: unknown;
  try {
    parsed =
      cursor.length <= 100 && /^[A-Za-z0-9_-]+$/.test(cursor)
        ? JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
        : undefined;
  } catch {
    parsed = undefined;
  }
  const result = cursorSchema.safeParse(parsed);
  if (!result.success)
    throw new KeelError({
      code: 'invalid_cursor',
      message: 'The cursor is not one this API returned; start again without it.',
      fault: 'caller',
    });
  return result.data.id;
}

/**
 * The audit log's read side over SQL. Pages go newest first by `id` (the order rows were
 * written in, so a page never skips nor repeats a row written meanwhile); filters use the
 * `(tenant_id, id DESC)` index of migration 17 for a tenant's view.
 */
export function createAuditLog({ client, schema = DEFAULT_SCHEMA }: AuditLogOptions): AuditLog {
  const table = auditTable(schema);
  return {
    async list(filter = {}) {
      const limit = Math.min(MAX_AUDIT_PAGE, Math.max(1, Math.floor(filter.limit ?? 100)));
      const before = filter.cursor === undefined ? null : decodeAuditCursor(filter.cursor);
      const action = filter.action ?? null;
      const actionPrefix = action?.endsWith('.*') ? action.slice(0, -1) : null;
      const result = await client.query<AuditRow>(
        `SELECT * FROM ${table}
         WHERE ($1::text IS NULL OR tenant_id = $1::text)
           AND ($2::text IS NULL OR action = $2::text)
           AND ($3::text IS NULL OR starts_with(action, $3::text))
           AND ($4::text IS NULL OR actor = $4::text)
           AND ($5::text IS NULL OR target = $5::text)
           AND ($6::timestamptz IS NULL OR at >= $6::timestamptz)
           AND ($7::timestamptz IS NULL OR at < $7::timestamptz)
           AND ($8::bigint IS NULL OR id < $8::bigint)
         ORDER BY id DESC
         LIMIT $9`,
        [
          filter.tenantId ?? null,
          actionPrefix === null ? action : null,
          actionPrefix,
          filter.actor ?? null,
          filter.target ?? null,
          filter.since?.toISOString() ?? null,
          filter.until?.toISOString() ?? null,
          before,
          limit + 1,
        ],
      );
      const entries = result.rows.slice(0, limit).map(toAuditRecord);
      const last = entries.at(-1);
      return result.rows.length > limit && last !== undefined
        ? { entries, nextCursor: encodeAuditCursor(last.id) }
        : { entries };
    },
  };
}
