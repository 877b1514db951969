/**
 * Analytics over the journal (issue 9, builds 6 and 7): a small store of its own over the shared
 * `SqlClient`, reading `runs`, `steps`, `run_outcomes`, `run_feedback` and `gateway_calls`. Every
 * figure is computed by SQL in the database (summary-sql.ts, compare-sql.ts); this file only
 * shapes the few rows that come back.
 */
import { assertSchemaName, DEFAULT_SCHEMA } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';
import { systemClock, type Clock } from '../util/clock.js';
import {
  DAY_MS,
  DEFAULT_ABANDONED_AFTER_DAYS,
  type CompareSides,
  type GroupBy,
  type TimeWindow,
} from './analytics-query.js';
import {
  MAX_GATEWAY_KEYS,
  MAX_GROUPS,
  type AnalyticsComparison,
  type AnalyticsFigures,
  type AnalyticsSummary,
  type FigureChange,
  type GatewayFigures,
  type SummaryScope,
  type ToolErrorRate,
} from './analytics-types.js';
import { rankSumsSql, type RankedFigure } from './compare-sql.js';
import { mannWhitneyU, SIGNIFICANCE_ALPHA, twoProportionZTest, type TestResult } from './statistics.js';
import { gatewaySql, gatewayUsersSql, LOOP_BUCKETS, summarySql } from './summary-sql.js';

/** Which runs a summary covers. */
export interface SummaryOptions {
  window: TimeWindow;
  /** null: every tenant (an operator's view). */
  tenantId: string | null;
  agent?: string | null;
  promptVersion?: string | null;
  groupBy?: GroupBy;
  /** Runs ended this many days ago without an outcome are abandoned (default 7). */
  abandonedAfterDays?: number;
}

/** Two samples to compare, and what both share. */
export interface CompareOptions {
  sides: CompareSides;
  tenantId: string | null;
  agent?: string | null;
  abandonedAfterDays?: number;
}

/** Analytics figures of the runs of a window, computed in the database. */
export interface Analytics {
  /** The figures of the window (per group with `groupBy`), and the gateway's calls outside runs. */
  summary(options: SummaryOptions): Promise<AnalyticsSummary>;
  /** The figures of two samples side by side, each change with its significance test. */
  compare(options: CompareOptions): Promise<AnalyticsComparison>;
}

/** Options of {@link createAnalytics}. */
export interface AnalyticsOptions {
  client: SqlClient;
  /** Postgres schema of Keel's tables (default `keel`). */
  schema?: string;
  /** "Now" of the abandonment cutoff. */
  clock?: Clock;
}

interface GroupRow {
  group_key: string | null;
  runs: number;
  ended_runs: number;
  succeeded: number;
  /** p50, p95, p99 (null: no ended run). */
  percentiles: number[] | null;
  cost_usd: number;
  committed: number;
  rejected: number;
  speculative: number;
  abandoned_runs: number;
  abandoned_runs_usd: number;
  stop_reasons: Record<string, number> | null;
  tools: Record<string, { calls: number; errors: number }> | null;
  loops: Record<string, number> | null;
  crash_usd: number | null;
  crash_executions: number | null;
  retried_usd: number | null;
  retried_attempts: number | null;
  thumbs_up: number | null;
  thumbs_down: number | null;
  mean_score: number | null;
  scores: number | null;
  feedback: number | null;
  group_count: number;
}

interface GatewayRow {
  tenant_id: string | null;
  key_id: string | null;
  calls: number;
  errors: number;
  cost_usd: number;
  input_tokens: number;
  output_tokens: number;
  key_count: number;
  total_calls: number;
  total_errors: number;
  total_cost_usd: number;
}

interface GatewayUserRow {
  tenant_id: string | null;
  user_id: string | null;
  calls: number;
  errors: number;
  cost_usd: number;
  input_tokens: number;
  output_tokens: number;
  sessions: number;
  user_count: number;
}

