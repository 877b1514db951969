import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../journal/migrations.js';
import { createPgClient } from '../journal/pg-client.js';
import { createPgliteClient } from '../journal/pglite-client.js';
import type { SqlClient } from '../journal/sql-client.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import {
  attributeSeedCalls,
  migrateBefore,
  SEED_NOW,
  SEED_WINDOW,
  seedAnalytics,
} from './__fixtures__/seed-analytics.js';
import { createAnalytics, type Analytics } from './analytics-store.js';
import type { AnalyticsFigures, AnalyticsGroup } from './analytics-types.js';

/** The loop histogram as `{bucket: runs}`, empty buckets left out. */
const loops = (figures: AnalyticsFigures) =>
  Object.fromEntries(
    figures.loop_histogram.filter((bucket) => bucket.runs > 0).map((b) => [b.bucket, b.runs]),
  );

/**
 * How the seeded runs that ended get their figures: `steps`, seeded after every migration with no
 * step facts written (the summary reads their steps); `facts`, seeded before migration 16, whose
 * backfill writes their step facts (the summary reads those). Same figures either way.
 */
type Source = 'steps' | 'facts';

/**
 * The analytics figures over the seeded journal (see __fixtures__/seed-analytics.ts), each
 * computed by hand in the comments, on PGlite and on Postgres.
 */
