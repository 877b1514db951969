import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnalytics } from '../analytics/analytics-store.js';
import { createApiKeys } from '../gateway/api-keys.js';
import { createAuditLog } from '../governance/audit-query.js';
import { createPromptRegistry } from '../prompts/prompt-registry.js';
import { openStore } from '../journal/open-store.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import { defineAgent } from '../runtime/agent.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { silentLogger } from '../util/logger.js';
import { createServer } from './create-server.js';
import { createRunFeedback } from '../feedback/feedback.js';
import { createRunOutcomes } from '../feedback/outcomes.js';
import { acceptedRunResponse, errorResponse } from './schemas.js';
import { createSessionList } from './session-list.js';
import { sessionListResponse } from './session-schemas.js';

type Opened = { store: JournalStore; client: SqlClient; schema: string; drop(): Promise<void> };

/** `GET /v1/sessions` over one database (PGlite or a Postgres schema). */
function sessionListSuite(open: () => Promise<Opened>) {
  let opened: Opened;
  let url: string;
  let close: () => Promise<void>;
  const keys = {} as Record<'admin' | 'reader' | 'writer' | 'other', string>;

  beforeAll(async () => {
    opened = await open();
    const { store, client, schema } = opened;
    const apiKeys = createApiKeys({ client, schema });
    const echo = defineAgent({ name: 'echo', instructions: 'Repeat.', model: 'builtin:echo' });
    const other = defineAgent({ name: 'other', instructions: 'Repeat.', model: 'builtin:echo' });
    const server = createServer({
      store,
      client,
      sessions: createSessionList({ client, schema }),
      prompts: createPromptRegistry({ client, schema }),
      audit: createAuditLog({ client, schema }),
      analytics: createAnalytics({ client, schema }),
      agents: new Map([
        ['echo', echo],
        ['other', other],
      ]),
      logger: silentLogger,
      apiKeys,
      outcomes: createRunOutcomes({ client, schema }),
      feedback: createRunFeedback({ client, schema }),
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await opened.drop();
    };
    keys.admin = (await apiKeys.create({ tenantId: 'tenant-a', scopes: ['admin'] })).key;
    keys.reader = (await apiKeys.create({ tenantId: 'tenant-a', scopes: ['runs:read'] })).key;
    keys.writer = (await apiKeys.create({ tenantId: 'tenant-a', scopes: ['runs:write'] })).key;
    keys.other = (await apiKeys.create({ tenantId: 'tenant-b', scopes: ['admin'] })).key;
  }, 60_000);
  afterAll(() => close?.());

  const call = (path: string, key: string | null, init: RequestInit = {}) =>
    fetch(url + path, {
      ...init,
      headers: {
        ...(key === null ? {} : { authorization: `Bearer ${key}` }),
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
    });
  const send = async (body: Record<string, unknown>, key = keys.admin) => {
    const response = await call('/v1/runs', key, { method: 'POST', body: JSON.stringify(body) });
    expect(response.status).toBe(202);
    return acceptedRunResponse.parse(await response.json()).id;
  };
  const list = async (query: string, key = keys.reader) => {
    const response = await call(`/v1/sessions${query}`, key);
    expect(response.status).toBe(200);
    return sessionListResponse.parse(await response.json());
  };

  it('lists the tenant’s sessions, latest activity first, with counts, agent and first message', async () => {
    const first = await send({ agent: 'echo', input: '3 days in Lisbon in May', session_id: 'trip-1' });
    await send({ agent: 'echo', input: { city: 'Porto' }, session_id: 'trip-2' });
    await send({ agent: 'other', input: 'Make it 2 days', session_id: 'trip-1' });
    await send({ agent: 'echo', input: 'no session' });
    await send({ agent: 'echo', input: 'elsewhere', session_id: 'trip-1' }, keys.other);
    // Ending the first run leaves one of trip-1's two runs active.
    const [claimed] = await opened.store.claimRuns({ owner: 'w', limit: 1, leaseMs: 60_000, ids: [first] });
    await opened.store.finishRun(
      { runId: first, owner: 'w', fence: claimed!.fence },
      {
        stopReason: 'completed',
        output: 'ok',
        usage: { inputTokens: 0, outputTokens: 0 },
        costUsd: 0,
        stepCount: 0,
      },
    );

    const page = await list('');
    expect(page.next_cursor).toBeNull();
    expect(page.data.map((session) => session.id)).toEqual(['trip-1', 'trip-2']);
    expect(page.data[0]).toMatchObject({
      run_count: 2,
      active_run_count: 1,
      agent: 'other',
      first_message: '3 days in Lisbon in May',
    });
    expect(page.data[1]).toMatchObject({
      run_count: 1,
      active_run_count: 1,
      first_message: '{"city":"Porto"}',
    });
    expect(Date.parse(page.data[0]!.last_run_at)).toBeGreaterThanOrEqual(
      Date.parse(page.data[0]!.created_at),
    );

    // Another tenant sees its own session of the same name only.
    const theirs = await list('', keys.other);
    expect(theirs.data).toHaveLength(1);
    expect(theirs.data[0]).toMatchObject({ id: 'trip-1', run_count: 1, first_message: 'elsewhere' });
  });

  it('pages with a cursor, losing and repeating nothing', async () => {
    for (let index = 0; index < 5; index++)
      await send({ agent: 'echo', input: `m${index}`, session_id: `page-${index}` });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await list(`?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`);
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((session) => session.id));
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(seen).toEqual(['page-4', 'page-3', 'page-2', 'page-1', 'page-0', 'trip-1', 'trip-2']);
  });

  it('refuses a bad cursor or limit (400), no key (401) and a key without runs:read (403)', async () => {
    const expectError = async (response: Response, status: number, code: string) => {
      expect(response.status).toBe(status);
      expect(errorResponse.parse(await response.json()).error.code).toBe(code);
    };
    await expectError(await call('/v1/sessions?cursor=nope', keys.reader), 400, 'invalid_cursor');
    await expectError(await call('/v1/sessions?limit=0', keys.reader), 400, 'invalid_request');
    await expectError(await call('/v1/sessions', null), 401, 'unauthorized');
    await expectError(await call('/v1/sessions', keys.writer), 403, 'forbidden');
  });
}

describe('GET /v1/sessions on PGlite', () => {
  sessionListSuite(async () => {
    const opened = await openStore({ dataDir: 'memory://' });
    return { ...opened, schema: 'keel', drop: () => opened.store.close() };
  });
});

describePostgres('GET /v1/sessions on Postgres', (databaseUrl) => {
  sessionListSuite(async () => {
    const schema = createTestSchemaName();
    const opened = await openStore({ databaseUrl, schema });
    return {
      ...opened,
      schema,
      drop: async () => {
        await opened.client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await opened.store.close();
      },
    };
  });
});
