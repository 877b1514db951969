import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { combineTelemetry } from '../telemetry/run-telemetry.js';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import {
  acceptedRunResponse,
  errorResponse,
  readinessResponse,
  runListResponse,
  runResponse,
  stepListResponse,
} from './schemas.js';

let app: TestServer;
beforeAll(async () => {
  app = await startTestServer();
});
afterAll(() => app.close());

async function submit(key = app.keys.admin, body: unknown = { agent: 'echo', input: 'hi' }) {
  const response = await app.call('/v1/runs', { method: 'POST', body: JSON.stringify(body), key });
  expect(response.status).toBe(202);
  return acceptedRunResponse.parse(await response.json()).id;
}

/** Ends a run with one completed model step (its output payload must never leak into events). */
async function finish(runId: string) {
  const lease = await app.claim(runId);
  const startedAt = new Date();
  const step = {
    seq: 1,
    parentSeq: null,
    kind: 'model',
    name: 'builtin:echo',
    inputHash: 'h',
    attempt: 1,
    startedAt,
  };
  await app.store.startStep(lease, step);
  await app.store.completeStep(lease, {
    ...step,
    status: 'completed',
    endedAt: new Date(),
    output: { secret: 'payload-text' },
    usage: { inputTokens: 3, outputTokens: 4 },
    costUsd: 0,
  });
  await app.store.finishRun(lease, {
    stopReason: 'completed',
    output: 'hi',
    usage: { inputTokens: 3, outputTokens: 4 },
    costUsd: 0,
    stepCount: 1,
  });
}

async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  const body = errorResponse.parse(await response.json());
  expect(body.error.code).toBe(code);
}

