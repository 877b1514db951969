import { afterEach, beforeEach, expect, it } from 'vitest';
import { migrate } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';
import { createSqlJournalStore } from '../journal/sql-journal-store.js';
import type { JournalStore } from '../journal/store.js';
import { describeOnBothBackends } from '../testing/sql-contract.js';
import { auditTable, toAuditRecord, type AuditRow } from '../journal/audit-log.js';
import { createUserErasure, type UserErasure } from './user-erasure.js';

/** A value only the erased user's data holds: no row of any table may contain it afterwards. */
const SECRET = 'SECRET-of-u1-4111111111111111';

function erasureContract(open: () => Promise<{ client: SqlClient; schema: string; close(): Promise<void> }>) {
  let client: SqlClient;
  let schema: string;
  let close: () => Promise<void>;
  let store: JournalStore;
  let erasure: UserErasure;
  beforeEach(async () => {
    ({ client, schema, close } = await open());
    await migrate(client, { schema });
    store = createSqlJournalStore({ client, schema });
    erasure = createUserErasure({ client, schema });
  });
  afterEach(() => close());

  /** A run with a row in every table that hangs off a run, each holding `marker`. */
  async function seedRun(run: {
    id: string;
    tenantId?: string;
    userId: string | null;
    sessionId?: string | null;
    marker: string;
  }) {
    await store.createRun({
      id: run.id,
      tenantId: run.tenantId ?? 'acme',
      agent: 'planner',
      input: { message: run.marker },
      userId: run.userId,
      sessionId: run.sessionId ?? null,
    });
    const tenant = run.tenantId ?? 'acme';
    const text = JSON.stringify({ said: run.marker });
    await client.query(
      `INSERT INTO ${schema}.steps (run_id, seq, kind, name, input_hash, status, started_at, output_ref)
       VALUES ($1, 1, 'model', 'm', 'h', 'completed', now(), 'p1')`,
      [run.id],
    );
    await client.query(
      `INSERT INTO ${schema}.payloads (run_id, id, body, bytes) VALUES ($1, 'p1', $2::jsonb, 10)`,
      [run.id, text],
    );
    await client.query(
      `INSERT INTO ${schema}.text_deltas (run_id, seq, idx, fence, text) VALUES ($1, 1, 0, 1, $2)`,
      [run.id, run.marker],
    );
    await client.query(
      `INSERT INTO ${schema}.approvals (id, tenant_id, run_id, step_seq, tool, arguments, status)
       VALUES ($1, $2, $3, 2, 'send_email', $4::jsonb, 'pending')`,
      [`apr_${run.id}`, tenant, run.id, text],
    );
    await client.query(
      `INSERT INTO ${schema}.run_outcomes (run_id, tenant_id, status, value, decided_at, decided_by_key)
       VALUES ($1, $2, 'committed', $3::jsonb, now(), 'key_1')`,
      [run.id, tenant, text],
    );
    await client.query(
      `INSERT INTO ${schema}.run_feedback (id, run_id, tenant_id, comment, created_by, created_at)
       VALUES ($1, $2, $3, $4, 'key:key_1', now())`,
      [`fb_${run.id}`, run.id, tenant, run.marker],
    );
    await client.query(
      `INSERT INTO ${schema}.gateway_calls (id, tenant_id, run_id, endpoint, route, deployment, provider, model,
         attempts, cached, latency_ms, overhead_ms, outcome, error, started_at)
       VALUES ($1, $2, $3, 'chat', 'r', 'd', 'p', 'm', 1, false, 1, 1, 'error', $4::jsonb, now())`,
      [`gw_${run.id}`, tenant, run.id, text],
    );
  }

  /** Every table of the schema, and how many of its rows hold `value` anywhere. */
  async function rowsHolding(value: string): Promise<Record<string, number>> {
    const tables = await client.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'`,
      [schema],
    );
    const found: Record<string, number> = {};
    for (const { table_name: table } of tables.rows) {
      const result = await client.query<{ count: string | number }>(
        `SELECT count(*) AS count FROM ${schema}.${table} AS row WHERE row::text LIKE '%' || $1 || '%'`,
        [value],
      );
      found[table] = Number(result.rows[0]!.count);
    }
    return found;
  }

  it("erases a user's runs, their sessions and every row under them from every table, audited with counts", async () => {
    await seedRun({ id: 'run_u1_a', userId: 'u1', sessionId: 'ses_1', marker: SECRET });
    // The same conversation, a turn that names no user: part of the user's session.
    await seedRun({ id: 'run_anon_s1', userId: null, sessionId: 'ses_1', marker: SECRET });
    await seedRun({ id: 'run_u1_b', userId: 'u1', marker: SECRET });
    // Kept: another user (also in the same session), the same user id in another tenant.
    await seedRun({ id: 'run_u2_s1', userId: 'u2', sessionId: 'ses_1', marker: 'kept-u2' });
    await seedRun({ id: 'run_other_tenant', tenantId: 'globex', userId: 'u1', marker: 'kept-globex' });
    // Feedback the user gave on a run that is not theirs: their data too.
    await client.query(
      `INSERT INTO ${schema}.run_feedback (id, run_id, tenant_id, comment, user_id, created_by, created_at)
       VALUES ('fb_given', 'run_u2_s1', 'acme', $1, 'u1', 'key:key_1', now())`,
      [SECRET],
    );
    // Gateway calls outside runs attributed to the user (a developer's coding agent): theirs too;
    // another user's, and the same user id's in another tenant, are kept.
    for (const [id, tenant, user, marker] of [
      ['gw_dev_u1', 'acme', 'u1', SECRET],
      ['gw_dev_u2', 'acme', 'u2', 'kept-u2'],
      ['gw_dev_globex', 'globex', 'u1', 'kept-globex'],
    ])
      await client.query(
        `INSERT INTO ${schema}.gateway_calls (id, tenant_id, user_id, session_id, endpoint, route, deployment,
           provider, model, attempts, cached, latency_ms, overhead_ms, outcome, error, started_at)
         VALUES ($1, $2, $3, 'ses_dev', 'messages', 'r', 'd', 'p', 'm', 1, false, 1, 1, 'error', $4::jsonb, now())`,
        [id, tenant, user, JSON.stringify({ said: marker })],
      );
    expect(Object.values(await rowsHolding(SECRET)).reduce((sum, count) => sum + count, 0)).toBeGreaterThan(
      0,
    );

    const counts = await erasure.erase({ tenantId: 'acme', userId: 'u1', actor: 'key:key_admin' });
    expect(counts).toEqual({
      runs: 3,
      sessions: 1,
      steps: 3,
      payloads: 3,
      text_deltas: 3,
      approvals: 3,
      outcomes: 3,
      feedback: 4,
      gateway_calls: 4,
    });
    const left = await rowsHolding(SECRET);
    expect(Object.entries(left).filter(([, count]) => count > 0)).toEqual([]);
    expect(left).toHaveProperty('runs');
    expect(left).toHaveProperty('audit_log');
    expect((await rowsHolding('kept-u2')).runs).toBe(1);
    expect((await rowsHolding('kept-u2')).payloads).toBe(1);
    expect((await rowsHolding('kept-globex')).gateway_calls).toBe(2);
    expect((await rowsHolding('kept-u2')).gateway_calls).toBe(2);
    expect(await store.getRun('run_u1_a')).toBeUndefined();

    const audit = (await client.query<AuditRow>(`SELECT * FROM ${auditTable(schema)}`)).rows.map(
      toAuditRecord,
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      tenantId: 'acme',
      actor: 'key:key_admin',
      action: 'user.erase',
      target: 'user:u1',
      details: counts,
    });

    // Again: nothing left to erase, the request is still audited.
    const again = await erasure.erase({ tenantId: 'acme', userId: 'u1', actor: 'key:key_admin' });
    expect(again.runs).toBe(0);
    expect((await client.query(`SELECT 1 FROM ${auditTable(schema)}`)).rowCount).toBe(2);
  });

  it('refuses while a worker executes one of the runs, deleting nothing, and erases once it ended', async () => {
    await seedRun({ id: 'run_u1_live', userId: 'u1', marker: SECRET });
    await seedRun({ id: 'run_u1_done', userId: 'u1', marker: SECRET });
    const [claimed] = await store.claimRuns({ owner: 'w1', limit: 1, leaseMs: 60_000, ids: ['run_u1_live'] });
    expect(claimed?.status).toBe('running');
    await expect(erasure.erase({ tenantId: 'acme', userId: 'u1', actor: 'key:k' })).rejects.toMatchObject({
      code: 'user_runs_running',
      details: { runIds: ['run_u1_live'] },
    });
    expect((await rowsHolding(SECRET)).runs).toBe(2);
    expect((await client.query(`SELECT 1 FROM ${auditTable(schema)}`)).rowCount).toBe(0);

    await store.requestCancel('run_u1_live');
    await client.query(
      `UPDATE ${schema}.runs SET status = 'cancelled', lease_owner = NULL WHERE id = 'run_u1_live'`,
    );
    expect((await erasure.erase({ tenantId: 'acme', userId: 'u1', actor: 'key:k' })).runs).toBe(2);
    expect(Object.values(await rowsHolding(SECRET)).every((count) => count === 0)).toBe(true);
  });
}

describeOnBothBackends('user erasure', erasureContract);
