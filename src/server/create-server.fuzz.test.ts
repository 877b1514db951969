import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import { errorResponse } from './schemas.js';

let app: TestServer;
let ownRun: string;
let otherRun: string;
let ownApproval: string;
let otherApproval: string;
beforeAll(async () => {
  app = await startTestServer();
  const submit = async (key: string) =>
    (
      (await (
        await app.call('/v1/runs', {
          method: 'POST',
          body: JSON.stringify({ agent: 'echo', input: 'x' }),
          key,
        })
      ).json()) as { id: string }
    ).id;
  ownRun = await submit(app.keys.admin);
  otherRun = await submit(app.keys.otherTenant);
  const pending = async (tenantId: string) => {
    const { run } = await app.store.createRun({ tenantId, agent: 'echo', input: 'x' });
    const lease = await app.claim(run.id);
    const step = { seq: 0, parentSeq: null, kind: 'approval', name: 't', inputHash: 'h', attempt: 1 };
    const [approval] = await app.store.suspendForApproval(lease, {
      approvals: [{ stepSeq: 0, tool: 't', arguments: {}, step: { ...step, startedAt: new Date() } }],
    });
    return approval!.id;
  };
  ownApproval = await pending('tenant-a');
  otherApproval = await pending('tenant-c');
});
afterAll(() => app.close());

const ENDPOINTS = [
  { method: 'POST', name: '/v1/runs', path: (id: string) => (void id, '/v1/runs') },
  { method: 'GET', name: '/v1/runs', path: (id: string) => (void id, '/v1/runs') },
  { method: 'GET', name: '/v1/runs/:id', path: (id: string) => `/v1/runs/${id}` },
  { method: 'GET', name: '/v1/runs/:id/steps', path: (id: string) => `/v1/runs/${id}/steps` },
  { method: 'GET', name: '/v1/runs/:id/events', path: (id: string) => `/v1/runs/${id}/events` },
  { method: 'POST', name: '/v1/runs/:id/cancel', path: (id: string) => `/v1/runs/${id}/cancel` },
  { method: 'POST', name: '/v1/runs/:id/outcome', path: (id: string) => `/v1/runs/${id}/outcome` },
  { method: 'POST', name: '/v1/runs/:id/feedback', path: (id: string) => `/v1/runs/${id}/feedback` },
  { method: 'GET', name: '/v1/runs/:id/feedback', path: (id: string) => `/v1/runs/${id}/feedback` },
  { method: 'GET', name: '/v1/runs/:id/trace', path: (id: string) => `/v1/runs/${id}/trace` },
  { method: 'GET', name: '/v1/runs/:id/steps/:seq', path: (id: string) => `/v1/runs/${id}/steps/0` },
] as const;

/** Sends a request and checks the answer is a 4xx with the error body (or a success). */
async function expectNo5xx(response: Response): Promise<number> {
  expect(response.status).toBeLessThan(500);
  if (response.status >= 400) {
    const body = errorResponse.safeParse(await response.json());
    expect(body.success).toBe(true);
  } else {
    await response.body?.cancel();
  }
  return response.status;
}

const deepJson = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const oddString = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.constantFrom('\u0000', '\ud800', 'a\udc00b', '\u202e', '\ufeff', '😀'.repeat(50), '%00', '..%2f..', ''),
);
const jsonValue = fc.oneof(
  fc.jsonValue(),
  oddString,
  fc.integer({ min: 60, max: 300 }).map((depth) => JSON.parse(deepJson(depth)) as unknown),
);
const rawBody = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.integer({ min: 60, max: 20_000 }).map((depth) => `{"agent":"echo","input":${deepJson(depth)}}`),
  fc.constantFrom('{', '{"agent":', 'null', '[]', '"x"', '1e999', '{"__proto__":{"x":1}}', deepJson(100_000)),
  fc
    .record({ agent: fc.oneof(oddString, fc.jsonValue()), input: jsonValue })
    .map((body) => JSON.stringify(body)),
  fc
    .record(
      {
        agent: fc.constantFrom('echo', 'nobody'),
        input: jsonValue,
        session_id: fc.oneof(oddString, fc.jsonValue()),
        metadata: fc.oneof(fc.dictionary(oddString, jsonValue), fc.jsonValue()),
        status: fc.oneof(fc.constantFrom('committed', 'rejected'), oddString),
        value: jsonValue,
        thumbs: fc.oneof(fc.constantFrom('up', 'down'), oddString),
        score: fc.oneof(fc.double(), fc.jsonValue()),
        comment: fc.oneof(oddString, fc.jsonValue()),
        user_id: fc.oneof(oddString, fc.jsonValue()),
      },
      { requiredKeys: [] },
    )
    .map((body) => JSON.stringify(body)),
);
const runId = fc.oneof(
  fc.constantFrom('run_doesnotexist', '%00', '%E0%A4%A', '%ud800', 'x'.repeat(1000), '..', '%2F'),
  fc.string({ unit: 'grapheme', maxLength: 40 }).map(encodeURIComponent),
);
const query = fc.dictionary(
  fc.constantFrom(
    'agent',
    'status',
    'session_id',
    'limit',
    'cursor',
    'created_after',
    'created_before',
    'wait',
    'outputs',
  ),
  oddString,
);

