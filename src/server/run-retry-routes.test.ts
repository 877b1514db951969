/**
 * The dead-letter queue over HTTP: `GET /v1/runs?dead=true` lists runs that ended with stop
 * reason `error`, `POST /v1/runs/{id}/retry` retries one as a new run linked both ways.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

/** Submits a run of `echo` and ends it as a worker that gave up on it would. */
async function deadRun(key = server.keys.admin, input = 'boom', sessionId = 'session-1'): Promise<string> {
  const submitted = await server.call('/v1/runs', {
    method: 'POST',
    key,
    body: JSON.stringify({ agent: 'echo', input, session_id: sessionId }),
  });
  const { id } = (await submitted.json()) as { id: string };
  const lease = await server.claim(id);
  await server.store.finishRun(lease, {
    stopReason: 'error',
    error: { code: 'too_many_attempts', message: 'claimed 26 times', fault: 'system', retryable: false },
    usage: { inputTokens: 0, outputTokens: 0 },
    costUsd: 0,
    stepCount: 0,
  });
  return id;
}

describe('GET /v1/runs?dead=true', () => {
  it('lists the tenant’s dead runs with their last error, combined with filters and paged', async () => {
    const first = await deadRun();
    const second = await deadRun();
    await deadRun(server.keys.otherTenant);
    await server.call('/v1/runs', {
      method: 'POST',
      body: JSON.stringify({ agent: 'echo', input: 'alive' }),
    });

    const page = await server.call('/v1/runs?dead=true&limit=1');
    expect(page.status).toBe(200);
    const body = (await page.json()) as {
      data: { id: string; error: { code: string } }[];
      next_cursor: string;
    };
    expect(body.data.map((run) => run.id)).toEqual([second]);
    expect(body.data[0]?.error.code).toBe('too_many_attempts');
    const next = (await (
      await server.call(`/v1/runs?dead=true&limit=1&cursor=${encodeURIComponent(body.next_cursor)}`)
    ).json()) as { data: { id: string }[] };
    expect(next.data.map((run) => run.id)).toEqual([first]);

    const combined = (await (
      await server.call('/v1/runs?dead=true&session_id=session-1&agent=echo')
    ).json()) as {
      data: { id: string; stop_reason: string }[];
    };
    expect(combined.data.map((run) => run.id)).toEqual([second, first]);
    const none = (await (await server.call('/v1/runs?dead=true&stop_reason=completed')).json()) as {
      data: [];
    };
    expect(none.data).toEqual([]);
    expect((await server.call('/v1/runs?dead=yes')).status).toBe(400);
  });
});

describe('POST /v1/runs/{id}/retry', () => {
  it('starts a new run linked both ways, audited, and refuses a second retry', async () => {
    const dead = await deadRun(server.keys.admin, 'retry me');
    const answer = await server.call(`/v1/runs/${dead}/retry`, { method: 'POST', key: server.keys.writer });
    expect(answer.status).toBe(201);
    const retry = (await answer.json()) as { id: string; status: string };
    expect(retry.status).toBe('queued');
    // A write-only key gets the id and status only, as for cancel.
    expect(Object.keys(retry).sort()).toEqual(['id', 'status']);

    const view = (await (await server.call(`/v1/runs/${retry.id}`)).json()) as Record<string, unknown>;
    expect(view).toMatchObject({
      agent: 'echo',
      input: 'retry me',
      session_id: 'session-1',
      trigger: 'retry',
      retry_of: dead,
      retried_by: null,
    });
    const old = (await (await server.call(`/v1/runs/${dead}`)).json()) as Record<string, unknown>;
    expect(old).toMatchObject({ retry_of: null, retried_by: retry.id, stop_reason: 'error' });

    const audit = (await (await server.call(`/v1/audit?action=run.retry&target=run:${dead}`)).json()) as {
      data: { actor: string; action: string; target: string; after: unknown }[];
    };
    expect(audit.data).toHaveLength(1);
    expect(audit.data[0]).toMatchObject({
      action: 'run.retry',
      target: `run:${dead}`,
      after: { retried_by: retry.id },
    });
    expect(audit.data[0]?.actor).toMatch(/^key:/);

    const again = await server.call(`/v1/runs/${dead}/retry`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: { code: 'run_already_retried' } });
  });

  it('answers 409 run_not_dead for a live or completed run, 404 for an unknown or other tenant’s run', async () => {
    const submitted = (await (
      await server.call('/v1/runs', {
        method: 'POST',
        body: JSON.stringify({ agent: 'echo', input: 'live' }),
      })
    ).json()) as { id: string };
    const queued = await server.call(`/v1/runs/${submitted.id}/retry`, { method: 'POST' });
    expect(queued.status).toBe(409);
    expect(await queued.json()).toMatchObject({ error: { code: 'run_not_dead' } });
    const lease = await server.claim(submitted.id);
    expect((await server.call(`/v1/runs/${submitted.id}/retry`, { method: 'POST' })).status).toBe(409);
    await server.store.finishRun(lease, {
      stopReason: 'completed',
      output: 'ok',
      usage: { inputTokens: 0, outputTokens: 0 },
      costUsd: 0,
      stepCount: 0,
    });
    const completed = await server.call(`/v1/runs/${submitted.id}/retry`, { method: 'POST' });
    expect(completed.status).toBe(409);
    expect(await completed.json()).toMatchObject({ error: { code: 'run_not_dead' } });

    const unknown = await server.call('/v1/runs/run_nope/retry', { method: 'POST' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'run_not_found' } });
    const theirs = await deadRun(server.keys.otherTenant);
    expect((await server.call(`/v1/runs/${theirs}/retry`, { method: 'POST' })).status).toBe(404);
  });

  it('needs a write scope', async () => {
    const dead = await deadRun(server.keys.admin, 'boom', 'session-2');
    const refused = await server.call(`/v1/runs/${dead}/retry`, { method: 'POST', key: server.keys.reader });
    expect(refused.status).toBe(403);
    expect((await server.call(`/v1/runs/${dead}`)).status).toBe(200);
    const view = (await (await server.call(`/v1/runs/${dead}`)).json()) as { retried_by: string | null };
    expect(view.retried_by).toBeNull();
  });
});