function analyticsContract(openClient: () => Promise<SqlClient>, source: Source): void {
  let client: SqlClient;
  let schema: string;
  let analytics: Analytics;
  beforeAll(async () => {
    client = await openClient();
    schema = createTestSchemaName();
    if (source === 'facts') {
      await migrateBefore(client, schema, 16);
      await seedAnalytics(client, schema);
      await migrate(client, { schema });
    } else {
      await migrate(client, { schema });
      await seedAnalytics(client, schema);
    }
    await attributeSeedCalls(client, schema);
    analytics = createAnalytics({ client, schema, clock: { now: () => SEED_NOW } });
  });
  afterAll(async () => {
    await client?.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client?.close();
  });

  // Only the facts mode backfills; the steps mode has no facts to check (defined, not skipped).
  if (source === 'facts')
    it('backfilled the step facts of the runs that had ended, by hand', async () => {
      const facts = await client.query<Record<string, unknown>>(
        `SELECT id, model_calls, tool_calls, crash_reexecutions, crash_reexecution_usd, retried_attempts,
         retried_attempts_usd, first_model
       FROM ${schema}.runs WHERE id IN ('r1', 'r2', 'r3', 'r5', 'r6') ORDER BY id`,
      );
      expect(facts.rows.map((row) => ({ ...row }))).toEqual([
        // Retries: seq 3 took 3 calls (2 × $0.06).
        {
          id: 'r1',
          model_calls: 2,
          tool_calls: { search: [1, 0] },
          crash_reexecutions: 0,
          crash_reexecution_usd: 0,
          retried_attempts: 2,
          retried_attempts_usd: expect.closeTo(0.12, 12),
          first_model: 'openai:gpt-x',
        },
        // Crash: seq 1 abandoned once ($0.05), its second call answered: no retry left.
        {
          id: 'r2',
          model_calls: 2,
          tool_calls: { search: [1, 1], lookup: [1, 0] },
          crash_reexecutions: 1,
          crash_reexecution_usd: expect.closeTo(0.05, 12),
          retried_attempts: 0,
          retried_attempts_usd: 0,
          first_model: 'openai:gpt-x',
        },
        {
          id: 'r3',
          model_calls: 1,
          tool_calls: { search: [1, 1] },
          crash_reexecutions: 1,
          crash_reexecution_usd: expect.closeTo(0.3, 12),
          retried_attempts: 1,
          retried_attempts_usd: expect.closeTo(0.3, 12),
          first_model: 'anthropic:claude-y',
        },
        // Cancelled without a step: zeros.
        {
          id: 'r5',
          model_calls: 0,
          tool_calls: null,
          crash_reexecutions: 0,
          crash_reexecution_usd: 0,
          retried_attempts: 0,
          retried_attempts_usd: 0,
          first_model: null,
        },
        // Still running: no facts yet.
        {
          id: 'r6',
          model_calls: null,
          tool_calls: null,
          crash_reexecutions: null,
          crash_reexecution_usd: null,
          retried_attempts: null,
          retried_attempts_usd: null,
          first_model: null,
        },
      ]);
    });

  it("computes a tenant's figures over the window by hand", async () => {
    const summary = await analytics.summary({ window: SEED_WINDOW, tenantId: 't1' });
    if (summary.groups !== undefined) throw new Error('no groups expected');
    expect(summary).toMatchObject({
      from: '2026-11-01T00:00:00.000Z',
      to: '2026-11-08T00:00:00.000Z',
      tenant: 't1',
      group_by: null,
      // r1-r7 (r8 is before the window, r9 is t2's); r6 is still running.
      runs: 7,
      ended_runs: 6,
      successful_runs: 4,
      outcomes: { committed: 2, rejected: 1, speculative: 4 },
      stop_reasons: { completed: 4, error: 1, cancelled: 1 },
      tool_error_rate: {
        lookup: { calls: 1, errors: 0, rate: 0 },
        search: { calls: 3, errors: 2, rate: 2 / 3 },
      },
      feedback: { thumbs_up: 1, thumbs_down: 1, scores: 2, count: 3 },
    });
    expect(summary.success_rate).toBeCloseTo(4 / 6, 12);
    // Durations 500, 1000, 1500, 2000, 3000, 4000 ms, interpolated (percentile_cont):
    // p50 at rank 2.5 → 1750; p95 at 4.75 → 3750; p99 at 4.95 → 3950.
    expect(summary.p50_duration_ms).toBeCloseTo(1750, 6);
    expect(summary.p95_duration_ms).toBeCloseTo(3750, 6);
    expect(summary.p99_duration_ms).toBeCloseTo(3950, 6);
    // 0.10 + 0.20 + 0.30 + 0.40 + 0 + 0 + 0.05.
    expect(summary.cost_usd).toBeCloseTo(1.05, 12);
    expect(summary.cost_per_run_usd).toBeCloseTo(1.05 / 7, 12);
    expect(summary.cost_per_successful_run_usd).toBeCloseTo(1.05 / 4, 12);
    expect(summary.cost_per_committed_outcome_usd).toBeCloseTo(1.05 / 2, 12);
    expect(summary.feedback.mean_score).toBeCloseTo(0.55, 12);
    // Model steps per run: r1 2, r2 2, r3 1, r4 1, r5 0, r6 1 (in flight), r7 1.
    expect(loops(summary)).toEqual({ '0': 1, '1': 4, '2': 2 });
    expect(summary.loop_histogram).toHaveLength(10);
    const hidden = summary.hidden_recompute_usd;
    expect(hidden).toMatchObject({
      crash_reexecutions: 2,
      retried_attempts: 3,
      abandoned_runs: 2,
      abandoned_after_days: 7,
    });
    // Crash: r2 seq 1 (1 abandoned × $0.05) + r3 seq 1 (1 × $0.30).
    expect(hidden.crash_reexecution_usd).toBeCloseTo(0.35, 12);
    // Retries: r1 seq 3 (3 calls − 1 = 2 × $0.06) + r3 seq 1 (3 calls − 1 − 1 abandoned = 1 × $0.30).
    expect(hidden.retried_attempts_usd).toBeCloseTo(0.42, 12);
    // Abandoned: r4 ($0.40) and r5 ($0) ended before 2026-11-13 with no outcome; r7 ended after.
    expect(hidden.abandoned_runs_usd).toBeCloseTo(0.4, 12);
    expect(hidden.total_usd).toBeCloseTo(1.17, 12);
    // Gateway calls outside runs in the window: key_b $0.50; key_a $0.01 + $0.02 (one error).
    expect(summary.gateway).toMatchObject({ calls: 3, errors: 1, by_key_truncated: false });
    expect(summary.gateway.cost_usd).toBeCloseTo(0.53, 12);
    expect(summary.gateway.by_key.map((key) => [key.key_id, key.calls, key.errors])).toEqual([
      ['key_b', 1, 0],
      ['key_a', 2, 1],
    ]);
    expect(summary.gateway.by_key[1]).toMatchObject({
      tenant_id: 't1',
      input_tokens: 200,
      output_tokens: 20,
    });
    // By developer: g3 ($0.50) named no one; ada's g1 and g2 ($0.03, one error) in two sessions.
    expect(summary.gateway.by_user_truncated).toBe(false);
    expect(
      summary.gateway.by_user.map((user) => [user.user_id, user.sessions, user.calls, user.errors]),
    ).toEqual([
      [null, 0, 1, 0],
      ['ada', 2, 2, 1],
    ]);
    expect(summary.gateway.by_user[1]).toMatchObject({
      tenant_id: 't1',
      input_tokens: 200,
      output_tokens: 20,
    });
    expect(summary.gateway.by_user[1]?.cost_usd).toBeCloseTo(0.03, 12);
  });

  it('sees every tenant when no tenant is given (an operator) and filters by agent', async () => {
    const all = await analytics.summary({ window: SEED_WINDOW, tenantId: null });
    if (all.groups !== undefined) throw new Error('no groups expected');
    expect(all.runs).toBe(8);
    expect(all.cost_usd).toBeCloseTo(6.05, 12);
    expect(all.feedback).toMatchObject({ thumbs_up: 2, count: 4 });
    expect(all.gateway.calls).toBe(4);
    const triage = await analytics.summary({ window: SEED_WINDOW, tenantId: 't1', agent: 'triage' });
    if (triage.groups !== undefined) throw new Error('no groups expected');
    expect(triage).toMatchObject({ runs: 2, successful_runs: 1, tool_error_rate: {}, agent: 'triage' });
    const other = await analytics.summary({ window: SEED_WINDOW, tenantId: 't2' });
    if (other.groups !== undefined) throw new Error('no groups expected');
    expect(other).toMatchObject({ runs: 1, outcomes: { committed: 1, rejected: 0, speculative: 0 } });
    expect(other.gateway.by_key.map((key) => key.key_id)).toEqual(['key_c']);
  });

  it('answers zeros and nulls for an empty window', async () => {
    const window = { from: new Date('2025-01-01T00:00:00Z'), to: new Date('2025-01-02T00:00:00Z') };
    const empty = await analytics.summary({ window, tenantId: 't1' });
    if (empty.groups !== undefined) throw new Error('no groups expected');
    expect(empty).toMatchObject({
      runs: 0,
      success_rate: null,
      p50_duration_ms: null,
      cost_usd: 0,
      cost_per_run_usd: null,
      cost_per_committed_outcome_usd: null,
      feedback: { count: 0, mean_score: null },
      gateway: { calls: 0, cost_usd: 0, by_key: [] },
    });
  });

  const groupsOf = async (
    groupBy: 'agent' | 'user' | 'prompt_version' | 'model' | 'day' | 'hour' | 'tenant',
    tenantId: string | null = 't1',
  ) => {
    const summary = await analytics.summary({ window: SEED_WINDOW, tenantId, groupBy });
    if (summary.groups === undefined) throw new Error('groups expected');
    expect(summary.groups_truncated).toBe(false);
    expect(summary.group_by).toBe(groupBy);
    return summary.groups;
  };
  const keyed = (groups: AnalyticsGroup[]) => groups.map((group) => [group.key, group.runs]);

  it('groups by agent, user, prompt version, model, day, hour and tenant', async () => {
    const agents = await groupsOf('agent');
    expect(keyed(agents)).toEqual([
      ['support', 5],
      ['triage', 2],
    ]);
    const support = agents[0]!;
    expect(support.cost_usd).toBeCloseTo(0.65, 12);
    expect(support.outcomes).toEqual({ committed: 2, rejected: 1, speculative: 2 });
    expect(support.hidden_recompute_usd.abandoned_runs).toBe(0);
    expect(agents[1]!.hidden_recompute_usd.abandoned_runs_usd).toBeCloseTo(0.4, 12);
    expect(loops(agents[1]!)).toEqual({ '0': 1, '1': 1 });
    // Runs without a user are a group of their own, keyed null.
    expect(keyed(await groupsOf('user'))).toEqual([
      [null, 4],
      ['u1', 2],
      ['u2', 1],
    ]);
    const users = await groupsOf('user');
    // The keyless group joins its other figures like any group.
    expect(users[0]!.stop_reasons).toEqual({ completed: 2, cancelled: 1 });
    expect(loops(users[0]!)).toEqual({ '0': 1, '1': 3 });
    expect(users[1]!.feedback).toMatchObject({ thumbs_up: 1, thumbs_down: 1, count: 3 });
    expect(keyed(await groupsOf('prompt_version'))).toEqual([
      [null, 4],
      ['code:aaa', 2],
      ['code:bbb', 1],
    ]);
    // A run's model is its first model step's; r5 has none.
    expect(keyed(await groupsOf('model'))).toEqual([
      ['openai:gpt-x', 5],
      ['anthropic:claude-y', 1],
      [null, 1],
    ]);
    expect(keyed(await groupsOf('day'))).toEqual([
      ['2026-11-01', 1],
      ['2026-11-02', 2],
      ['2026-11-03', 1],
      ['2026-11-05', 1],
      ['2026-11-06', 1],
      ['2026-11-07', 1],
    ]);
    // Hours in order, keyed by the hour's start as an instant; r2 and r4 share a day, not an hour.
    const hours = await groupsOf('hour');
    expect(keyed(hours)).toEqual([
      ['2026-11-01T10:00:00Z', 1],
      ['2026-11-02T10:00:00Z', 1],
      ['2026-11-02T12:00:00Z', 1],
      ['2026-11-03T10:00:00Z', 1],
      ['2026-11-05T10:00:00Z', 1],
      ['2026-11-06T10:00:00Z', 1],
      ['2026-11-07T10:00:00Z', 1],
    ]);
    expect(hours[2]).toMatchObject({ success_rate: 1, p95_duration_ms: 3000 });
    expect(keyed(await groupsOf('tenant', null))).toEqual([
      ['t1', 7],
      ['t2', 1],
    ]);
  });

  it('counts a window of abandonment from its parameter', async () => {
    // 30 days: nothing ended before 2026-10-21, so nothing is abandoned yet.
    const summary = await analytics.summary({ window: SEED_WINDOW, tenantId: 't1', abandonedAfterDays: 30 });
    if (summary.groups !== undefined) throw new Error('no groups expected');
    expect(summary.hidden_recompute_usd).toMatchObject({
      abandoned_runs: 0,
      abandoned_runs_usd: 0,
      abandoned_after_days: 30,
    });
    expect(summary.hidden_recompute_usd.total_usd).toBeCloseTo(0.77, 12);
  });

  it('compares two prompt versions with the stated tests (values from scipy 1.17.1)', async () => {
    const comparison = await analytics.compare({
      sides: {
        mode: 'versions',
        a: { window: SEED_WINDOW, promptVersion: 'code:aaa' },
        b: { window: SEED_WINDOW, promptVersion: 'code:bbb' },
      },
      tenantId: 't1',
      agent: 'support',
    });
    expect(comparison.alpha).toBe(0.05);
    expect(comparison.a).toMatchObject({ runs: 2, prompt_version: 'code:aaa', agent: 'support' });
    expect(comparison.b).toMatchObject({ runs: 1, prompt_version: 'code:bbb' });
    const { changes } = comparison;
    // Success 2/2 vs 0/1: z = 1.7320508075688774, p = 2·norm.sf(z) = 0.0832645166635504.
    expect(changes.success_rate).toMatchObject({ a: 1, b: 0, difference: -1, changed: true });
    expect(changes.success_rate.test).toMatchObject({
      test: 'two_proportion_z',
      n_a: 2,
      n_b: 1,
      significant: false,
    });
    expect(changes.success_rate.test!.statistic).toBeCloseTo(1.7320508075688774, 12);
    expect(changes.success_rate.test!.p_value).toBeCloseTo(0.0832645166635504, 12);
    // Tool errors 1/3 vs 1/1: z = −1.1547005383792517, p = 0.24821307898992362.
    expect(changes.tool_error_rate.test!.statistic).toBeCloseTo(-1.1547005383792517, 12);
    expect(changes.tool_error_rate.test!.p_value).toBeCloseTo(0.24821307898992362, 12);
    expect(Object.keys(changes.tool_error_rate_by_tool)).toEqual(['lookup', 'search']);
    // Cost per run [0.10, 0.20] vs [0.30]: mannwhitneyu(..., method='asymptotic') U = 0, p = 0.5402913746074199.
    expect(changes.cost_per_run_usd.test).toMatchObject({
      test: 'mann_whitney_u',
      statistic: 0,
      n_a: 2,
      n_b: 1,
    });
    expect(changes.cost_per_run_usd.test!.p_value).toBeCloseTo(0.5402913746074199, 12);
    expect(changes.cost_per_run_usd.a).toBeCloseTo(0.15, 12);
    expect(changes.cost_per_run_usd.b).toBeCloseTo(0.3, 12);
    // Steps per run [3, 4] vs [2]: U = 2, p = 0.5402913746074199.
    expect(changes.steps_per_run.test).toMatchObject({ statistic: 2 });
    expect(changes.steps_per_run.test!.p_value).toBeCloseTo(0.5402913746074199, 12);
    // Model calls per run [2, 2] vs [1] (a tie): U = 2, p = 0.4795001221869535.
    expect(changes.model_calls_per_run.test).toMatchObject({ statistic: 2 });
    expect(changes.model_calls_per_run.test!.p_value).toBeCloseTo(0.4795001221869535, 12);
    // Duration [1000, 2000] vs [4000]: U = 0, p = 0.5402913746074199.
    expect(changes.duration_ms.test!.p_value).toBeCloseTo(0.5402913746074199, 12);
  });

  it('compares two windows, and answers no test where a sample is empty', async () => {
    const comparison = await analytics.compare({
      sides: {
        mode: 'windows',
        a: { window: { from: SEED_WINDOW.from, to: new Date('2026-11-04T00:00:00Z') }, promptVersion: null },
        b: { window: { from: new Date('2026-11-04T00:00:00Z'), to: SEED_WINDOW.to }, promptVersion: null },
      },
      tenantId: 't1',
    });
    // A: r1-r4 (all ended); B: r5, r6 (running, not sampled), r7.
    expect(comparison.a.runs).toBe(4);
    expect(comparison.b.runs).toBe(3);
    expect(comparison.changes.cost_per_run_usd.test).toMatchObject({ n_a: 4, n_b: 2 });
    expect(comparison.changes.tool_error_rate).toMatchObject({ b: null, test: null });
  });
}

for (const source of ['steps', 'facts'] as const) {
  describe(`analytics on PGlite, from ${source}`, () => {
    analyticsContract(() => createPgliteClient(), source);
  });

  describePostgres(`analytics on Postgres, from ${source}`, (connectionString) => {
    analyticsContract(async () => createPgClient({ connectionString, max: 4 }), source);
  });
}
