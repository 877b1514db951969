import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_WINDOW, seedAnalytics } from '../analytics/__fixtures__/seed-analytics.js';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import { compareResponse, summaryResponse } from './analytics-schemas.js';
import { errorResponse } from './schemas.js';

describe('GET /v1/analytics/summary and /compare', () => {
  let app: TestServer;
  let reader: string;
  let otherReader: string;
  let operator: string;
  let writer: string;
  beforeAll(async () => {
    app = await startTestServer();
    await seedAnalytics(app.client, 'keel');
    reader = await app.createKey('t1', ['runs:read']);
    otherReader = await app.createKey('t2', ['runs:read']);
    operator = await app.createKey('ops', ['operator']);
    writer = await app.createKey('t1', ['runs:write']);
  });
  afterAll(() => app.close());

  const window = `from=${SEED_WINDOW.from.toISOString()}&to=${SEED_WINDOW.to.toISOString()}`;
  const summary = async (search: string, key = reader) => {
    const response = await app.call(`/v1/analytics/summary?${search}`, { key });
    expect(response.status).toBe(200);
    return summaryResponse.parse(await response.json());
  };
  const expectError = async (path: string, status: number, code: string, key = reader) => {
    const response = await app.call(path, { key });
    expect(response.status).toBe(status);
    const body = errorResponse.parse(await response.json());
    expect(body.error.code).toBe(code);
    return body.error.message;
  };

  it("answers the key's tenant's figures, per group on request", async () => {
    const mine = await summary(window);
    expect(mine).toMatchObject({
      tenant: 't1',
      runs: 7,
      outcomes: { committed: 2, rejected: 1, speculative: 4 },
    });
    expect(mine.cost_per_committed_outcome_usd).toBeCloseTo(0.525, 12);
    expect(mine.hidden_recompute_usd?.total_usd).toBeGreaterThan(0);
    expect(mine.gateway.calls).toBe(3);
    const theirs = await summary(window, otherReader);
    expect(theirs).toMatchObject({ tenant: 't2', runs: 1 });
    expect(theirs.gateway.by_key.map((key) => key.key_id)).toEqual(['key_c']);
    const byAgent = await summary(`${window}&group_by=agent`);
    expect(byAgent.runs).toBeUndefined();
    expect(byAgent.groups?.map((group) => [group.key, group.runs])).toEqual([
      ['support', 5],
      ['triage', 2],
    ]);
    const byHour = await summary(`${window}&agent=triage&group_by=hour`);
    expect(byHour.groups?.map((group) => [group.key, group.runs])).toEqual([
      ['2026-11-02T12:00:00Z', 1],
      ['2026-11-05T10:00:00Z', 1],
    ]);
    expect((await summary(`${window}&agent=triage`)).runs).toBe(2);
    expect((await summary(`${window}&tenant=t1`)).runs).toBe(7);
  });

  it('lets an operator key see every tenant, or the one it names', async () => {
    expect(await summary(window, operator)).toMatchObject({ tenant: null, runs: 8 });
    expect(await summary(`${window}&tenant=t2`, operator)).toMatchObject({ tenant: 't2', runs: 1 });
    const byTenant = await summary(`${window}&group_by=tenant`, operator);
    expect(byTenant.groups?.map((group) => [group.key, group.runs])).toEqual([
      ['t1', 7],
      ['t2', 1],
    ]);
  });

  it('refuses another tenant (403), a key without a read scope (403) and no key (401)', async () => {
    await expectError(`/v1/analytics/summary?${window}&tenant=t2`, 403, 'forbidden');
    await expectError(
      `/v1/analytics/compare?agent=support&a_version=x&b_version=y&tenant=t2`,
      403,
      'forbidden',
    );
    await expectError('/v1/analytics/summary', 403, 'forbidden', writer);
    await expectError('/v1/analytics/compare', 403, 'forbidden', writer);
    const anonymous = await app.call('/v1/analytics/summary', { key: null });
    expect(anonymous.status).toBe(401);
  });

  it('defaults to the last 7 days', async () => {
    const answer = await summary('');
    expect(Date.parse(answer.to) - Date.parse(answer.from)).toBe(7 * 86_400_000);
    expect(Math.abs(Date.parse(answer.to) - Date.now())).toBeLessThan(60_000);
    expect(answer.runs).toBe(0);
  });

  it('answers 400 invalid_request naming the field for a bad window, group or parameter', async () => {
    const cases: Array<[string, string]> = [
      ['/v1/analytics/summary?group_by=week', 'group_by'],
      ['/v1/analytics/summary?from=yesterday', 'from'],
      ['/v1/analytics/summary?to=2026-13-01T00:00:00Z', 'to'],
      ['/v1/analytics/summary?from=2026-11-08T00:00:00Z&to=2026-11-01T00:00:00Z', 'to'],
      ['/v1/analytics/summary?from=2026-11-08T00:00:00Z&to=2026-11-08T00:00:00Z', 'to'],
      ['/v1/analytics/summary?from=2026-01-01T00:00:00Z&to=2026-11-01T00:00:00Z', 'from'],
      // Years Postgres stores but JavaScript cannot print plainly, or not at all.
      ['/v1/analytics/summary?from=0000-01-01T00:00:00Z&to=0000-01-02T00:00:00Z', 'from'],
      ['/v1/analytics/summary?from=9999-12-31T00:00:00Z&to=9999-12-31T23:00:00-05:00', 'to'],
      ['/v1/analytics/summary?abandoned_after_days=0', 'abandoned_after_days'],
      ['/v1/analytics/summary?abandoned_after_days=two', 'abandoned_after_days'],
      ['/v1/analytics/summary?agent=a%00b', 'agent'],
      ['/v1/analytics/compare', 'a_from'],
      [
        '/v1/analytics/compare?a_from=2026-11-01T00:00:00Z&a_to=2026-11-02T00:00:00Z&b_from=2026-11-02T00:00:00Z',
        'b_to',
      ],
      [
        '/v1/analytics/compare?a_from=2026-11-02T00:00:00Z&a_to=2026-11-01T00:00:00Z&b_from=2026-11-02T00:00:00Z&b_to=2026-11-03T00:00:00Z',
        'a_to',
      ],
      ['/v1/analytics/compare?a_version=x&b_version=y', 'agent'],
      ['/v1/analytics/compare?agent=support&a_version=x', 'b_version'],
      [
        '/v1/analytics/compare?agent=support&a_version=x&b_version=y&a_from=2026-11-01T00:00:00Z',
        'a_version',
      ],
    ];
    for (const [path, field] of cases) {
      const message = await expectError(path, 400, 'invalid_request');
      expect(message, path).toContain(field);
    }
  });

  it('compares two prompt versions with the tests stated', async () => {
    const response = await app.call(
      `/v1/analytics/compare?agent=support&a_version=code:aaa&b_version=code:bbb&${window}`,
      { key: reader },
    );
    expect(response.status).toBe(200);
    const comparison = compareResponse.parse(await response.json());
    expect(comparison).toMatchObject({ mode: 'versions', alpha: 0.05, a: { runs: 2 }, b: { runs: 1 } });
    expect(comparison.changes.success_rate.test).toMatchObject({
      test: 'two_proportion_z',
      significant: false,
    });
    expect(comparison.changes.cost_per_run_usd.test).toMatchObject({ test: 'mann_whitney_u', statistic: 0 });
    const windows = await app.call(
      `/v1/analytics/compare?a_from=2026-11-01T00:00:00Z&a_to=2026-11-04T00:00:00Z&b_from=2026-11-04T00:00:00Z&b_to=2026-11-08T00:00:00Z`,
      { key: reader },
    );
    expect(compareResponse.parse(await windows.json())).toMatchObject({
      mode: 'windows',
      a: { runs: 4 },
      b: { runs: 3 },
    });
  });
});