describe('authentication and scopes', () => {
  it('refuses missing, malformed, unknown and revoked keys with 401', async () => {
    await expectError(await app.call('/v1/runs', { key: null }), 401, 'unauthorized');
    await expectError(await app.call('/v1/runs', { key: 'keel_sk_short' }), 401, 'unauthorized');
    await expectError(await app.call('/v1/runs', { key: `keel_sk_${'a'.repeat(43)}` }), 401, 'unauthorized');
    await expectError(await app.call('/v1/runs', { key: app.keys.revoked }), 401, 'unauthorized');
    const basic = await app.call('/v1/runs', { key: null, headers: { authorization: 'Basic Zm9vOmJhcg==' } });
    await expectError(basic, 401, 'unauthorized');
  });

  it('needs runs:read to read and runs:write to write (admin does both)', async () => {
    await expectError(await app.call('/v1/runs', { key: app.keys.gatewayOnly }), 403, 'forbidden');
    expect((await app.call('/v1/runs', { key: app.keys.reader })).status).toBe(200);
    await expectError(await app.call('/v1/runs', { key: app.keys.writer }), 403, 'forbidden');
    const post = { method: 'POST', body: JSON.stringify({ agent: 'echo', input: 'x' }) };
    await expectError(await app.call('/v1/runs', { ...post, key: app.keys.reader }), 403, 'forbidden');
    const id = await submit(app.keys.writer);
    await expectError(
      await app.call(`/v1/runs/${id}/cancel`, { method: 'POST', key: app.keys.reader }),
      403,
      'forbidden',
    );
    expect((await app.call(`/v1/runs/${id}`, { key: app.keys.reader })).status).toBe(200);
  });

  it('answers a write-only key the id and status of a run, never its contents (cancel, ?wait replay)', async () => {
    const headers = { 'idempotency-key': `write-only-${Date.now()}` };
    const body = JSON.stringify({ agent: 'echo', input: 'secret input' });
    const submitted = await app.call('/v1/runs', { method: 'POST', body, headers });
    const id = acceptedRunResponse.parse(await submitted.json()).id;
    await finish(id);
    const cancel = await app.call(`/v1/runs/${id}/cancel`, { method: 'POST', key: app.keys.writer });
    expect(cancel.status).toBe(202);
    expect(await cancel.json()).toEqual({ id, status: 'completed' });
    const replay = await app.call('/v1/runs?wait=1', { method: 'POST', body, headers, key: app.keys.writer });
    expect(replay.status).toBe(200);
    expect(await replay.json()).toEqual({ id, status: 'completed' });
    // A key that may read still gets the whole run from both.
    const read = await app.call(`/v1/runs/${id}/cancel`, { method: 'POST' });
    expect(runResponse.parse(await read.json())).toMatchObject({ id, output: 'hi' });
    const waited = await app.call('/v1/runs?wait=1', { method: 'POST', body, headers });
    expect(await waited.json()).toMatchObject({ id, input: 'secret input', output: 'hi' });
  });

  it('scopes every run to the key tenant: another tenant sees 404 and lists nothing of it', async () => {
    const id = await submit();
    const other = app.keys.otherTenant;
    await expectError(await app.call(`/v1/runs/${id}`, { key: other }), 404, 'run_not_found');
    await expectError(await app.call(`/v1/runs/${id}/steps`, { key: other }), 404, 'run_not_found');
    await expectError(await app.call(`/v1/runs/${id}/events`, { key: other }), 404, 'run_not_found');
    await expectError(
      await app.call(`/v1/runs/${id}/cancel`, { method: 'POST', key: other }),
      404,
      'run_not_found',
    );
    const outcome = { method: 'POST', body: JSON.stringify({ status: 'committed' }), key: other };
    await expectError(await app.call(`/v1/runs/${id}/outcome`, outcome), 404, 'run_not_found');
    const list = runListResponse.parse(await (await app.call('/v1/runs', { key: other })).json());
    expect(list.data.map((run) => run.id)).not.toContain(id);
    expect((await app.store.getRun(id))?.status).toBe('queued');
    expect((await app.store.getRun(id))?.tenantId).toBe('tenant-a');
  });

  it('creates exactly one run for 20 concurrent submissions with one idempotency key', async () => {
    const headers = { 'idempotency-key': `burst-${Date.now()}` };
    const body = JSON.stringify({ agent: 'echo', input: 'exactly once' });
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => app.call('/v1/runs', { method: 'POST', body, headers })),
    );
    expect(responses.every((response) => response.status === 202)).toBe(true);
    const ids = new Set(
      await Promise.all(responses.map(async (response) => ((await response.json()) as { id: string }).id)),
    );
    expect(ids.size).toBe(1);
    const listed = runListResponse.parse(await (await app.call('/v1/runs?limit=500')).json());
    expect(listed.data.filter((run) => run.input === 'exactly once')).toHaveLength(1);
  });

  it('refuses an idempotency key sent again with a different request (422), and accepts the same one', async () => {
    const headers = { 'idempotency-key': `reuse-${Date.now()}` };
    const body = { agent: 'echo', input: { a: 1, b: [1, 2] }, metadata: { from: 'test' } };
    const first = await app.call('/v1/runs', { method: 'POST', body: JSON.stringify(body), headers });
    expect(first.status).toBe(202);
    // Key order does not make another request.
    const reordered = { metadata: { from: 'test' }, input: { b: [1, 2], a: 1 }, agent: 'echo' };
    const again = await app.call('/v1/runs', { method: 'POST', body: JSON.stringify(reordered), headers });
    expect(again.status).toBe(202);
    expect(((await again.json()) as { id: string }).id).toBe(((await first.json()) as { id: string }).id);
    const other = await app.call('/v1/runs', {
      method: 'POST',
      body: JSON.stringify({ ...body, input: 'something else' }),
      headers,
    });
    await expectError(other, 422, 'idempotency_key_reused');
  });

  it('scopes idempotency keys per tenant', async () => {
    const headers = { 'idempotency-key': 'same-key' };
    const body = JSON.stringify({ agent: 'echo', input: 'once' });
    const first = await (await app.call('/v1/runs', { method: 'POST', body, headers })).json();
    const again = await (await app.call('/v1/runs', { method: 'POST', body, headers })).json();
    const other = await (
      await app.call('/v1/runs', { method: 'POST', body, headers, key: app.keys.otherTenant })
    ).json();
    expect(again).toEqual(first);
    expect((other as { id: string }).id).not.toBe((first as { id: string }).id);
  });
});

