import { z } from 'zod';
import { KeelError } from '../errors/keel-error.js';
import type { EvalCaseResult, EvalRecord } from './eval-store.js';
import { mean } from './eval-summary.js';

/** A case trial as `--json`, `/v1/evals/{id}` and reports show it. */
export interface EvalCaseView {
  id: string;
  trial: number;
  verdict: EvalCaseResult['verdict'];
  score: number;
  run_id: string | null;
  cost_usd: number;
  judge_cost_usd: number;
  latency_ms: number;
  stop_reason: string | null;
  tags: string[];
  scores: {
    scorer: string;
    pass: boolean;
    score: number;
    reason: string;
    cost_usd?: number;
    error?: unknown;
  }[];
  error?: { code: string; message: string };
}

/** An eval as `keel eval --json`, `keel evals show --json` and `/v1/evals/{id}` print it. */
export interface EvalView {
  id: string;
  suite: string;
  agent: string;
  prompt_version: string | null;
  status: EvalRecord['status'];
  trials: number;
  concurrency: number;
  case_count: number;
  pass_rate: number;
  passed: number;
  failed: number;
  errored: number;
  total: number;
  cost_usd: number;
  judge_cost_usd: number;
  latency_ms: { mean: number; p50: number; p95: number };
  k: number;
  pass_at_k: number;
  pass_hat_k: number;
  created_by: string | null;
  created_at: string;
  ended_at: string | null;
  options: Record<string, unknown>;
  cases?: EvalCaseView[];
}

function round(value: number, digits = 6): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export function evalCaseView(result: EvalCaseResult): EvalCaseView {
  return {
    id: result.caseId,
    trial: result.trial,
    verdict: result.verdict,
    score: round(result.score),
    run_id: result.runId,
    cost_usd: round(result.costUsd, 8),
    judge_cost_usd: round(result.judgeCostUsd, 8),
    latency_ms: Math.round(result.latencyMs),
    stop_reason: result.stopReason,
    tags: result.tags,
    scores: result.scores.map((outcome) => {
      const extra = outcome as { costUsd?: number };
      return {
        scorer: outcome.scorer,
        pass: outcome.pass,
        score: round(outcome.score),
        reason: outcome.reason,
        ...(extra.costUsd === undefined ? {} : { cost_usd: round(extra.costUsd, 8) }),
        ...(outcome.error === undefined ? {} : { error: outcome.error }),
      };
    }),
    ...(result.error === null ? {} : { error: { code: result.error.code, message: result.error.message } }),
  };
}

/** The view of an eval; with `results`, its cases too. */
export function evalView(record: EvalRecord, results?: readonly EvalCaseResult[]): EvalView {
  const summary = record.summary;
  return {
    id: record.id,
    suite: record.suite,
    agent: record.agent,
    prompt_version: record.promptVersion,
    status: record.status,
    trials: record.trials,
    concurrency: record.concurrency,
    case_count: record.caseCount,
    pass_rate: round(summary?.passRate ?? 0),
    passed: summary?.passed ?? 0,
    failed: summary?.failed ?? 0,
    errored: summary?.errored ?? 0,
    total: summary?.total ?? 0,
    cost_usd: round(summary?.costUsd ?? 0, 8),
    judge_cost_usd: round(summary?.judgeCostUsd ?? 0, 8),
    latency_ms: {
      mean: Math.round(summary?.latencyMs.mean ?? 0),
      p50: Math.round(summary?.latencyMs.p50 ?? 0),
      p95: Math.round(summary?.latencyMs.p95 ?? 0),
    },
    k: summary?.k ?? record.trials,
    pass_at_k: round(summary?.passAtK ?? 0),
    pass_hat_k: round(summary?.passHatK ?? 0),
    created_by: record.createdBy,
    created_at: record.createdAt.toISOString(),
    ended_at: record.endedAt?.toISOString() ?? null,
    options: record.options,
    ...(results === undefined ? {} : { cases: results.map(evalCaseView) }),
  };
}

/** What a baseline needs of an earlier eval: its figures and its cases' verdicts. */
export interface BaselineSource {
  id: string | null;
  pass_rate: number;
  cost_usd: number;
  latency_ms: { mean: number };
  total: number;
  cases: {
    id: string;
    trial: number;
    verdict: EvalCaseResult['verdict'];
    cost_usd: number;
    latency_ms: number;
  }[];
}

