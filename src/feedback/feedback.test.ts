import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrate, migrations, migrationStatus } from '../journal/migrations.js';
import { createPgClient } from '../journal/pg-client.js';
import { createPgliteClient } from '../journal/pglite-client.js';
import type { SqlClient } from '../journal/sql-client.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { startTestServer, type TestServer } from '../server/__fixtures__/test-server.js';
import { createRunFeedback } from './feedback.js';
import { createRunOutcomes } from './outcomes.js';
import {
  acceptedRunResponse,
  errorResponse,
  feedbackListResponse,
  feedbackResponse,
} from '../server/schemas.js';

describe('POST and GET /v1/runs/{id}/feedback', () => {
  let app: TestServer;
  beforeAll(async () => {
    app = await startTestServer();
  });
  afterAll(() => app.close());

  const submit = async (key = app.keys.admin) => {
    const body = JSON.stringify({ agent: 'echo', input: 'hi' });
    const response = await app.call('/v1/runs', { method: 'POST', body, key });
    expect(response.status).toBe(202);
    return acceptedRunResponse.parse(await response.json()).id;
  };
  const post = (runId: string, body: unknown, key = app.keys.admin) =>
    app.call(`/v1/runs/${runId}/feedback`, { method: 'POST', body: JSON.stringify(body), key });
  const list = async (runId: string, key = app.keys.reader) => {
    const response = await app.call(`/v1/runs/${runId}/feedback`, { key });
    expect(response.status).toBe(200);
    return feedbackListResponse.parse(await response.json()).data;
  };
  const expectError = async (response: Response, status: number, code: string) => {
    expect(response.status).toBe(status);
    const body = errorResponse.parse(await response.json());
    expect(body.error.code).toBe(code);
    return body.error.message;
  };

  it('records feedback with who and when (201), many per run, listed newest first', async () => {
    const runId = await submit();
    const writerId = (await app.apiKeys.verify(app.keys.writer))!.id;
    const first = await post(runId, { thumbs: 'up', user_id: 'user-7' }, app.keys.writer);
    expect(first.status).toBe(201);
    const one = feedbackResponse.parse(await first.json());
    expect(one).toMatchObject({
      run_id: runId,
      thumbs: 'up',
      score: null,
      comment: null,
      user_id: 'user-7',
      created_by: `key:${writerId}`,
    });
    expect(Number.isNaN(Date.parse(one.created_at))).toBe(false);
    const second = await post(runId, { score: 0.25, comment: 'Too long.' });
    expect(second.status).toBe(201);
    const two = feedbackResponse.parse(await second.json());
    expect(two).toMatchObject({ thumbs: null, score: 0.25, comment: 'Too long.', user_id: null });
    expect(two.id).not.toBe(one.id);

    expect(await list(runId)).toEqual([two, one]);
    expect(await list(await submit())).toEqual([]);
  });

  it('refuses a bad body with 400 invalid_request naming the field', async () => {
    const runId = await submit();
    const cases: Array<[unknown, string]> = [
      [{ score: 1.5 }, 'score'],
      [{ score: -0.1 }, 'score'],
      [{ score: '0.5' }, 'score'],
      [{ thumbs: 'sideways' }, 'thumbs'],
      [{ comment: 'x'.repeat(4001) }, 'comment'],
      [{ thumbs: 'up', user_id: 'u'.repeat(201) }, 'user_id'],
      [{ thumbs: 'up', user_id: 'a\u0000b' }, 'user_id'],
      [{ user_id: 'u' }, 'thumbs'],
      [{}, 'thumbs'],
    ];
    for (const [body, field] of cases) {
      const message = await expectError(await post(runId, body), 400, 'invalid_request');
      expect(message).toContain(field);
    }
    expect(await list(runId)).toEqual([]);
  });

  it("answers 404 run_not_found for another tenant's run or none, and 403 to a read-only key", async () => {
    const theirs = await submit(app.keys.otherTenant);
    await expectError(await post(theirs, { thumbs: 'down' }), 404, 'run_not_found');
    await expectError(await app.call(`/v1/runs/${theirs}/feedback`), 404, 'run_not_found');
    await expectError(await post('run_missing', { thumbs: 'down' }), 404, 'run_not_found');
    const mine = await submit();
    await expectError(await post(mine, { thumbs: 'down' }, app.keys.reader), 403, 'forbidden');
    await expectError(
      await app.call(`/v1/runs/${mine}/feedback`, { key: app.keys.writer }),
      403,
      'forbidden',
    );
    expect(await list(mine)).toEqual([]);
    expect(await list(theirs, app.keys.otherTenant)).toEqual([]);
  });

  it('keeps any text of a comment: NUL, a lone surrogate, the escape marker', async () => {
    const runId = await submit();
    const comment = 'a\u0000b \ud800 c\udc00 \ufdd0x 😀';
    const created = feedbackResponse.parse(await (await post(runId, { comment })).json());
    expect(created.comment).toBe(comment);
    expect((await list(runId))[0]!.comment).toBe(comment);
  });
});

