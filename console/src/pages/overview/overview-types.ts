/**
 * The answers the overview reads, as the API sends them (src/server/analytics-schemas.ts,
 * src/server/budget-routes.ts, src/server/agent-routes.ts): only the fields the page shows.
 */

export interface ToolErrorRate {
  calls: number;
  errors: number;
  rate: number;
}

export interface LoopBucket {
  bucket: string;
  min: number;
  max: number | null;
  runs: number;
}

/** The figures of a set of runs (`GET /v1/analytics/summary`, one group, one side of a comparison). */
export interface AnalyticsFigures {
  runs: number;
  ended_runs: number;
  successful_runs: number;
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
  hidden_recompute_usd: {
    total_usd: number;
    crash_reexecution_usd: number;
    crash_reexecutions: number;
    retried_attempts_usd: number;
    retried_attempts: number;
    abandoned_runs_usd: number;
    abandoned_runs: number;
    abandoned_after_days: number;
  };
  feedback: { thumbs_up: number; thumbs_down: number; mean_score: number | null; count: number };
}

interface SummaryScope {
  from: string;
  to: string;
  agent: string | null;
  prompt_version: string | null;
}

/** `GET /v1/analytics/summary` without `group_by`. */
export type Summary = SummaryScope & AnalyticsFigures;

/** `GET /v1/analytics/summary?group_by=…`. */
export interface GroupedSummary extends SummaryScope {
  groups: (AnalyticsFigures & { key: string | null })[];
  groups_truncated: boolean;
}

export interface FigureChange {
  a: number | null;
  b: number | null;
  difference: number | null;
  changed: boolean;
  test: { test: string; p_value: number; significant: boolean; n_a: number; n_b: number } | null;
}

/** `GET /v1/analytics/compare`. */
export interface Comparison {
  mode: 'windows' | 'versions';
  alpha: number;
  a: Summary;
  b: Summary;
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

/** One budget of `GET /v1/budgets`. */
export interface Budget {
  id: string;
  scope: string;
  scope_id: string;
  period: string;
  limit_usd: number | null;
  limit_tokens: number | null;
  soft_pct: number;
  on_exhausted: string;
  spent_usd: number;
  reserved_usd: number;
  spent_tokens: number;
  reserved_tokens: number;
}

/** One agent of `GET /v1/agents` (the fields the overview needs). */
export interface AgentSummary {
  name: string;
  prompt: { code_version: string; pinned_version: string | null; current_version: string };
}
