import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnalytics } from '../analytics/analytics-store.js';
import { parseCassette } from '../cassettes/cassette.js';
import { createApiKeys, type ApiKeys, type ApiKeyScope } from '../gateway/api-keys.js';
import { openStore } from '../journal/open-store.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import { defineAgent } from '../runtime/agent.js';
import { runAgent } from '../runtime/run-agent.js';
import { silentLogger } from '../util/logger.js';
import { createServer } from './create-server.js';
import { createRunFeedback } from '../feedback/feedback.js';
import { createRunOutcomes } from '../feedback/outcomes.js';

describe('GET /v1/runs/{id}/cassette', () => {
  let store: JournalStore;
  let client: SqlClient;
  let apiKeys: ApiKeys;
  let server: ReturnType<typeof createServer>;
  let url: string;
  const agent = defineAgent({ name: 'echo', instructions: 'Repeat.', model: 'builtin:echo' });

  beforeAll(async () => {
    ({ store, client } = await openStore({ dataDir: 'memory://' }));
    apiKeys = createApiKeys({ client });
    server = createServer({
      store,
      client,
      analytics: createAnalytics({ client }),
      agents: new Map([['echo', agent]]),
      logger: silentLogger,
      apiKeys,
      outcomes: createRunOutcomes({ client }),
      feedback: createRunFeedback({ client }),
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await store.close();
  });

  const get = async (path: string, tenantId: string, scopes: ApiKeyScope[]) => {
    const { key } = await apiKeys.create({ tenantId, scopes });
    const response = await fetch(url + path, { headers: { authorization: `Bearer ${key}` } });
    return { status: response.status, text: await response.text() };
  };

  it('serves an ended run as a cassette to payload readers only', async () => {
    const run = await runAgent({
      store,
      agents: [agent],
      agent: 'echo',
      input: 'hello',
      tenantId: 'acme',
      logger: silentLogger,
      pollMs: 20,
    });
    const path = `/v1/runs/${run.id}/cassette`;
    const answer = await get(path, 'acme', ['runs:read_payloads']);
    expect(answer.status).toBe(200);
    const cassette = parseCassette(answer.text);
    expect(cassette).toMatchObject({ keel_cassette: 1, agent: 'echo', input: 'hello', output: run.output });
    expect(cassette.steps[0]).toMatchObject({ kind: 'model', name: 'builtin:echo' });
    expect((await get(path, 'acme', ['admin'])).status).toBe(200);
    expect((await get(path, 'acme', ['runs:read'])).status).toBe(403);
    expect((await get(path, 'other', ['admin'])).status).toBe(404);
    const queued = await store.createRun({ agent: 'echo', input: 'later', tenantId: 'acme' });
    const open = await get(`/v1/runs/${queued.run.id}/cassette`, 'acme', ['admin']);
    expect(open.status).toBe(409);
    expect(open.text).toContain('run_not_ended');
  });
});
