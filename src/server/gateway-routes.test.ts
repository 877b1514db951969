import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnalytics } from '../analytics/analytics-store.js';
import { createControls, type Controls } from '../controls/controls.js';
import { createSpendBreakers } from '../controls/spend-breaker.js';
import { createApiKeys, type ApiKeys, type ApiKeyScope } from '../gateway/api-keys.js';
import type { GatewayConfigInput } from '../gateway/gateway-config.js';
import { createGateway, type KeelGateway } from '../gateway/gateway.js';
import { openStore } from '../journal/open-store.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import { defineAgent } from '../runtime/agent.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../testing/fake-openai-server.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { silentLogger } from '../util/logger.js';
import { spendBreakerListResponse } from './breaker-routes.js';
import { createServer } from './create-server.js';
import { createRunFeedback } from '../feedback/feedback.js';
import { createGatewayStatus, gatewayDeploymentsResponse, gatewayUsageResponse } from './gateway-routes.js';
import { createRunOutcomes } from '../feedback/outcomes.js';
import { errorResponse } from './schemas.js';
import { createGatewayStats } from '../gateway/gateway-stats.js';

type Opened = { store: JournalStore; client: SqlClient; schema: string };

const CONFIG: GatewayConfigInput = {
  deployments: [
    {
      name: 'primary',
      provider: 'openai',
      model: 'gpt-4o-mini',
      baseURL: 'http://127.0.0.1:1',
      apiKeyEnv: 'K',
    },
    { name: 'spare', provider: 'openai', model: 'gpt-4o', baseURL: 'http://127.0.0.1:1', apiKeyEnv: 'K' },
  ],
  routes: [
    { name: 'fast', deployments: ['primary'] },
    { name: 'any', deployments: ['primary', 'spare'] },
  ],
  retry: { attemptsPerDeployment: 1 },
  breaker: { failureThreshold: 1, cooldownMs: 600_000 },
};

