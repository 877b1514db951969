import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import { acceptedRunResponse, errorResponse } from './schemas.js';
import { sessionMessageListResponse, sessionResponse } from './session-schemas.js';

let app: TestServer;
beforeAll(async () => {
  app = await startTestServer();
});
afterAll(() => app.close());

let sessionCounter = 0;
const newSession = () => `chat-${++sessionCounter}`;

function post(body: Record<string, unknown>, key = app.keys.admin) {
  return app.call('/v1/runs', { method: 'POST', body: JSON.stringify({ agent: 'echo', ...body }), key });
}

async function send(sessionId: string, input: unknown, extra: Record<string, unknown> = {}, key?: string) {
  const response = await post({ input, session_id: sessionId, ...extra }, key);
  expect(response.status).toBe(202);
  return acceptedRunResponse.parse(await response.json()).id;
}

/** Claims the run as a worker would and ends it with `output`. */
async function answer(runId: string, output: unknown) {
  const lease = await app.claim(runId);
  await app.store.finishRun(lease, {
    stopReason: 'completed',
    output,
    usage: { inputTokens: 0, outputTokens: 0 },
    costUsd: 0,
    stepCount: 0,
  });
}

const claimable = async (runId: string) =>
  (await app.store.claimRuns({ owner: 'probe', limit: 1, leaseMs: 60_000, ids: [runId] })).length > 0;

async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(errorResponse.parse(await response.json()).error.code).toBe(code);
}

describe('session policies on POST /v1/runs', () => {
  it('queues a message behind the active run of its session by default', async () => {
    const session = newSession();
    const first = await send(session, 'one');
    const second = await send(session, 'two', { session_policy: 'queue' });
    expect(await claimable(second)).toBe(false);
    await answer(first, 'first answer');
    expect(await claimable(second)).toBe(true);
  });

  it('rejects a message with 409 session_busy under `reject` while a run is active', async () => {
    const session = newSession();
    const first = await send(session, 'one');
    await expectError(
      await post({ input: 'two', session_id: session, session_policy: 'reject' }),
      409,
      'session_busy',
    );
    // Another tenant's session of the same name is another session.
    await send(session, 'elsewhere', { session_policy: 'reject' }, app.keys.otherTenant);
    await answer(first, 'done');
    await send(session, 'two', { session_policy: 'reject' });
  });

  it('gives a retried message (same Idempotency-Key) its own run back under `reject` and `interrupt`', async () => {
    for (const policy of ['reject', 'interrupt']) {
      const session = newSession();
      const body = JSON.stringify({
        agent: 'echo',
        input: 'hello',
        session_id: session,
        session_policy: policy,
      });
      const headers = { 'idempotency-key': `retry-${policy}-${session}` };
      const first = await app.call('/v1/runs', { method: 'POST', body, headers });
      expect(first.status).toBe(202);
      const { id } = acceptedRunResponse.parse(await first.json());
      // The run is still active when the retry comes: it is neither refused nor cancelled by it.
      const retry = await app.call('/v1/runs', { method: 'POST', body, headers });
      expect(retry.status).toBe(202);
      expect(acceptedRunResponse.parse(await retry.json()).id).toBe(id);
      expect(await app.store.getRun(id)).toMatchObject({ status: 'queued', cancelRequested: false });
    }
  });

  it('accepts exactly one of 10 simultaneous `reject` messages to an idle session', async () => {
    const session = newSession();
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, index) =>
        post({ input: `message ${index}`, session_id: session, session_policy: 'reject' }),
      ),
    );
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([202, ...Array<number>(9).fill(409)]);
    for (const response of responses.filter((response) => response.status === 409))
      await expectError(response, 409, 'session_busy');
  });

  it('cancels the active runs under `interrupt`, and the new run follows once they stopped', async () => {
    const session = newSession();
    const running = await send(session, 'one');
    await app.claim(running);
    const queued = await send(session, 'two');
    const interrupting = await send(session, 'three', { session_policy: 'interrupt' });

    const queuedRun = await app.store.getRun(queued);
    expect(queuedRun?.status).toBe('cancelled');
    const runningRun = await app.store.getRun(running);
    expect(runningRun?.cancelRequested).toBe(true);
    // Still running until its worker sees the request: the new message waits for it.
    expect(await claimable(interrupting)).toBe(false);
    await app.store.finishRun(
      { runId: running, owner: 'test-worker', fence: runningRun!.fence },
      { stopReason: 'cancelled', usage: { inputTokens: 0, outputTokens: 0 }, costUsd: 0, stepCount: 0 },
    );
    expect(await claimable(interrupting)).toBe(true);
  });

  it('refuses an unknown policy', async () => {
    await expectError(
      await post({ input: 'x', session_id: newSession(), session_policy: 'drop' }),
      400,
      'invalid_request',
    );
  });
});

