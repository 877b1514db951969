import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceIdOfRun } from '../telemetry/span-ids.js';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import { acceptedRunResponse, errorResponse, runListResponse } from './schemas.js';

let app: TestServer;
beforeAll(async () => {
  app = await startTestServer();
});
afterAll(() => app.close());

async function submit(body: Record<string, unknown>, key = app.keys.admin): Promise<string> {
  const response = await app.call('/v1/runs', {
    method: 'POST',
    body: JSON.stringify({ agent: 'echo', input: 'hi', ...body }),
    key,
  });
  expect(response.status).toBe(202);
  return acceptedRunResponse.parse(await response.json()).id;
}

async function listed(query: string, key = app.keys.admin): Promise<string[]> {
  const response = await app.call(`/v1/runs?${query}`, { key });
  expect(response.status).toBe(200);
  return runListResponse.parse(await response.json()).data.map((run) => run.id);
}

describe('GET /v1/runs: stop_reason, prompt_version and q', () => {
  it('filters by stop reason and prompt version, and finds runs by run id, trace id or user id', async () => {
    const user = `searcher-${Date.now()}`;
    const first = await submit({ user_id: user });
    const second = await submit({ user_id: user });
    const stranger = await submit({}, app.keys.otherTenant);
    expect((await app.call(`/v1/runs/${first}/cancel`, { method: 'POST' })).status).toBe(202);

    const cancelled = await listed('stop_reason=cancelled');
    expect(cancelled).toContain(first);
    expect(cancelled).not.toContain(second);
    const [run] = runListResponse.parse(await (await app.call(`/v1/runs?q=${second}`)).json()).data;
    expect(run?.prompt_version).toMatch(/^code:/);
    expect(await listed(`prompt_version=${run!.prompt_version}&q=${user}`)).toEqual([second, first]);
    expect(await listed('prompt_version=v999')).toEqual([]);

    expect(await listed(`q=${first}`)).toEqual([first]);
    expect(await listed(`q=${traceIdOfRun(second)}`)).toEqual([second]);
    expect(await listed(`q=${user}`)).toEqual([second, first]);
    expect(await listed(`q=${user}&stop_reason=cancelled`)).toEqual([first]);
    // Another tenant's run is not found by its id, nor by its trace id.
    expect(await listed(`q=${stranger}`)).toEqual([]);
    expect(await listed(`q=${traceIdOfRun(stranger)}`)).toEqual([]);
    expect(await listed(`q=${stranger}`, app.keys.otherTenant)).toEqual([stranger]);
  });

  it('refuses a bad q, stop_reason or prompt_version with 400 naming it', async () => {
    for (const [query, field] of [
      ['q=', 'q'],
      [`q=${'q'.repeat(201)}`, 'q'],
      [`stop_reason=${'s'.repeat(65)}`, 'stop_reason'],
      [`prompt_version=${'v'.repeat(201)}`, 'prompt_version'],
      ['q=a%00b', 'q'],
    ] as const) {
      const response = await app.call(`/v1/runs?${query}`);
      expect(response.status, query).toBe(400);
      const { error } = errorResponse.parse(await response.json());
      expect(error).toMatchObject({ code: 'invalid_request' });
      expect(error.message).toContain(field);
    }
  });
});