/** A `--json` report (or `/v1/evals/{id}` body) read back as a baseline. */
export const baselineSchema = z.object({
  id: z.string().nullable().optional(),
  pass_rate: z.number(),
  cost_usd: z.number(),
  latency_ms: z.object({ mean: z.number() }),
  total: z.number().optional(),
  cases: z.array(
    z.object({
      id: z.string(),
      trial: z.number().int().default(1),
      verdict: z.enum(['pass', 'fail', 'error']),
      cost_usd: z.number().default(0),
      latency_ms: z.number().default(0),
    }),
  ),
});

/** Parses a baseline file's text; `baseline_invalid` naming the problem. */
export function parseBaseline(text: string, file: string): BaselineSource {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw baselineInvalid(file, `not JSON (${(error as Error).message})`);
  }
  const parsed = baselineSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw baselineInvalid(file, `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return {
    ...parsed.data,
    id: parsed.data.id ?? null,
    total: parsed.data.total ?? parsed.data.cases.length,
  };
}

function baselineInvalid(file: string, problem: string): KeelError {
  return new KeelError({
    code: 'baseline_invalid',
    message: `Baseline ${file} is not an eval report (keel eval --json): ${problem}`,
    fault: 'caller',
    details: { file },
  });
}

/** A case that changed between the baseline and this eval. */
export interface CaseChange {
  id: string;
  before: EvalCaseResult['verdict'] | 'absent';
  after: EvalCaseResult['verdict'] | 'absent';
}

/** This eval against a baseline: what regressed, what got fixed, and the deltas. */
export interface BaselineComparison {
  baseline_id: string | null;
  pass_rate: { before: number; after: number; delta: number };
  /** Mean cost per case trial, USD. */
  cost_usd: { before: number; after: number; delta: number };
  /** Mean latency per case trial, ms. */
  latency_ms: { before: number; after: number; delta: number };
  /** Passed in the baseline, not now. */
  regressions: CaseChange[];
  /** Not passed in the baseline, passed now. */
  fixes: CaseChange[];
  /** Cases only one side has. */
  added: string[];
  removed: string[];
}

/** A case's verdict across its trials: `pass` when every trial passed, else `error` if any errored, else `fail`. */
function caseVerdicts(
  cases: readonly { id: string; verdict: EvalCaseResult['verdict'] }[],
): Map<string, EvalCaseResult['verdict']> {
  const trials = new Map<string, EvalCaseResult['verdict'][]>();
  for (const { id, verdict } of cases) trials.set(id, [...(trials.get(id) ?? []), verdict]);
  const verdicts = new Map<string, EvalCaseResult['verdict']>();
  for (const [id, list] of trials)
    verdicts.set(
      id,
      list.every((verdict) => verdict === 'pass') ? 'pass' : list.includes('error') ? 'error' : 'fail',
    );
  return verdicts;
}

export function compareWithBaseline(current: EvalView, baseline: BaselineSource): BaselineComparison {
  const now = caseVerdicts(current.cases ?? []);
  const before = caseVerdicts(baseline.cases);
  const regressions: CaseChange[] = [];
  const fixes: CaseChange[] = [];
  for (const [id, after] of now) {
    const was = before.get(id);
    if (was === undefined) continue;
    if (was === 'pass' && after !== 'pass') regressions.push({ id, before: was, after });
    if (was !== 'pass' && after === 'pass') fixes.push({ id, before: was, after });
  }
  const delta = (a: number, b: number) => ({ before: round(a), after: round(b), delta: round(b - a) });
  return {
    baseline_id: baseline.id,
    pass_rate: delta(baseline.pass_rate, current.pass_rate),
    cost_usd: delta(
      mean(baseline.cases.map((each) => each.cost_usd)),
      mean((current.cases ?? []).map((each) => each.cost_usd)),
    ),
    latency_ms: delta(
      mean(baseline.cases.map((each) => each.latency_ms)),
      mean((current.cases ?? []).map((each) => each.latency_ms)),
    ),
    regressions,
    fixes,
    added: [...now.keys()].filter((id) => !before.has(id)),
    removed: [...before.keys()].filter((id) => !now.has(id)),
  };
}
