import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import { promptListResponse, promptPinResponse, promptVersionResponse } from './governance-schemas.js';
import { errorResponse, runResponse } from './schemas.js';

let app: TestServer;
beforeAll(async () => {
  app = await startTestServer();
});
afterAll(() => app.close());

const push = (body: unknown, key: string = app.keys.admin, agent = 'echo') =>
  app.call(`/v1/prompts/${agent}`, { method: 'POST', body: JSON.stringify(body), key });
const pin = (version: string, key: string = app.keys.admin) =>
  app.call('/v1/prompts/echo/pin', { method: 'POST', body: JSON.stringify({ version }), key });

async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(errorResponse.parse(await response.json()).error.code).toBe(code);
}

/** Submits a run of `echo` and returns the prompt version it recorded. */
async function recordedVersion(key: string = app.keys.admin): Promise<string | null> {
  const submitted = await app.call('/v1/runs', {
    method: 'POST',
    body: '{"agent":"echo","input":"hi"}',
    key,
  });
  expect(submitted.status).toBe(202);
  const { id } = (await submitted.json()) as { id: string };
  return runResponse.parse(await (await app.call(`/v1/runs/${id}`, { key })).json()).prompt_version ?? null;
}

describe('/v1/prompts', () => {
  it('push, list, show, pin and rollback; runs record the version pinned when they are created', async () => {
    const codeVersion = await recordedVersion();
    expect(codeVersion).toMatch(/^code:[0-9a-f]{12}$/);

    const first = await push({ text: 'Repeat, politely.', note: 'politer' });
    expect(first.status).toBe(201);
    expect(promptVersionResponse.parse(await first.json())).toMatchObject({
      agent: 'echo',
      version: 'v1',
      text: 'Repeat, politely.',
      note: 'politer',
    });
    const same = await push({ text: 'Repeat, politely.' });
    expect(same.status).toBe(200);
    expect(promptVersionResponse.parse(await same.json()).version).toBe('v1');
    expect((await push({ text: 'Repeat twice.' })).status).toBe(201);

    // A reader sees versions and texts; another tenant sees none of them.
    const listed = promptListResponse.parse(
      await (await app.call('/v1/prompts/echo', { key: app.keys.reader })).json(),
    );
    expect(listed).toMatchObject({ code_version: codeVersion, pinned_version: null, previous_versions: [] });
    expect(listed.data.map((version) => version.version)).toEqual(['v2', 'v1']);
    const shown = await app.call('/v1/prompts/echo/versions/v2', { key: app.keys.reader });
    expect(promptVersionResponse.parse(await shown.json()).text).toBe('Repeat twice.');
    const other = promptListResponse.parse(
      await (await app.call('/v1/prompts/echo', { key: app.keys.otherTenant })).json(),
    );
    expect(other.data).toEqual([]);

    expect(promptPinResponse.parse(await (await pin('v1')).json())).toMatchObject({ pinned_version: 'v1' });
    expect(await recordedVersion()).toBe('v1');
    expect(await recordedVersion(app.keys.otherTenant)).toBe(codeVersion);
    const pinned = promptPinResponse.parse(await (await pin('v2')).json());
    expect(pinned).toMatchObject({ pinned_version: 'v2', previous_versions: ['v1'] });
    expect(await recordedVersion()).toBe('v2');

    const rolledBack = await app.call('/v1/prompts/echo/rollback', { method: 'POST' });
    expect(promptPinResponse.parse(await rolledBack.json())).toMatchObject({ pinned_version: 'v1' });
    expect(await recordedVersion()).toBe('v1');
    const toCode = await app.call('/v1/prompts/echo/rollback', { method: 'POST' });
    expect(promptPinResponse.parse(await toCode.json()).pinned_version).toBeNull();
    expect(await recordedVersion()).toBe(codeVersion);
    await expectError(
      await app.call('/v1/prompts/echo/rollback', { method: 'POST' }),
      409,
      'prompt_not_pinned',
    );
  });

  it('writes need admin, reads runs:read or admin', async () => {
    await expectError(await push({ text: 'x' }, app.keys.reader), 403, 'forbidden');
    await expectError(await push({ text: 'x' }, app.keys.writer), 403, 'forbidden');
    await expectError(await pin('v1', app.keys.reader), 403, 'forbidden');
    await expectError(
      await app.call('/v1/prompts/echo/rollback', { method: 'POST', key: app.keys.reader }),
      403,
      'forbidden',
    );
    await expectError(await app.call('/v1/prompts/echo', { key: app.keys.gatewayOnly }), 403, 'forbidden');
    await expectError(await app.call('/v1/prompts/echo', { key: null }), 401, 'unauthorized');
  });

  it('bad input answers with stable codes', async () => {
    await expectError(await push({ text: 'x' }, app.keys.admin, 'nobody'), 404, 'unknown_agent');
    await expectError(await app.call('/v1/prompts/nobody'), 404, 'unknown_agent');
    await expectError(await app.call('/v1/prompts/echo/versions/v99'), 404, 'prompt_version_not_found');
    await expectError(await app.call('/v1/prompts/echo/versions/latest'), 404, 'prompt_version_not_found');
    await expectError(await pin('v99'), 404, 'prompt_version_not_found');
    await expectError(await push({ text: '  \n' }), 400, 'prompt_empty');
    await expectError(await push({ note: 'no text' }), 400, 'invalid_request');
    await expectError(await push({ text: 'x', extra: 1 }), 400, 'invalid_request');
    await expectError(
      await app.call('/v1/prompts/echo/pin', { method: 'POST', body: JSON.stringify({ version: '' }) }),
      400,
      'invalid_request',
    );
  });
});