interface RankRow {
  name: RankedFigure;
  count_a: number;
  count_b: number;
  rank_sum_a: number;
  mean_a: number | null;
  mean_b: number | null;
  tie_term: number;
}

/** Analytics over SQL (PGlite or Postgres). */
export function createAnalytics({
  client,
  schema = DEFAULT_SCHEMA,
  clock = systemClock,
}: AnalyticsOptions): Analytics {
  assertSchemaName(schema);

  /**
   * Runs one of the big analytics statements with JIT compilation off (in a transaction, for
   * `SET LOCAL`). Their cost estimates are far above Postgres's JIT thresholds (a set-returning
   * `jsonb_each` counts 100 rows a call), so JIT would compile, inline and optimize ~170
   * functions per call: 0.5-2.5 s measured, against 0.5-0.8 s for the whole statement without
   * it (100,000 runs). PGlite has no JIT; the setting exists there and does nothing.
   */
  const queryWithoutJit = <Row>(sql: string, params: unknown[]) =>
    client.transaction(async (tx) => {
      await tx.query('SET LOCAL jit = off');
      return tx.query<Row>(sql, params);
    });

  async function figuresOf(options: SummaryOptions) {
    const abandonedAfterDays = options.abandonedAfterDays ?? DEFAULT_ABANDONED_AFTER_DAYS;
    const cutoff = new Date(clock.now() - abandonedAfterDays * DAY_MS);
    const result = await queryWithoutJit<GroupRow>(summarySql(schema, options.groupBy), [
      ...runFilter(options),
      cutoff.toISOString(),
      options.groupBy === undefined ? 1 : MAX_GROUPS,
    ]);
    const scope: SummaryScope = {
      from: options.window.from.toISOString(),
      to: options.window.to.toISOString(),
      tenant: options.tenantId,
      agent: options.agent ?? null,
      prompt_version: options.promptVersion ?? null,
      group_by: options.groupBy ?? null,
      abandoned_after_days: abandonedAfterDays,
    };
    const groups = result.rows.map((row) => ({ key: row.group_key, ...toFigures(row, abandonedAfterDays) }));
    const truncated = (result.rows[0]?.group_count ?? 0) > result.rows.length;
    return { scope, groups, truncated, abandonedAfterDays };
  }

  async function gatewayOf(window: TimeWindow, tenantId: string | null): Promise<GatewayFigures> {
    const parameters = [window.from.toISOString(), window.to.toISOString(), tenantId, MAX_GATEWAY_KEYS];
    const [result, users] = await Promise.all([
      client.query<GatewayRow>(gatewaySql(schema), parameters),
      client.query<GatewayUserRow>(gatewayUsersSql(schema), parameters),
    ]);
    const first = result.rows[0];
    return {
      calls: first?.total_calls ?? 0,
      errors: first?.total_errors ?? 0,
      cost_usd: first?.total_cost_usd ?? 0,
      by_key: result.rows.map((row) => ({
        tenant_id: row.tenant_id,
        key_id: row.key_id,
        calls: row.calls,
        errors: row.errors,
        cost_usd: row.cost_usd,
        input_tokens: row.input_tokens,
        output_tokens: row.output_tokens,
      })),
      by_key_truncated: (first?.key_count ?? 0) > result.rows.length,
      by_user: users.rows.map((row) => ({
        tenant_id: row.tenant_id,
        user_id: row.user_id,
        calls: row.calls,
        errors: row.errors,
        cost_usd: row.cost_usd,
        input_tokens: row.input_tokens,
        output_tokens: row.output_tokens,
        sessions: row.sessions,
      })),
      by_user_truncated: (users.rows[0]?.user_count ?? 0) > users.rows.length,
    };
  }

  /** The figures of a whole sample (no grouping): the one row, or zeros for an empty window. */
  async function totalsOf(options: SummaryOptions): Promise<SummaryScope & AnalyticsFigures> {
    const { scope, groups, abandonedAfterDays } = await figuresOf({ ...options, groupBy: undefined });
    const first = groups[0];
    const figures = first === undefined ? emptyFigures(abandonedAfterDays) : withoutKey(first);
    return { ...scope, ...figures };
  }

  return {
    async summary(options) {
      const [{ scope, groups, truncated, abandonedAfterDays }, gateway] = await Promise.all([
        figuresOf(options),
        gatewayOf(options.window, options.tenantId),
      ]);
      if (options.groupBy !== undefined) return { ...scope, groups, groups_truncated: truncated, gateway };
      const first = groups[0];
      return {
        ...scope,
        ...(first === undefined ? emptyFigures(abandonedAfterDays) : withoutKey(first)),
        gateway,
      };
    },

    async compare({ sides, tenantId, agent = null, abandonedAfterDays }) {
      const optionsOf = (side: CompareSides['a']): SummaryOptions => ({
        window: side.window,
        tenantId,
        agent,
        promptVersion: side.promptVersion,
        ...(abandonedAfterDays === undefined ? {} : { abandonedAfterDays }),
      });
      const [a, b, ranks] = await Promise.all([
        totalsOf(optionsOf(sides.a)),
        totalsOf(optionsOf(sides.b)),
        queryWithoutJit<RankRow>(rankSumsSql(schema), [
          ...runFilter(optionsOf(sides.a)),
          ...runFilter(optionsOf(sides.b)),
        ]),
      ]);
      const ranked = new Map(ranks.rows.map((row) => [row.name, row]));
      const rankChange = (name: RankedFigure): FigureChange => {
        const row = ranked.get(name);
        if (row === undefined) return change(null, null, undefined, 0, 0);
        const test = mannWhitneyU({
          rankSumA: row.rank_sum_a,
          countA: row.count_a,
          countB: row.count_b,
          tieTerm: row.tie_term,
        });
        return change(row.mean_a, row.mean_b, test, row.count_a, row.count_b);
      };
      const toolTotals = (figures: AnalyticsFigures) =>
        Object.values(figures.tool_error_rate).reduce(
          (sum, tool) => ({ calls: sum.calls + tool.calls, errors: sum.errors + tool.errors }),
          { calls: 0, errors: 0 },
        );
      const rateChange = (
        first: { successes: number; total: number },
        second: { successes: number; total: number },
      ): FigureChange =>
        change(
          first.total > 0 ? first.successes / first.total : null,
          second.total > 0 ? second.successes / second.total : null,
          twoProportionZTest({
            successesA: first.successes,
            totalA: first.total,
            successesB: second.successes,
            totalB: second.total,
          }),
          first.total,
          second.total,
        );
      const toolsA = toolTotals(a);
      const toolsB = toolTotals(b);
      const toolNames = [
        ...new Set([...Object.keys(a.tool_error_rate), ...Object.keys(b.tool_error_rate)]),
      ].sort();
      const zero: ToolErrorRate = { calls: 0, errors: 0, rate: 0 };
      return {
        mode: sides.mode,
        alpha: SIGNIFICANCE_ALPHA,
        a,
        b,
        changes: {
          success_rate: rateChange(
            { successes: a.successful_runs, total: a.ended_runs },
            { successes: b.successful_runs, total: b.ended_runs },
          ),
          tool_error_rate: rateChange(
            { successes: toolsA.errors, total: toolsA.calls },
            { successes: toolsB.errors, total: toolsB.calls },
          ),
          tool_error_rate_by_tool: Object.fromEntries(
            toolNames.map((name) => {
              const first = a.tool_error_rate[name] ?? zero;
              const second = b.tool_error_rate[name] ?? zero;
              return [
                name,
                rateChange(
                  { successes: first.errors, total: first.calls },
                  { successes: second.errors, total: second.calls },
                ),
              ];
            }),
          ),
          cost_per_run_usd: rankChange('cost_per_run_usd'),
          steps_per_run: rankChange('steps_per_run'),
          model_calls_per_run: rankChange('model_calls_per_run'),
          duration_ms: rankChange('duration_ms'),
        },
      };
    },
  };
}

