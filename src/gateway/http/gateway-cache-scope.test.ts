/**
 * The response cache is scoped to the tenant, over HTTP: two gateway replicas (each its own
 * gateway, in-process cache level and server) over one database (the shared level), two tenants'
 * keys, one fake upstream on the OpenAI wire. Run on PGlite always and on Postgres when configured.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrate } from '../../journal/migrations.js';
import { createPgClient } from '../../journal/pg-client.js';
import { createPgliteClient } from '../../journal/pglite-client.js';
import type { SqlClient } from '../../journal/sql-client.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../../testing/fake-openai-server.js';
import { createTestSchemaName, describePostgres } from '../../testing/postgres.js';
import { createApiKeys } from '../api-keys.js';
import type { GatewayConfigInput } from '../gateway-config.js';
import { createGateway, type KeelGateway } from '../gateway.js';
import { createSqlResponseCache } from '../sql-response-cache.js';
import { createGatewayHandler } from './gateway-handler.js';

interface Replica {
  gateway: KeelGateway;
  server: Server;
  url: string;
}

function cacheScopeSuite(openClient: () => Promise<SqlClient>): void {
  let client: SqlClient;
  let schema: string;
  let upstream: FakeOpenAIServer;
  let replicas: Replica[] = [];
  let keyA: string;
  let keyB: string;
  let prompt = 0;

  beforeAll(async () => {
    client = await openClient();
    schema = createTestSchemaName();
    await migrate(client, { schema });
    upstream = await createFakeOpenAIServer({ handler: () => ({ content: 'An answer for one tenant.' }) });
    const apiKeys = createApiKeys({ client, schema });
    keyA = (await apiKeys.create({ tenantId: 'tenant-a', scopes: ['gateway'] })).key;
    keyB = (await apiKeys.create({ tenantId: 'tenant-b', scopes: ['gateway'] })).key;
    const config: GatewayConfigInput = {
      deployments: [
        { name: 'up', provider: 'openai', model: 'gpt-4o-mini', baseURL: upstream.url, apiKeyEnv: 'UP_KEY' },
      ],
      routes: [
        { name: 'cached', deployments: ['up'], cache: true },
        { name: 'public', deployments: ['up'], cache: { scope: 'global' } },
        { name: 'plain', deployments: ['up'] },
        { name: 'opt-in', deployments: ['up'], cache: { enabled: false, callerOptIn: true } },
      ],
      retry: { attemptsPerDeployment: 1 },
    };
    for (let index = 0; index < 2; index++) {
      const gateway = createGateway({
        config,
        cache: createSqlResponseCache({ client, schema }),
        env: { UP_KEY: 'sk-upstream-0123456789' },
      });
      const handler = createGatewayHandler({ gateway, apiKeys });
      const server = createServer((request, response) => {
        if (!handler(request, response)) {
          response.writeHead(404);
          response.end();
        }
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      replicas.push({ gateway, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    }
  });

  afterAll(async () => {
    for (const { server, gateway } of replicas) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await gateway.close();
    }
    replicas = [];
    await upstream?.close();
    await client?.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client?.close();
  });

  let upstreamBefore = 0;
  beforeEach(() => {
    upstreamBefore = upstream.requests.length;
  });
  const upstreamCalls = () => upstream.requests.length - upstreamBefore;

  /** A prompt no other test used, so entries of one test never answer another's. */
  const freshBody = (route: string, stream = false) =>
    JSON.stringify({
      model: route,
      messages: [{ role: 'user', content: `What is ${++prompt} + ${prompt}?` }],
      ...(stream ? { stream: true } : {}),
    });

  /** Posts a chat completion; returns the status and the `x-keel-cache` header. */
  async function chat(
    replica: number,
    key: string,
    body: string,
    headers: Record<string, string> = {},
  ): Promise<string | null> {
    const response = await fetch(`${replicas[replica]?.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
      body,
    });
    await response.text();
    expect(response.status).toBe(200);
    return response.headers.get('x-keel-cache');
  }

  /** Waits until the shared level holds `count` entries (its writes are not awaited by calls). */
  async function sharedEntries(count: number): Promise<void> {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${schema}.response_cache`,
      );
      if ((rows[0]?.n ?? 0) >= count) return;
      if (Date.now() > deadline) throw new Error(`the shared cache never reached ${count} entries`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  const entriesNow = async () =>
    (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.response_cache`)).rows[0]
      ?.n ?? 0;

  it("answers tenant B's identical request from upstream, never from A's entry, on any replica", async () => {
    const body = freshBody('cached');
    const entries = await entriesNow();
    expect(await chat(0, keyA, body)).toBe('miss');
    await sharedEntries(entries + 1);
    // The in-process level of replica 0 holds A's answer: B still misses.
    expect(await chat(0, keyB, body)).toBe('miss');
    // Replica 1 holds nothing in process: B's request reads the shared level, which has A's entry.
    const other = freshBody('cached');
    expect(await chat(0, keyA, other)).toBe('miss');
    await sharedEntries(entries + 3);
    expect(await chat(1, keyB, other)).toBe('miss');
    // A's own repeats hit on both replicas: the cache works, it is only scoped.
    expect(await chat(0, keyA, body)).toBe('hit');
    expect(await chat(1, keyA, other)).toBe('hit');
    expect(await chat(1, keyB, body)).toBe('hit');
    expect(upstreamCalls()).toBe(4);
  });

  it("misses A's entry on a stream from tenant B too", async () => {
    const body = freshBody('cached', true);
    expect(await chat(0, keyA, body)).toBe('miss');
    expect(await chat(0, keyA, body)).toBe('hit');
    expect(await chat(0, keyB, body)).toBe('miss');
    expect(upstreamCalls()).toBe(2);
  });

  it("shares entries across tenants and replicas on a route with cache.scope 'global'", async () => {
    const body = freshBody('public');
    const entries = await entriesNow();
    expect(await chat(0, keyA, body)).toBe('miss');
    expect(await chat(0, keyB, body)).toBe('hit');
    await sharedEntries(entries + 1);
    expect(await chat(1, keyB, body)).toBe('hit');
    expect(upstreamCalls()).toBe(1);
  });

  it('ignores x-keel-cache: true on a route that does not allow caller opt-in', async () => {
    const body = freshBody('plain');
    expect(await chat(0, keyA, body, { 'x-keel-cache': 'true' })).toBe('miss');
    expect(await chat(0, keyA, body, { 'x-keel-cache': 'true' })).toBe('miss');
    expect(await chat(1, keyA, body, { 'x-keel-cache': 'true' })).toBe('miss');
    expect(upstreamCalls()).toBe(3);
  });

  it('honours x-keel-cache: true on a callerOptIn route, per tenant, and only for callers who ask', async () => {
    const body = freshBody('opt-in');
    expect(await chat(0, keyA, body)).toBe('miss');
    expect(await chat(0, keyA, body)).toBe('miss');
    expect(await chat(0, keyA, body, { 'x-keel-cache': 'true' })).toBe('miss');
    expect(await chat(0, keyA, body, { 'x-keel-cache': 'true' })).toBe('hit');
    expect(await chat(0, keyB, body, { 'x-keel-cache': 'true' })).toBe('miss');
    expect(await chat(0, keyA, body)).toBe('miss');
    expect(upstreamCalls()).toBe(5);
  });

  it('honours x-keel-cache: false on a cached route', async () => {
    const body = freshBody('cached');
    expect(await chat(0, keyA, body)).toBe('miss');
    expect(await chat(0, keyA, body, { 'x-keel-cache': 'false' })).toBe('miss');
    expect(await chat(0, keyA, body)).toBe('hit');
    expect(upstreamCalls()).toBe(2);
  });
}

describe('tenant-scoped gateway cache over HTTP, on PGlite', () => {
  cacheScopeSuite(() => createPgliteClient());
});

describePostgres('tenant-scoped gateway cache over HTTP, on Postgres', (connectionString) => {
  cacheScopeSuite(async () => createPgClient({ connectionString, max: 4 }));
});
