import type { Migration } from './migrations.js';

/**
 * The audit log (issue 10, build 7): one row per governed action (destructive tool calls,
 * approval decisions, API key create/revoke, budget, breaker, control and prompt-pin changes,
 * erase requests), with who, when, what, before and after.
 *
 * Append-only, enforced by the database itself: triggers refuse every UPDATE, DELETE and
 * TRUNCATE with SQLSTATE 42501 (insufficient_privilege), whatever connection asks, so no code
 * path of the app (nor a mistaken migration of it) can rewrite history. Only dropping the schema
 * removes rows, which is what a test does and an operator must do on purpose.
 *
 * `id` is an identity: the order rows were written in, and the cursor of `GET /v1/audit`. Rows
 * do not reference runs or keys (no foreign key): erasing a run or revoking a key keeps its
 * audit trail. They hold ids, not payloads; a user's erase request is itself audited.
 */
export const auditLogMigration: Migration = {
  version: 17,
  name: 'audit_log',
  up: (schema) => `
    CREATE TABLE ${schema}.audit_log (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      at timestamptz NOT NULL DEFAULT now(),
      tenant_id text NOT NULL,
      actor text NOT NULL,
      action text NOT NULL,
      target text NOT NULL,
      before jsonb,
      after jsonb,
      details jsonb
    );
    CREATE INDEX audit_log_tenant_id ON ${schema}.audit_log (tenant_id, id DESC);

    CREATE FUNCTION ${schema}.audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = '42501';
    END
    $$;
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON ${schema}.audit_log
      FOR EACH ROW EXECUTE FUNCTION ${schema}.audit_log_refuse_change();
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON ${schema}.audit_log
      FOR EACH STATEMENT EXECUTE FUNCTION ${schema}.audit_log_refuse_change();
  `,
};