describe('fuzz: bad input is always a 4xx JSON error, never a 5xx', () => {
  it('any body, id and query on every endpoint', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ENDPOINTS),
        runId,
        rawBody,
        query,
        async (endpoint, id, body, parameters) => {
          const search = new URLSearchParams(parameters).toString();
          const response = await app.call(`${endpoint.path(id)}?${search}`, {
            method: endpoint.method,
            ...(endpoint.method === 'POST' ? { body } : {}),
            headers: { 'last-event-id': '1' },
            signal: AbortSignal.timeout(5_000),
          });
          // An events stream of an existing run is a success; everything else here is refused.
          await expectNo5xx(response);
        },
      ),
      { numRuns: 300 },
    );
  }, 120_000);

  it('any authorization header on every endpoint', async () => {
    const authorization = fc.oneof(
      fc.string({ unit: 'binary-ascii' }).filter((text) => /^[\x20-\x7e]*$/.test(text)),
      fc.constantFrom(
        'Bearer',
        'Bearer ',
        `Bearer keel_sk_${'0'.repeat(43)}`,
        'bearer keel_sk_',
        `Bearer ${'keel_sk_'.repeat(1000)}`,
      ),
      fc.constantFrom('revoked', 'gatewayOnly').map((name) => `Bearer ${app.keys[name]}`),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), authorization, async (endpoint, header) => {
        const response = await app.call(endpoint.path(ownRun), {
          method: endpoint.method,
          key: null,
          headers: { authorization: header },
          ...(endpoint.method === 'POST' ? { body: '{}' } : {}),
        });
        expect([401, 403]).toContain(await expectNo5xx(response));
      }),
      { numRuns: 200 },
    );
  }, 60_000);
});

describe('fuzz: step numbers', () => {
  it('any seq segment of a run without steps: 404 step_not_found, never a 5xx', async () => {
    const seq = fc.oneof(
      fc.constantFrom('-1', '1.5', '1e3', '0x10', '9'.repeat(40), '%00', '%ud800', '%2F', ' 1'),
      fc.nat().map(String),
      fc.string({ unit: 'grapheme', maxLength: 20 }).map(encodeURIComponent),
    );
    // Dot segments (`.`, `..`, `%2E`...) are resolved away by the client before it sends (WHATWG URL).
    const sent = seq.filter((segment) => segment !== '' && !/^(\.|%2e){1,2}$/i.test(segment));
    await fc.assert(
      fc.asyncProperty(sent, async (segment) => {
        const response = await app.call(`/v1/runs/${ownRun}/steps/${segment}`, {
          key: app.keys.reader,
          signal: AbortSignal.timeout(5_000),
        });
        expect(await expectNo5xx(response)).toBe(404);
      }),
      { numRuns: 200 },
    );
  }, 60_000);
});

describe('tenant isolation matrix', () => {
  it.each(ENDPOINTS.filter((endpoint) => endpoint.path('x') !== '/v1/runs'))(
    '$method $name with another tenant: 404 for its runs, 403 for a wrong scope, 401 for no key',
    async ({ method, path }) => {
      const body = method === 'POST' ? JSON.stringify({ status: 'committed', thumbs: 'up' }) : undefined;
      const asOther = await app.call(path(ownRun), {
        method,
        key: app.keys.otherTenant,
        ...(body ? { body } : {}),
      });
      expect(asOther.status).toBe(404);
      expect(((await asOther.json()) as { error: { code: string } }).error.code).toBe('run_not_found');
      const theirs = await app.call(path(otherRun), {
        method,
        key: app.keys.admin,
        ...(body ? { body } : {}),
      });
      expect(theirs.status).toBe(404);
      await theirs.body?.cancel();
      const wrongScope = await app.call(path(otherRun), {
        method,
        key: method === 'GET' ? app.keys.writer : app.keys.reader,
        ...(body ? { body } : {}),
      });
      expect(wrongScope.status).toBe(403);
      await wrongScope.body?.cancel();
      const anonymous = await app.call(path(otherRun), { method, key: null, ...(body ? { body } : {}) });
      expect(anonymous.status).toBe(401);
      await anonymous.body?.cancel();
    },
  );

  it("lists only the key's tenant runs", async () => {
    const mine = (await (await app.call('/v1/runs')).json()) as { data: Array<{ id: string }> };
    const theirs = (await (await app.call('/v1/runs', { key: app.keys.otherTenant })).json()) as {
      data: Array<{ id: string }>;
    };
    expect(mine.data.map((run) => run.id)).toContain(ownRun);
    expect(mine.data.map((run) => run.id)).not.toContain(otherRun);
    expect(theirs.data.map((run) => run.id)).toEqual([otherRun]);
  });
});

