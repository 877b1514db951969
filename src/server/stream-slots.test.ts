import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKeys } from '../gateway/api-keys.js';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import { errorResponse } from './schemas.js';
import { createStreamSlots } from './stream-slots.js';

let app: TestServer;
beforeAll(async () => {
  app = await startTestServer({ maxStreamsPerKey: 2, streamKeyCheckMs: 20, apiKeyCacheTtlMs: 300 });
});
afterAll(() => app.close());

/** A run nobody works on: its event stream stays open until the client or the server ends it. */
async function queuedRun(): Promise<string> {
  const response = await app.call('/v1/runs', {
    method: 'POST',
    body: JSON.stringify({ agent: 'echo', input: 'x' }),
  });
  return ((await response.json()) as { id: string }).id;
}

async function openStream(runId: string, key: string) {
  const controller = new AbortController();
  const response = await app.call(`/v1/runs/${runId}/events`, { key, signal: controller.signal });
  return { response, close: () => controller.abort() };
}

/** Everything a stream sends until the server ends it. */
async function readToEnd(response: Response): Promise<string> {
  let text = '';
  const decoder = new TextDecoder();
  for await (const chunk of response.body!) text += decoder.decode(chunk as Uint8Array, { stream: true });
  return text;
}

describe('stream slots', () => {
  it('counts per key, refuses beyond the cap and gives a slot back once', () => {
    const slots = createStreamSlots({ maxPerKey: 2 });
    const first = slots.acquire('k1');
    slots.acquire('k1');
    expect(() => slots.acquire('k1')).toThrow(expect.objectContaining({ code: 'too_many_streams' }) as Error);
    slots.acquire('k2');
    first();
    first();
    expect(slots.held('k1')).toBe(1);
    slots.acquire('k1');
    expect(slots.held('k1')).toBe(2);
  });
});

describe('open event streams per key', () => {
  it('answers 429 too_many_streams beyond the cap, for that key only, and frees a slot when a stream closes', async () => {
    const key = await app.createKey('tenant-a', ['runs:read', 'runs:write']);
    const runId = await queuedRun();
    // Streams refused before they start (an unknown run) hold no slot.
    for (let i = 0; i < 3; i++)
      expect((await app.call('/v1/runs/run_nope/events', { key })).status).toBe(404);
    const open = [await openStream(runId, key), await openStream(runId, key)];
    for (const stream of open) expect(stream.response.status).toBe(200);
    const refused = await app.call(`/v1/runs/${runId}/events`, { key });
    expect(refused.status).toBe(429);
    expect(errorResponse.parse(await refused.json()).error.code).toBe('too_many_streams');
    const other = await openStream(runId, app.keys.reader);
    expect(other.response.status).toBe(200);
    other.close();

    open[0]!.close();
    // The server lets the slot go once it notices the hang-up: retry until it has.
    let again = await app.call(`/v1/runs/${runId}/events`, { key });
    while (again.status === 429) {
      await again.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, 20));
      again = await app.call(`/v1/runs/${runId}/events`, { key });
    }
    expect(again.status).toBe(200);
    await again.body?.cancel();
    open[1]!.close();
  });
});

describe('a revoked key’s open streams', () => {
  it('end with an error event when the key is revoked through this server', async () => {
    const { key, record } = await app.apiKeys.create({ tenantId: 'tenant-a', scopes: ['runs:read'] });
    const stream = await openStream(await queuedRun(), key);
    expect(stream.response.status).toBe(200);
    const revoked = await app.call(`/v1/keys/${record.id}/revoke`, { method: 'POST' });
    expect(revoked.status).toBe(200);
    const text = await readToEnd(stream.response);
    expect(text).toContain('event: error\ndata: {"code":"unauthorized"');
  });

  it('end once the key cache forgets a key revoked by another process', async () => {
    const { key, record } = await app.apiKeys.create({ tenantId: 'tenant-a', scopes: ['runs:read'] });
    const stream = await openStream(await queuedRun(), key);
    expect(stream.response.status).toBe(200);
    // Another process's key store over the same database: this server's cache is not told.
    await createApiKeys({ client: app.client }).revoke(record.id);
    const text = await readToEnd(stream.response);
    expect(text).toMatch(/event: error\ndata: \{"code":"unauthorized","message":"[^"]+"\}\n\n$/);
  });

  it('end when the key expires', async () => {
    const expiresAt = new Date(Date.now() + 400);
    const { key } = await app.apiKeys.create({ tenantId: 'tenant-a', scopes: ['runs:read'], expiresAt });
    const stream = await openStream(await queuedRun(), key);
    expect(stream.response.status).toBe(200);
    expect(await readToEnd(stream.response)).toContain('event: error\ndata: {"code":"unauthorized"');
  });
});