/** The store and migration 13 over PGlite and, when set, Postgres. */
function feedbackContract(openClient: () => Promise<SqlClient>): void {
  let client: SqlClient;
  let schema: string;
  beforeAll(async () => {
    client = await openClient();
  });
  afterAll(async () => {
    await client?.close();
  });
  beforeEach(() => {
    schema = createTestSchemaName();
  });
  afterEach(async () => {
    await client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  });

  it('migrates a database whose run_outcomes the old code made on the fly, keeping its rows', async () => {
    // The schema as it was before migration 13, then the table as outcomes.ts used to create it.
    await client.exec(`CREATE SCHEMA ${schema};
      CREATE TABLE ${schema}.migrations (version integer PRIMARY KEY, name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now())`);
    for (const migration of migrations.filter((m) => m.version < 13)) {
      await client.exec(migration.up(schema));
      await client.query(`INSERT INTO ${schema}.migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
    }
    await client.exec(`CREATE TABLE IF NOT EXISTS ${schema}.run_outcomes (
           run_id text PRIMARY KEY REFERENCES ${schema}.runs (id) ON DELETE CASCADE,
           tenant_id text NOT NULL,
           status text NOT NULL CHECK (status IN ('committed', 'rejected')),
           value jsonb,
           decided_at timestamptz NOT NULL,
           decided_by_key text NOT NULL
         )`);
    await client.query(
      `INSERT INTO ${schema}.runs (id, tenant_id, agent, status, ended_at) VALUES ('run_old', 't', 'a', 'completed', now())`,
    );
    await client.query(
      `INSERT INTO ${schema}.run_outcomes VALUES ('run_old', 't', 'committed', '{"order": 7}', now(), 'key_1')`,
    );

    const status = await migrate(client, { schema });
    expect(status.upToDate).toBe(true);
    expect(status.applied).toContain(13);
    const outcome = await createRunOutcomes({ client, schema }).get('run_old', { tenantId: 't' });
    expect(outcome).toMatchObject({ status: 'committed', value: { order: 7 }, decidedByKey: 'key_1' });
    const feedback = createRunFeedback({ client, schema });
    await feedback.add({ runId: 'run_old', tenantId: 't', thumbs: 'up', createdBy: 'key:key_1' });
    expect(await feedback.list('run_old', { tenantId: 't' })).toHaveLength(1);
  });

  it('stores feedback on a fresh database: any comment text, tenant-scoped, newest first, gone with its run', async () => {
    await migrate(client, { schema });
    expect((await migrationStatus(client, { schema })).upToDate).toBe(true);
    await client.query(
      `INSERT INTO ${schema}.runs (id, tenant_id, agent, status) VALUES ('run_1', 't', 'a', 'queued')`,
    );
    let now = Date.parse('2026-12-05T10:00:00Z');
    const feedback = createRunFeedback({ client, schema, clock: { now: () => (now += 1000) } });
    const comment = 'x\u0000y\ud800z\ufdd0';
    const older = await feedback.add({ runId: 'run_1', tenantId: 't', comment, createdBy: 'key:k' });
    const newer = await feedback.add({
      runId: 'run_1',
      tenantId: 't',
      score: 0.5,
      userId: 'u',
      createdBy: 'key:k',
    });
    expect(older).toMatchObject({ comment, thumbs: null, score: null, userId: null });
    expect(newer).toMatchObject({ score: 0.5, userId: 'u', comment: null });
    expect(await feedback.list('run_1', { tenantId: 't' })).toEqual([newer, older]);
    expect(await feedback.list('run_1', { tenantId: 'other' })).toEqual([]);
    expect(await feedback.list('run_1', { tenantId: 't', limit: 1 })).toEqual([newer]);
    // The table itself refuses a row with nothing in it, or a score out of range.
    await expect(feedback.add({ runId: 'run_1', tenantId: 't', createdBy: 'key:k' })).rejects.toThrow();
    await expect(
      feedback.add({ runId: 'run_1', tenantId: 't', score: 2, createdBy: 'key:k' }),
    ).rejects.toThrow();
    await client.query(`DELETE FROM ${schema}.runs WHERE id = 'run_1'`);
    const left = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.run_feedback`);
    expect(left.rows[0]!.n).toBe(0);
  });
}

describe('feedback store on PGlite', () => {
  feedbackContract(() => createPgliteClient());
});

describePostgres('feedback store on Postgres', (connectionString) => {
  feedbackContract(async () => createPgClient({ connectionString, max: 4 }));
});