const APPROVAL_ENDPOINTS = [
  { method: 'GET', name: '/v1/approvals', path: (id: string) => (void id, '/v1/approvals') },
  { method: 'GET', name: '/v1/approvals/:id', path: (id: string) => `/v1/approvals/${id}` },
  { method: 'POST', name: '/v1/approvals/:id', path: (id: string) => `/v1/approvals/${id}` },
] as const;

describe('fuzz: approvals endpoints', () => {
  it('any body, id and query: a 4xx JSON error, never a 5xx, and no decision taken', async () => {
    const approvalQuery = fc.dictionary(fc.constantFrom('status', 'run_id', 'limit', 'cursor'), oddString);
    const decisionBody = fc.oneof(
      rawBody,
      fc
        .record(
          { decision: fc.oneof(fc.constantFrom('approve', 'reject'), oddString), reason: jsonValue },
          { requiredKeys: [] },
        )
        .map((body) => JSON.stringify(body)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...APPROVAL_ENDPOINTS),
        fc.oneof(runId, fc.constant(otherApproval)),
        decisionBody,
        approvalQuery,
        async (endpoint, id, body, parameters) => {
          const search = new URLSearchParams(parameters).toString();
          const response = await app.call(`${endpoint.path(id)}?${search}`, {
            method: endpoint.method,
            ...(endpoint.method === 'POST' ? { body } : {}),
            signal: AbortSignal.timeout(5_000),
          });
          await expectNo5xx(response);
        },
      ),
      { numRuns: 200 },
    );
    expect((await app.store.getApproval(otherApproval))?.status).toBe('pending');
  }, 120_000);

  it.each(APPROVAL_ENDPOINTS.filter((endpoint) => endpoint.path('x') !== '/v1/approvals'))(
    '$method $name: 404 across tenants, 403 for a runs key, 401 for no key',
    async ({ method, path }) => {
      const body = method === 'POST' ? JSON.stringify({ decision: 'reject' }) : undefined;
      const asOther = await app.call(path(ownApproval), {
        method,
        key: app.keys.otherTenant,
        ...(body ? { body } : {}),
      });
      expect(asOther.status).toBe(404);
      expect(((await asOther.json()) as { error: { code: string } }).error.code).toBe('approval_not_found');
      const theirs = await app.call(path(otherApproval), { method, ...(body ? { body } : {}) });
      expect(theirs.status).toBe(404);
      await theirs.body?.cancel();
      for (const key of [app.keys.reader, app.keys.writer]) {
        const wrongScope = await app.call(path(ownApproval), { method, key, ...(body ? { body } : {}) });
        expect(wrongScope.status).toBe(403);
        await wrongScope.body?.cancel();
      }
      const anonymous = await app.call(path(ownApproval), { method, key: null, ...(body ? { body } : {}) });
      expect(anonymous.status).toBe(401);
      await anonymous.body?.cancel();
      expect((await app.store.getApproval(ownApproval))?.status).toBe('pending');
    },
  );
});

describe('fuzz: keys endpoints', () => {
  it('any body, id and query: a 4xx JSON error or a key of the caller’s tenant, never a 5xx', async () => {
    const keyBody = fc.oneof(
      rawBody,
      fc
        .record(
          {
            tenant_id: fc.oneof(fc.constantFrom('tenant-a', 'tenant-b'), oddString),
            scopes: fc.oneof(fc.array(fc.constantFrom('runs:read', 'operator', 'admin', 'nope')), jsonValue),
            name: jsonValue,
            rpm: jsonValue,
            expires_at: oddString,
          },
          { requiredKeys: [] },
        )
        .map((body) => JSON.stringify(body)),
    );
    const endpoints = [
      { method: 'GET', path: () => '/v1/keys' },
      { method: 'POST', path: () => '/v1/keys' },
      { method: 'POST', path: (id: string) => `/v1/keys/${id}/revoke` },
    ] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...endpoints),
        runId,
        keyBody,
        fc.dictionary(fc.constantFrom('tenant_id'), oddString),
        async (endpoint, id, body, parameters) => {
          const search = new URLSearchParams(parameters).toString();
          const response = await app.call(`${endpoint.path(id)}?${search}`, {
            method: endpoint.method,
            ...(endpoint.method === 'POST' ? { body } : {}),
            signal: AbortSignal.timeout(5_000),
          });
          if (response.status === 201 || response.status === 200) {
            // Whatever was accepted stays in the admin key's tenant and never grants operator.
            const answer = (await response.json()) as {
              tenant_id?: string;
              scopes?: string[];
              data?: unknown;
            };
            if (answer.data === undefined) {
              expect(answer.tenant_id).toBe('tenant-a');
              expect(answer.scopes).not.toContain('operator');
            }
            return;
          }
          await expectNo5xx(response);
        },
      ),
      { numRuns: 200 },
    );
    // The other tenant's keys were never reached.
    expect(await app.apiKeys.verify(app.keys.otherTenant)).toBeDefined();
  }, 120_000);
});