/** Parameters $1-$5 of `scopedRunsFilter`. */
function runFilter({ window, tenantId, agent, promptVersion }: SummaryOptions): unknown[] {
  return [window.from.toISOString(), window.to.toISOString(), tenantId, agent ?? null, promptVersion ?? null];
}

function change(
  a: number | null,
  b: number | null,
  test: TestResult | undefined,
  countA: number,
  countB: number,
): FigureChange {
  return {
    a,
    b,
    difference: a === null || b === null ? null : b - a,
    changed: a !== b,
    test: test === undefined ? null : { ...test, n_a: countA, n_b: countB },
  };
}

function withoutKey<T extends { key: unknown }>({ key: _key, ...figures }: T): Omit<T, 'key'> {
  return figures;
}

const ratio = (numerator: number, denominator: number): number | null =>
  denominator > 0 ? numerator / denominator : null;

function percentile(row: GroupRow, index: number): number | null {
  const value = row.percentiles?.[index];
  return value === undefined || value === null ? null : Number(value);
}

function toFigures(row: GroupRow, abandonedAfterDays: number): AnalyticsFigures {
  const crash = row.crash_usd ?? 0;
  const retried = row.retried_usd ?? 0;
  return {
    runs: row.runs,
    ended_runs: row.ended_runs,
    successful_runs: row.succeeded,
    success_rate: ratio(row.succeeded, row.ended_runs),
    p50_duration_ms: percentile(row, 0),
    p95_duration_ms: percentile(row, 1),
    p99_duration_ms: percentile(row, 2),
    cost_usd: row.cost_usd,
    cost_per_run_usd: ratio(row.cost_usd, row.runs),
    cost_per_successful_run_usd: ratio(row.cost_usd, row.succeeded),
    cost_per_committed_outcome_usd: ratio(row.cost_usd, row.committed),
    outcomes: { committed: row.committed, rejected: row.rejected, speculative: row.speculative },
    stop_reasons: row.stop_reasons ?? {},
    tool_error_rate: Object.fromEntries(
      Object.entries(row.tools ?? {})
        .sort(([first], [second]) => (first < second ? -1 : 1))
        .map(([name, { calls, errors }]) => [name, { calls, errors, rate: errors / calls }]),
    ),
    loop_histogram: LOOP_BUCKETS.map((bucket) => ({ ...bucket, runs: row.loops?.[bucket.bucket] ?? 0 })),
    hidden_recompute_usd: {
      total_usd: crash + retried + row.abandoned_runs_usd,
      crash_reexecution_usd: crash,
      crash_reexecutions: row.crash_executions ?? 0,
      retried_attempts_usd: retried,
      retried_attempts: row.retried_attempts ?? 0,
      abandoned_runs_usd: row.abandoned_runs_usd,
      abandoned_runs: row.abandoned_runs,
      abandoned_after_days: abandonedAfterDays,
    },
    feedback: {
      thumbs_up: row.thumbs_up ?? 0,
      thumbs_down: row.thumbs_down ?? 0,
      mean_score: row.mean_score,
      scores: row.scores ?? 0,
      count: row.feedback ?? 0,
    },
  };
}

function emptyFigures(abandonedAfterDays: number): AnalyticsFigures {
  return toFigures(
    {
      group_key: null,
      runs: 0,
      ended_runs: 0,
      succeeded: 0,
      percentiles: null,
      cost_usd: 0,
      committed: 0,
      rejected: 0,
      speculative: 0,
      abandoned_runs: 0,
      abandoned_runs_usd: 0,
      stop_reasons: null,
      tools: null,
      loops: null,
      crash_usd: null,
      crash_executions: null,
      retried_usd: null,
      retried_attempts: null,
      thumbs_up: null,
      thumbs_down: null,
      mean_score: null,
      scores: null,
      feedback: null,
      group_count: 0,
    },
    abandonedAfterDays,
  );
}
