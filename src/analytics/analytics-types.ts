/**
 * The figures of `GET /v1/analytics/summary` and `/compare`, in the API's own (snake_case) shape:
 * the store returns them ready to send, so the names cannot drift between the SQL, the API and
 * the CLI. docs/observability.md ("Analytics and drift") defines each.
 */
import type { GroupBy } from './analytics-query.js';
import type { TestResult } from './statistics.js';

/** One tool's calls that ended (completed or failed) and the failed ones. */
export interface ToolErrorRate {
  calls: number;
  errors: number;
  /** errors / calls. */
  rate: number;
}

/** Runs whose count of model steps falls in [min, max] (max null: no upper bound). */
export interface LoopBucket {
  bucket: string;
  min: number;
  max: number | null;
  runs: number;
}

/** Spend the journal shows as wasted, by cause (see docs/observability.md for the estimates). */
export interface HiddenRecompute {
  total_usd: number;
  /** Estimated: model calls of executions abandoned by a crash, each priced as the step's recorded call. */
  crash_reexecution_usd: number;
  /** Executions abandoned by a crash (`prior_executions` entries with `end: "abandoned"`) of model steps. */
  crash_reexecutions: number;
  /** Estimated: model calls that failed and were retried, each priced as the step's recorded call. */
  retried_attempts_usd: number;
  retried_attempts: number;
  /** Recorded: the cost of runs that ended more than `abandoned_after_days` ago without an outcome. */
  abandoned_runs_usd: number;
  abandoned_runs: number;
  abandoned_after_days: number;
}

export interface FeedbackFigures {
  thumbs_up: number;
  thumbs_down: number;
  /** Mean of the 0-1 scores given (null: none). */
  mean_score: number | null;
  /** Feedback rows with a score. */
  scores: number;
  /** Feedback rows. */
  count: number;
}

/** The figures of a set of runs (the whole window, or one group). */
export interface AnalyticsFigures {
  runs: number;
  /** Runs that ended (completed, failed, cancelled). */
  ended_runs: number;
  /** Runs that completed (stop reason `completed`). */
  successful_runs: number;
  /** Completed runs / ended runs (null: none ended). */
  success_rate: number | null;
  p50_duration_ms: number | null;
  p95_duration_ms: number | null;
  p99_duration_ms: number | null;
  cost_usd: number;
  cost_per_run_usd: number | null;
  cost_per_successful_run_usd: number | null;
  cost_per_committed_outcome_usd: number | null;
  outcomes: { committed: number; rejected: number; speculative: number };
  stop_reasons: Record<string, number>;
  tool_error_rate: Record<string, ToolErrorRate>;
  loop_histogram: LoopBucket[];
  hidden_recompute_usd: HiddenRecompute;
  feedback: FeedbackFigures;
}

/** Gateway calls made outside runs, by tenant and API key. */
export interface GatewayUsage {
  tenant_id: string | null;
  key_id: string | null;
  calls: number;
  errors: number;
  cost_usd: number;
  input_tokens: number;
  output_tokens: number;
}

/**
 * Gateway calls made outside runs, by tenant and the end user (a developer) they were attributed
 * to (`user_id` null: calls that named none), with how many distinct sessions they spanned.
 */
export interface GatewayUserUsage {
  tenant_id: string | null;
  user_id: string | null;
  calls: number;
  errors: number;
  cost_usd: number;
  input_tokens: number;
  output_tokens: number;
  sessions: number;
}

export interface GatewayFigures {
  calls: number;
  errors: number;
  cost_usd: number;
  /** Most costly first, at most {@link MAX_GATEWAY_KEYS}. */
  by_key: GatewayUsage[];
  by_key_truncated: boolean;
  /** Most costly first, at most {@link MAX_GATEWAY_KEYS}. */
  by_user: GatewayUserUsage[];
  by_user_truncated: boolean;
}

/** What the summary covers. */
export interface SummaryScope {
  from: string;
  to: string;
  /** null: every tenant (an operator's view). */
  tenant: string | null;
  agent: string | null;
  prompt_version: string | null;
  group_by: GroupBy | null;
  abandoned_after_days: number;
}

/** A group of `groups[]`: its key (null: runs without one, e.g. no user) and its figures. */
export type AnalyticsGroup = { key: string | null } & AnalyticsFigures;

/** `GET /v1/analytics/summary`: the figures at the top level, or per group. */
export type AnalyticsSummary = SummaryScope & { gateway: GatewayFigures } & (
    ({ groups?: undefined } & AnalyticsFigures) | { groups: AnalyticsGroup[]; groups_truncated: boolean }
  );

/** A figure of A and B with its test. */
export interface FigureChange {
  a: number | null;
  b: number | null;
  /** b − a (null when either is). */
  difference: number | null;
  changed: boolean;
  /** null: a sample is empty, nothing to test. */
  test: (TestResult & { n_a: number; n_b: number }) | null;
}

/** `GET /v1/analytics/compare`. */
export interface AnalyticsComparison {
  mode: 'windows' | 'versions';
  alpha: number;
  a: SummaryScope & AnalyticsFigures;
  b: SummaryScope & AnalyticsFigures;
  changes: {
    success_rate: FigureChange;
    tool_error_rate: FigureChange;
    tool_error_rate_by_tool: Record<string, FigureChange>;
    cost_per_run_usd: FigureChange;
    steps_per_run: FigureChange;
    model_calls_per_run: FigureChange;
    duration_ms: FigureChange;
  };
}

/** Groups beyond this many (most runs first) are cut, with `groups_truncated`. */
export const MAX_GROUPS = 500;
/** Gateway keys (and users) beyond this many (most costly first) are cut, with `by_key_truncated` (`by_user_truncated`). */
export const MAX_GATEWAY_KEYS = 100;