const ANALYTICS_ENDPOINTS = ['/v1/analytics/summary', '/v1/analytics/compare'] as const;

describe('fuzz: analytics endpoints', () => {
  it("any query: a 4xx JSON error or the caller's tenant's figures, never a 5xx", async () => {
    const instant = fc
      .date({
        min: new Date('2026-01-01T00:00:00Z'),
        max: new Date('2027-01-01T00:00:00Z'),
        noInvalidDate: true,
      })
      .map((date) => date.toISOString());
    const value = fc.oneof(
      oddString,
      instant,
      fc.constantFrom(
        'agent',
        'user',
        'day',
        'model',
        'tenant',
        'prompt_version',
        'echo',
        'tenant-b',
        '0',
        '7',
        '-1',
      ),
    );
    const analyticsQuery = fc.dictionary(
      fc.constantFrom(
        'from',
        'to',
        'agent',
        'tenant',
        'group_by',
        'abandoned_after_days',
        'a_from',
        'a_to',
        'b_from',
        'b_to',
        'a_version',
        'b_version',
      ),
      value,
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ANALYTICS_ENDPOINTS), analyticsQuery, async (path, parameters) => {
        const search = new URLSearchParams(parameters).toString();
        const response = await app.call(`${path}?${search}`, { signal: AbortSignal.timeout(10_000) });
        if (response.status === 200) {
          const answer = (await response.json()) as { tenant?: string; a?: { tenant: string } };
          expect(answer.tenant ?? answer.a?.tenant).toBe('tenant-a');
          return;
        }
        await expectNo5xx(response);
      }),
      { numRuns: 150 },
    );
  }, 120_000);
});

describe('tenant isolation matrix: analytics', () => {
  // B spans the summary's default window (the last 7 days) and a day beyond, whatever today is.
  const day = 86_400_000;
  const iso = (time: number) => new Date(time).toISOString();
  const compareAll =
    `?a_from=${iso(Date.now() - 90 * day)}&a_to=${iso(Date.now() - 60 * day)}` +
    `&b_from=${iso(Date.now() - 30 * day)}&b_to=${iso(Date.now() + day)}`;
  const count = async (tenantId?: string) =>
    (
      await app.client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM keel.runs
         WHERE created_at >= now() - interval '7 days' AND ($1::text IS NULL OR tenant_id = $1)`,
        [tenantId ?? null],
      )
    ).rows[0]!.n;

  it.each(ANALYTICS_ENDPOINTS)(
    'GET %s: its own tenant only, 403 for another tenant or a wrong scope, 401 for no key',
    async (path) => {
      const search = path.endsWith('compare') ? compareAll : '';
      const figures = async (key: string, extra = '') => {
        const response = await app.call(`${path}${search}${search ? '&' : '?'}${extra}`, { key });
        expect(response.status).toBe(200);
        const answer = (await response.json()) as {
          tenant: string | null;
          runs: number;
          b?: { tenant: string | null; runs: number };
        };
        return answer.b ?? answer;
      };
      expect(await figures(app.keys.admin)).toMatchObject({
        tenant: 'tenant-a',
        runs: await count('tenant-a'),
      });
      expect(await figures(app.keys.otherTenant)).toMatchObject({
        tenant: 'tenant-b',
        runs: await count('tenant-b'),
      });
      const operator = await app.createKey('ops', ['operator']);
      expect(await figures(operator)).toMatchObject({ tenant: null, runs: await count() });
      expect(await figures(operator, 'tenant=tenant-b')).toMatchObject({ tenant: 'tenant-b', runs: 1 });
      const other = await app.call(`${path}${search}${search ? '&' : '?'}tenant=tenant-b`);
      expect(other.status).toBe(403);
      await other.body?.cancel();
      for (const key of [app.keys.writer, app.keys.gatewayOnly]) {
        const wrongScope = await app.call(`${path}${search}`, { key });
        expect(wrongScope.status).toBe(403);
        await wrongScope.body?.cancel();
      }
      const anonymous = await app.call(`${path}${search}`, { key: null });
      expect(anonymous.status).toBe(401);
      await anonymous.body?.cancel();
    },
  );
});
