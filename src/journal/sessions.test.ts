import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { createPgClient } from './pg-client.js';
import { createPgliteClient } from './pglite-client.js';
import type { SqlClient } from './sql-client.js';
import { createSqlJournalStore } from './sql-journal-store.js';
import type { JournalStore } from './store.js';
import type { NewRun, RunRecord } from './types.js';

/** Sessions in the store (claim order, `getSession`), over PGlite and, when set, Postgres. */
function sessionContract(openClient: () => Promise<SqlClient>): void {
  let client: SqlClient;
  let schema: string;
  let store: JournalStore;
  let time: number;
  const clock = { now: () => time++ };

  beforeAll(async () => {
    client = await openClient();
  });
  afterAll(async () => {
    await client?.close();
  });
  beforeEach(async () => {
    schema = createTestSchemaName();
    time = Date.parse('2030-01-01T00:00:00.000Z');
    store = createSqlJournalStore({ client, schema, clock });
    await store.migrate();
  });
  afterEach(async () => {
    await store.close();
    await client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  });

  const create = async (overrides: Partial<NewRun> = {}) =>
    (await store.createRun({ agent: 'support', input: 'hi', ...overrides })).run;
  const claimAll = (owner = 'worker-1') => store.claimRuns({ owner, limit: 10, leaseMs: 30_000 });
  const finish = (run: RunRecord) =>
    store.finishRun(
      { runId: run.id, owner: run.leaseOwner ?? '', fence: run.fence },
      {
        stopReason: 'completed',
        output: 'done',
        usage: { inputTokens: 0, outputTokens: 0 },
        costUsd: 0,
        stepCount: 0,
      },
    );

  it('holds a queued run of a session until the earlier runs of that session end', async () => {
    const first = await create({ sessionId: 'chat-1' });
    const second = await create({ sessionId: 'chat-1' });
    const third = await create({ sessionId: 'chat-1' });
    const otherTenant = await create({ sessionId: 'chat-1', tenantId: 'tenant-b' });
    const otherSession = await create({ sessionId: 'chat-2' });
    const noSession = await create();

    const claimed = await claimAll();
    expect(claimed.map((run) => run.id)).toEqual([first.id, otherTenant.id, otherSession.id, noSession.id]);
    // Still running: nothing more of chat-1 is claimable.
    expect(await claimAll()).toEqual([]);

    await finish(claimed[0]!);
    const next = await claimAll();
    expect(next.map((run) => run.id)).toEqual([second.id]);
    await finish(next[0]!);
    expect((await claimAll()).map((run) => run.id)).toEqual([third.id]);
  });

  it('holds a run behind one awaiting approval, and frees it when that one is cancelled', async () => {
    const first = await create({ sessionId: 'chat-1' });
    const second = await create({ sessionId: 'chat-1' });
    await claimAll();
    await client.query(
      `UPDATE ${schema}.runs SET status = 'awaiting_approval', lease_owner = NULL WHERE id = $1`,
      [first.id],
    );
    expect(await claimAll()).toEqual([]);
    await store.requestCancel(first.id);
    expect((await claimAll()).map((run) => run.id)).toEqual([second.id]);
  });

  it('recovers a running run of a session with an expired lease without waiting', async () => {
    const first = await create({ sessionId: 'chat-1' });
    await claimAll();
    await client.query(
      `UPDATE ${schema}.runs SET lease_expires_at = now() - interval '1 second' WHERE id = $1`,
      [first.id],
    );
    expect((await claimAll('worker-2')).map((run) => run.id)).toEqual([first.id]);
  });

  it('summarizes a session per tenant', async () => {
    expect(await store.getSession('chat-1', { tenantId: 'tenant-a' })).toBeUndefined();
    const first = await create({ sessionId: 'chat-1', tenantId: 'tenant-a' });
    const second = await create({ sessionId: 'chat-1', tenantId: 'tenant-a' });
    await create({ sessionId: 'chat-1', tenantId: 'tenant-b' });

    const session = await store.getSession('chat-1', { tenantId: 'tenant-a' });
    expect(session).toEqual({
      id: 'chat-1',
      tenantId: 'tenant-a',
      runCount: 2,
      createdAt: first.createdAt,
      lastRunAt: second.createdAt,
      activeRunIds: [first.id, second.id],
    });
    const [claimed] = await claimAll();
    await finish(claimed!);
    expect((await store.getSession('chat-1', { tenantId: 'tenant-a' }))?.activeRunIds).toEqual([second.id]);
    expect((await store.getSession('chat-1', { tenantId: 'tenant-b' }))?.runCount).toBe(1);
    expect(await store.getSession('chat-1', { tenantId: 'tenant-c' })).toBeUndefined();
  });

  it('has the tenant-scoped session index', async () => {
    const plan = await client.query<{ indexname: string }>(
      `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND indexname = 'runs_tenant_session_created'`,
      [schema],
    );
    expect(plan.rowCount).toBe(1);
  });
}

describe('sessions on PGlite', () => {
  sessionContract(() => createPgliteClient());
});

describePostgres('sessions on Postgres', (connectionString) => {
  sessionContract(async () => createPgClient({ connectionString, max: 4 }));
});