describe('runs API', () => {
  it('answers with the documented shapes, filters by time range and carries request ids', async () => {
    const before = new Date(Date.now() - 1000).toISOString();
    const id = await submit(app.keys.admin, {
      agent: 'echo',
      input: { a: 1 },
      session_id: 's-1',
      metadata: { k: 'v' },
    });
    const read = await app.call(`/v1/runs/${id}`);
    expect(read.headers.get('x-request-id')).toMatch(/^req_/);
    const run = runResponse.parse(await read.json());
    expect(run).toMatchObject({ id, session_id: 's-1', metadata: { k: 'v' }, outcome: null });
    const listed = runListResponse.parse(
      await (await app.call(`/v1/runs?session_id=s-1&created_after=${encodeURIComponent(before)}`)).json(),
    );
    expect(listed.data.map((entry) => entry.id)).toEqual([id]);
    const none = runListResponse.parse(
      await (await app.call(`/v1/runs?session_id=s-1&created_before=${encodeURIComponent(before)}`)).json(),
    );
    expect(none.data).toEqual([]);
    stepListResponse.parse(await (await app.call(`/v1/runs/${id}/steps`)).json());
    const echoed = await app.call('/healthz', { headers: { 'x-request-id': 'trace-42' } });
    expect(echoed.headers.get('x-request-id')).toBe('trace-42');
  });

  it('?wait answers 200 with the ended run as soon as a worker finishes it, 202 when time is up', async () => {
    const waiting = app.call('/v1/runs?wait=30', {
      method: 'POST',
      body: JSON.stringify({ agent: 'echo', input: 'hi', session_id: 'wait-test' }),
    });
    // The run the waiting request created, once it exists.
    let runId: string | undefined;
    for (let i = 0; i < 200 && runId === undefined; i++) {
      const page = runListResponse.parse(await (await app.call('/v1/runs?session_id=wait-test')).json());
      runId = page.data[0]?.id;
      if (runId === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(runId).toBeDefined();
    await finish(runId as string);
    const answered = await waiting;
    expect(answered.status).toBe(200);
    expect(runResponse.parse(await answered.json())).toMatchObject({ id: runId, status: 'completed' });

    const expired = await app.call('/v1/runs?wait=1', {
      method: 'POST',
      body: JSON.stringify({ agent: 'echo', input: 'hi' }),
    });
    expect(expired.status).toBe(202);
    expect(runResponse.parse(await expired.json())).toMatchObject({ status: 'queued' });
  });

  it('pages with a cursor', async () => {
    const key = await app.createKey('tenant-pages', ['admin']);
    const ids = [await submit(key), await submit(key), await submit(key)];
    const first = runListResponse.parse(await (await app.call('/v1/runs?limit=2', { key })).json());
    expect(first.next_cursor).not.toBeNull();
    const second = runListResponse.parse(
      await (await app.call(`/v1/runs?limit=2&cursor=${first.next_cursor}`, { key })).json(),
    );
    expect([...first.data, ...second.data].map((run) => run.id).sort()).toEqual([...ids].sort());
    await expectError(await app.call('/v1/runs?cursor=garbage', { key }), 400, 'invalid_cursor');
  });

  it('refuses bodies over the size limit and unknown methods', async () => {
    const big = JSON.stringify({ agent: 'echo', input: 'x'.repeat(1_100_000) });
    await expectError(await app.call('/v1/runs', { method: 'POST', body: big }), 413, 'payload_too_large');
    await expectError(await app.call('/v1/runs', { method: 'DELETE' }), 405, 'method_not_allowed');
    await expectError(await app.call('/v1/runs/x/cancel'), 405, 'method_not_allowed');
    await expectError(await app.call('/v1/nothing'), 404, 'not_found');
  });
});

describe('outcomes', () => {
  const decide = (id: string, body: unknown, key = app.keys.admin) =>
    app.call(`/v1/runs/${id}/outcome`, { method: 'POST', body: JSON.stringify(body), key });

  it('refuses an outcome for a run that has not ended (409)', async () => {
    const id = await submit();
    await expectError(await decide(id, { status: 'committed' }), 409, 'run_not_ended');
  });

  it('records an outcome once: the same one again is harmless, a different one is refused', async () => {
    const id = await submit();
    await finish(id);
    const before = runResponse.parse(await (await app.call(`/v1/runs/${id}`)).json());
    expect(before.outcome).toBeNull();
    const decided = await decide(id, { status: 'committed', value: { order: 7 } }, app.keys.writer);
    expect(decided.status).toBe(200);
    // A write-only key gets the id, status and outcome, never the run's input or output.
    const writerView = (await decided.json()) as Record<string, unknown>;
    expect(Object.keys(writerView).sort()).toEqual(['id', 'outcome', 'status']);
    expect(writerView.outcome).toMatchObject({ status: 'committed', value: { order: 7 } });
    const again = await decide(id, { status: 'committed', value: { order: 7 } });
    expect(runResponse.parse(await again.json())).toMatchObject({ id, output: 'hi' });
    await expectError(await decide(id, { status: 'rejected' }), 409, 'outcome_already_recorded');
    const after = runResponse.parse(
      await (await app.call(`/v1/runs/${id}`, { key: app.keys.reader })).json(),
    );
    expect(after.outcome).toMatchObject({ status: 'committed', value: { order: 7 } });
  });

  it('validates the body', async () => {
    const id = await submit();
    await finish(id);
    await expectError(await decide(id, { status: 'maybe' }), 400, 'invalid_request');
    await expectError(await decide(id, 'committed'), 400, 'invalid_request');
  });
});

describe('contracts and probes', () => {
  it('serves an OpenAPI 3.1 document generated from the schemas', async () => {
    const response = await app.call('/openapi.json', { key: null });
    expect(response.status).toBe(200);
    const document = (await response.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/v1/runs',
        '/v1/runs/{id}',
        '/v1/runs/{id}/events',
        '/v1/runs/{id}/outcome',
        '/readyz',
      ]),
    );
    const post = (document.paths['/v1/runs'] as { post: { requestBody: unknown } }).post;
    expect(JSON.stringify(post.requestBody)).toContain('"agent"');
  });

  it('answers /healthz and /readyz without a key', async () => {
    expect(await (await app.call('/healthz', { key: null })).json()).toEqual({ ok: true });
    const ready = await app.call('/readyz', { key: null });
    expect(ready.status).toBe(200);
    expect(readinessResponse.parse(await ready.json())).toMatchObject({ ok: true, database: 'reachable' });
  });

  it('/readyz is 503 with Retry-After when migrations are behind or the database is gone', async () => {
    const behind = await startTestServer();
    try {
      await behind.client.query('DELETE FROM keel.migrations WHERE version = 3');
      const response = await behind.call('/readyz', { key: null });
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('5');
      expect(await response.json()).toMatchObject({ ok: false, migrations: { pending: [3] } });
      const unreachable = await startTestServer({
        readiness: async () => ({ ok: false, database: 'unreachable', migrations: null }),
      });
      expect((await unreachable.call('/readyz', { key: null })).status).toBe(503);
      await unreachable.close();
    } finally {
      await behind.close();
    }
  });
});