/** `/v1/gateway/*` and `/v1/spend-breakers` over one database, with a real gateway and breakers. */
function gatewayRouteSuite(open: () => Promise<Opened>) {
  let opened: Opened;
  let upstream: FakeOpenAIServer;
  let gateway: KeelGateway;
  let controls: Controls;
  let apiKeys: ApiKeys;
  let url: string;
  let close: () => Promise<void>;
  const keys = {} as Record<'admin' | 'reader' | 'operator' | 'other', string>;
  const keyIds = {} as Record<'admin' | 'other', string>;

  const call = async (path: string, key: string) => {
    const response = await fetch(url + path, { headers: { authorization: `Bearer ${key}` } });
    return { status: response.status, body: (await response.json()) as unknown };
  };

  beforeAll(async () => {
    opened = await open();
    const { client, schema, store } = opened;
    upstream = await createFakeOpenAIServer();
    const config = {
      ...CONFIG,
      deployments: CONFIG.deployments.map((deployment) => ({ ...deployment, baseURL: upstream.url })),
    };
    gateway = createGateway({ config, env: { K: 'sk-test' } });
    controls = createControls({ client, schema, env: {} });
    await controls.start();
    const breakers = createSpendBreakers({
      client,
      schema,
      controls,
      rules: [
        { scope: 'agent', window: '1h', windowMinutes: 60, maxUsd: 1 },
        { scope: 'tenant', window: '1d', windowMinutes: 1440, maxUsd: 50, target: 'tenant-b' },
      ],
    });
    apiKeys = createApiKeys({ client, schema });
    const create = async (tenantId: string, scopes: ApiKeyScope[], name?: string) =>
      apiKeys.create({ tenantId, scopes, ...(name === undefined ? {} : { name }) });
    const admin = await create('tenant-a', ['admin'], 'billing app');
    const other = await create('tenant-b', ['admin']);
    keys.admin = admin.key;
    keys.other = other.key;
    keyIds.admin = admin.record.id;
    keyIds.other = other.record.id;
    keys.reader = (await create('tenant-a', ['runs:read'])).key;
    keys.operator = (await create('ops', ['operator'])).key;

    // The primary fails once: its breaker (threshold 1) opens.
    upstream.enqueue({ kind: 'error', status: 500, message: 'down' });
    await expect(
      gateway.generate({ model: 'fast', messages: [{ role: 'user', content: 'Hi' }] }),
    ).rejects.toThrow();
    // An agent spends past its breaker.
    await breakers.record({ tenantId: 'tenant-a', agent: 'echo', costUsd: 2.5 });

    // Call records: three of tenant-a's key on primary (one error), one of tenant-b on spare, one
    // of tenant-a two days ago (in 7d, not in 24h), one ten days ago (in no window).
    const now = Date.now();
    const rows: [string, string | null, string | null, string, string, number, number, string][] = [
      ['c1', 'tenant-a', keyIds.admin, 'primary', 'ok', 100, 0.01, new Date(now - 60_000).toISOString()],
      ['c2', 'tenant-a', keyIds.admin, 'primary', 'ok', 200, 0.02, new Date(now - 120_000).toISOString()],
      ['c3', 'tenant-a', keyIds.admin, 'primary', 'error', 1000, 0, new Date(now - 180_000).toISOString()],
      ['c4', 'tenant-b', keyIds.other, 'spare', 'ok', 300, 0.5, new Date(now - 60_000).toISOString()],
      ['c5', 'tenant-a', keyIds.admin, 'spare', 'ok', 50, 1, new Date(now - 2 * 86_400_000).toISOString()],
      ['c6', 'tenant-a', keyIds.admin, 'spare', 'ok', 50, 9, new Date(now - 10 * 86_400_000).toISOString()],
    ];
    // Attributed (a developer's coding agent): c1 and c2 to ada in two sessions, c3 to no one.
    const attributed: Record<string, [string, string]> = {
      c1: ['ada', 's1'],
      c2: ['ada', 's2'],
      c4: ['bo', 's3'],
    };
    for (const [id, tenant, keyId, deployment, outcome, latency, cost, at] of rows)
      await client.query(
        `INSERT INTO ${schema}.gateway_calls (id, tenant_id, key_id, endpoint, route, deployment, provider, model,
           attempts, cached, cost_usd, latency_ms, overhead_ms, outcome, started_at, user_id, session_id)
         VALUES ($1, $2, $3, 'chat', 'any', $4, 'openai', 'gpt-4o-mini', 1, false, $5, $6, 1, $7, $8, $9, $10)`,
        [
          id,
          tenant,
          keyId,
          deployment,
          cost,
          latency,
          outcome,
          at,
          attributed[id]?.[0] ?? null,
          attributed[id]?.[1] ?? null,
        ],
      );

    const server = createServer({
      store,
      client,
      agents: new Map([
        ['echo', defineAgent({ name: 'echo', instructions: 'Repeat.', model: 'builtin:echo' })],
      ]),
      logger: silentLogger,
      apiKeys,
      analytics: createAnalytics({ client, schema }),
      outcomes: createRunOutcomes({ client, schema }),
      feedback: createRunFeedback({ client, schema }),
      controls,
      gatewayStatus: createGatewayStatus(config, gateway),
      gatewayStats: createGatewayStats({ client, schema }),
      spendBreakers: breakers,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    };
  }, 60_000);

  afterAll(async () => {
    await close?.();
    await gateway?.close();
    await upstream?.close();
    await controls?.close();
    await opened?.store.close();
  });

  it('lists the deployments with their routes, breaker state and kill switch', async () => {
    await controls.set({
      tenantId: '*',
      kind: 'deployment_disabled',
      target: 'spare',
      reason: 'quota',
      actor: 'test',
    });
    const { status, body } = await call('/v1/gateway/deployments', keys.admin);
    expect(status).toBe(200);
    const answer = gatewayDeploymentsResponse.parse(body);
    expect(answer.configured).toBe(true);
    expect(answer.data).toEqual([
      {
        name: 'primary',
        provider: 'openai',
        model: 'gpt-4o-mini',
        routes: ['fast', 'any'],
        breaker: { state: 'open', consecutive_failures: 1, retry_at: expect.any(String) },
        disabled: null,
      },
      {
        name: 'spare',
        provider: 'openai',
        model: 'gpt-4o',
        routes: ['any'],
        breaker: { state: 'closed', consecutive_failures: 0, retry_at: null },
        disabled: { reason: 'quota', set_by: 'test', set_at: expect.any(String) },
      },
    ]);
  });

  it("aggregates the tenant's calls per deployment, per key and per bucket", async () => {
    const { status, body } = await call('/v1/gateway/usage?window=24h', keys.admin);
    expect(status).toBe(200);
    const usage = gatewayUsageResponse.parse(body);
    expect(usage).toMatchObject({ window: '24h', bucket_seconds: 3600 });
    expect(usage.deployments).toHaveLength(1);
    const primary = usage.deployments[0]!;
    expect(primary).toMatchObject({ deployment: 'primary', requests: 3, errors: 1, cost_usd: 0.03 });
    expect(primary.error_rate).toBeCloseTo(1 / 3);
    expect(primary.requests_per_minute).toBeCloseTo(3 / 1440);
    // p95 of 100, 200, 1000 (linear interpolation): 200 + 0.9 * 800.
    expect(primary.p95_latency_ms).toBeCloseTo(920);
    expect(usage.keys).toEqual([
      {
        tenant_id: 'tenant-a',
        key_id: keyIds.admin,
        key_name: 'billing app',
        requests: 3,
        errors: 1,
        cost_usd: 0.03,
      },
    ]);
    expect(usage.users).toEqual([
      { tenant_id: 'tenant-a', user_id: 'ada', sessions: 2, requests: 2, errors: 0, cost_usd: 0.03 },
      { tenant_id: 'tenant-a', user_id: null, sessions: 0, requests: 1, errors: 1, cost_usd: 0 },
    ]);
    expect(usage.series).toHaveLength(24);
    expect(usage.series.reduce((sum, bucket) => sum + bucket.requests, 0)).toBe(3);
    expect(usage.series.reduce((sum, bucket) => sum + bucket.errors, 0)).toBe(1);

    const week = gatewayUsageResponse.parse((await call('/v1/gateway/usage?window=7d', keys.admin)).body);
    expect(week.series).toHaveLength(28);
    expect(week.deployments.map((row) => [row.deployment, row.requests])).toEqual([
      ['primary', 3],
      ['spare', 1],
    ]);
    const hour = gatewayUsageResponse.parse((await call('/v1/gateway/usage?window=1h', keys.admin)).body);
    expect(hour.series).toHaveLength(12);
  });

  it('shows an operator every tenant; refuses a bad window and a key without admin', async () => {
    const all = gatewayUsageResponse.parse((await call('/v1/gateway/usage', keys.operator)).body);
    expect(all.window).toBe('24h');
    expect(all.keys.map((row) => row.tenant_id)).toEqual(['tenant-b', 'tenant-a']);
    const bad = await call('/v1/gateway/usage?window=2h', keys.admin);
    expect(bad.status).toBe(400);
    expect(errorResponse.parse(bad.body).error.code).toBe('invalid_request');
    const forbidden = await call('/v1/gateway/deployments', keys.reader);
    expect(forbidden.status).toBe(403);
    expect(errorResponse.parse(forbidden.body).error.code).toBe('forbidden');
  });

  it("shows the spend breakers with each watched spend and the pause a tripped one set; another tenant's spend only to its keys", async () => {
    const { status, body } = await call('/v1/spend-breakers', keys.admin);
    expect(status).toBe(200);
    const answer = spendBreakerListResponse.parse(body);
    expect(answer.configured).toBe(true);
    expect(answer.data).toEqual([
      {
        scope: 'agent',
        window: '1h',
        window_minutes: 60,
        max_usd: 1,
        target: null,
        watched: [
          {
            id: 'echo',
            // An agent's spend spans tenants: an admin key does not see the sum.
            spent_usd: null,
            tripped: {
              reason: expect.stringContaining('spend breaker'),
              set_at: expect.any(String),
              tenant_id: '*',
            },
          },
        ],
      },
      { scope: 'tenant', window: '1d', window_minutes: 1440, max_usd: 50, target: 'tenant-b', watched: [] },
    ]);
    const theirs = spendBreakerListResponse.parse((await call('/v1/spend-breakers', keys.other)).body);
    expect(theirs.data[1]?.watched).toEqual([{ id: 'tenant-b', spent_usd: 0, tripped: null }]);
    const operators = spendBreakerListResponse.parse((await call('/v1/spend-breakers', keys.operator)).body);
    expect(operators.data[0]?.watched[0]?.spent_usd).toBe(2.5);
  });
}

describe('gateway and spend-breaker routes on PGlite', () => {
  gatewayRouteSuite(async () => ({ ...(await openStore({ dataDir: 'memory://' })), schema: 'keel' }));
});

describePostgres('gateway and spend-breaker routes on Postgres', (databaseUrl) => {
  gatewayRouteSuite(async () => {
    const schema = createTestSchemaName();
    const opened = await openStore({ databaseUrl, schema });
    return {
      ...opened,
      schema,
      store: {
        ...opened.store,
        close: async () => {
          await opened.client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await opened.store.close();
        },
      },
    };
  });
});

describe('without a gateway or breakers', () => {
  it('answers configured: false', async () => {
    const { startTestServer } = await import('./__fixtures__/test-server.js');
    const app = await startTestServer();
    try {
      const deployments = gatewayDeploymentsResponse.parse(
        await (await app.call('/v1/gateway/deployments')).json(),
      );
      expect(deployments).toEqual({ configured: false, data: [] });
      const breakers = spendBreakerListResponse.parse(await (await app.call('/v1/spend-breakers')).json());
      expect(breakers).toEqual({ configured: false, data: [] });
    } finally {
      await app.close();
    }
  });
});
