import { afterEach, beforeEach, expect, it } from 'vitest';
import { migrate } from './migrations.js';
import type { SqlClient } from './sql-client.js';
import { describeOnBothBackends } from '../testing/sql-contract.js';
import { appendAudit, auditTable, toAuditRecord, type AuditRow } from './audit-log.js';

function auditContract(open: () => Promise<{ client: SqlClient; schema: string; close(): Promise<void> }>) {
  let client: SqlClient;
  let schema: string;
  let close: () => Promise<void>;
  beforeEach(async () => {
    ({ client, schema, close } = await open());
    await migrate(client, { schema });
  });
  afterEach(() => close());

  const rows = async () =>
    (await client.query<AuditRow>(`SELECT * FROM ${auditTable(schema)} ORDER BY id`)).rows.map(toAuditRecord);

  it('appends entries in order, with before, after and details kept exactly (any text)', async () => {
    await appendAudit(
      client,
      {
        tenantId: 'acme',
        actor: 'key:key_1',
        action: 'budget.update',
        target: 'budget:bud_1',
        before: { limit_usd: 10 },
        after: { limit_usd: 20, note: 'nul \u0000 and lone \ud800' },
      },
      { schema },
    );
    await client.transaction((tx) =>
      appendAudit(
        tx,
        [
          { tenantId: 'acme', actor: 'system:breaker', action: 'breaker.trip', target: 'agent:planner' },
          {
            tenantId: 'other',
            actor: 'key:key_2',
            action: 'user.erase',
            target: 'user:u1',
            details: { runs: 3 },
          },
        ],
        { schema },
      ),
    );
    const all = await rows();
    expect(all.map((row) => row.action)).toEqual(['budget.update', 'breaker.trip', 'user.erase']);
    expect(all[0]).toMatchObject({
      tenantId: 'acme',
      actor: 'key:key_1',
      target: 'budget:bud_1',
      before: { limit_usd: 10 },
      after: { limit_usd: 20, note: 'nul \u0000 and lone \ud800' },
      details: null,
    });
    expect(all[1]!.before).toBeNull();
    expect(all[2]!.details).toEqual({ runs: 3 });
    expect(all[0]!.id).toBeLessThan(all[1]!.id);
    expect(all[0]!.at).toBeInstanceOf(Date);
  });

  it('refuses updates, deletes and truncation through the app connection (the database enforces it)', async () => {
    await appendAudit(
      client,
      { tenantId: 't', actor: 'key:k', action: 'api_key.create', target: 'api_key:k2' },
      { schema },
    );
    const refused = async (sql: string) => {
      const error = (await client.query(sql).catch((caught: unknown) => caught)) as {
        code?: string;
        message?: string;
      };
      expect(error).toBeInstanceOf(Error);
      expect(error.code).toBe('42501');
      expect(error.message).toMatch(/append-only/);
    };
    await refused(`UPDATE ${auditTable(schema)} SET actor = 'key:forged'`);
    await refused(`DELETE FROM ${auditTable(schema)}`);
    await refused(`TRUNCATE ${auditTable(schema)}`);
    const all = await rows();
    expect(all).toHaveLength(1);
    expect(all[0]!.actor).toBe('key:k');
  });

  it('an entry written in a transaction that rolls back is not kept (change and audit commit together)', async () => {
    await client
      .transaction(async (tx) => {
        await appendAudit(
          tx,
          { tenantId: 't', actor: 'key:k', action: 'control.set', target: 'tool:x' },
          { schema },
        );
        throw new Error('the change failed');
      })
      .catch(() => undefined);
    expect(await rows()).toEqual([]);
  });
}

describeOnBothBackends('audit log', auditContract);