describe('telemetry of runs a request ends', () => {
  const ended: string[] = [];
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      telemetry: combineTelemetry(
        {
          runEnded: () => {
            throw new Error('a broken observer');
          },
        },
        { runEnded: (run) => ended.push(`${run.id} ${run.stopReason}`) },
      ),
    });
  });
  afterAll(() => server.close());
  const submitTo = async (body: unknown) => {
    const response = await server.call('/v1/runs', {
      method: 'POST',
      body: JSON.stringify(body),
      key: server.keys.admin,
    });
    expect(response.status).toBe(202);
    return acceptedRunResponse.parse(await response.json()).id;
  };
  const cancel = (runId: string) =>
    server.call(`/v1/runs/${runId}/cancel`, { method: 'POST', key: server.keys.admin });

  it('reports a queued run a cancel ends, once, and not a running one (its worker reports it)', async () => {
    const queued = await submitTo({ agent: 'echo', input: 'hi' });
    expect((await cancel(queued)).status).toBe(202);
    expect((await cancel(queued)).status).toBe(202);
    expect(ended).toEqual([`${queued} cancelled`]);
    const running = await submitTo({ agent: 'echo', input: 'hi' });
    await server.claim(running);
    expect((await cancel(running)).status).toBe(202);
    expect(ended).toEqual([`${queued} cancelled`]);
  });

  it('reports the queued runs of a session that the interrupt policy ends', async () => {
    ended.length = 0;
    const first = await submitTo({ agent: 'echo', input: 'one', session_id: 's-interrupt' });
    await submitTo({ agent: 'echo', input: 'two', session_id: 's-interrupt', session_policy: 'interrupt' });
    expect(ended).toEqual([`${first} cancelled`]);
  });
});