describe('GET /v1/sessions/{id}', () => {
  it('summarizes the session for its tenant only', async () => {
    const session = newSession();
    const first = await send(session, 'one');
    const second = await send(session, 'two');
    const response = await app.call(`/v1/sessions/${session}`, { key: app.keys.reader });
    expect(response.status).toBe(200);
    const body = sessionResponse.parse(await response.json());
    expect(body).toMatchObject({ id: session, run_count: 2, active_run_id: first });
    await answer(first, 'done');
    const after = sessionResponse.parse(await (await app.call(`/v1/sessions/${session}`)).json());
    expect(after.active_run_id).toBe(second);
    expect(Date.parse(after.last_run_at)).toBeGreaterThanOrEqual(Date.parse(after.created_at));

    await expectError(
      await app.call(`/v1/sessions/${session}`, { key: app.keys.otherTenant }),
      404,
      'session_not_found',
    );
    await expectError(
      await app.call(`/v1/sessions/${session}/messages`, { key: app.keys.otherTenant }),
      404,
      'session_not_found',
    );
    await expectError(await app.call('/v1/sessions/nope'), 404, 'session_not_found');
    await expectError(await app.call(`/v1/sessions/${session}`, { key: null }), 401, 'unauthorized');
    await expectError(
      await app.call(`/v1/sessions/${session}`, { key: app.keys.gatewayOnly }),
      403,
      'forbidden',
    );
    await expectError(
      await app.call(`/v1/sessions/${session}`, { method: 'POST', body: '{}' }),
      405,
      'method_not_allowed',
    );
    await expectError(await app.call(`/v1/sessions/${session}/other`), 404, 'not_found');
  });
});

describe('GET /v1/sessions/{id}/messages', () => {
  it('returns the conversation oldest first, paged from the newest', async () => {
    const session = newSession();
    const first = await send(session, 'What is 2 + 2?');
    await answer(first, '4');
    const second = await send(session, { ask: 'and 3 + 3?' });
    await answer(second, { value: 6 });
    const third = await send(session, 'thanks');

    const response = await app.call(`/v1/sessions/${session}/messages`, { key: app.keys.reader });
    expect(response.status).toBe(200);
    const body = sessionMessageListResponse.parse(await response.json());
    expect(body.data.map(({ role, content, run_id }) => ({ role, content, run_id }))).toEqual([
      { role: 'user', content: 'What is 2 + 2?', run_id: first },
      { role: 'assistant', content: '4', run_id: first },
      { role: 'user', content: '{"ask":"and 3 + 3?"}', run_id: second },
      { role: 'assistant', content: '{"value":6}', run_id: second },
      { role: 'user', content: 'thanks', run_id: third },
    ]);
    expect(body.next_cursor).toBeNull();

    const newest = sessionMessageListResponse.parse(
      await (await app.call(`/v1/sessions/${session}/messages?limit=2`)).json(),
    );
    expect(newest.data.map((message) => message.run_id)).toEqual([second, second, third]);
    expect(newest.next_cursor).not.toBeNull();
    const older = sessionMessageListResponse.parse(
      await (await app.call(`/v1/sessions/${session}/messages?limit=2&cursor=${newest.next_cursor}`)).json(),
    );
    expect(older.data.map((message) => message.run_id)).toEqual([first, first]);
    expect(older.next_cursor).toBeNull();
    await expectError(await app.call(`/v1/sessions/${session}/messages?limit=0`), 400, 'invalid_request');
  });
});
