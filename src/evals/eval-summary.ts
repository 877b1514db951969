import type { EvalCaseResult, EvalSummary, LatencySummary } from './eval-store.js';
import { passAtK, passHatK } from './pass-at-k.js';

/** The arithmetic mean; 0 for no values. */
export function mean(values: readonly number[]): number {
  return values.length ? values.reduce((sum, value) => sum + value, 0) / values.length : 0;
}

/** The value at quantile `q` of sorted `values` (nearest rank); 0 when empty. */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function latency(results: readonly EvalCaseResult[]): LatencySummary {
  const sorted = results.map((result) => result.latencyMs).sort((a, b) => a - b);
  return { mean: mean(sorted), p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95) };
}

/**
 * An eval's figures from its results. The pass rate counts every case trial that ended: an
 * `error` (a judge that failed, a timeout) is not a pass, and is counted apart from `fail`.
 * pass@k and pass^k (k = trials) are averaged over the cases that have all k trials, so an
 * interrupted eval reports them over the cases it finished.
 */
export function summarizeResults(results: readonly EvalCaseResult[], trials: number): EvalSummary {
  const count = (verdict: EvalCaseResult['verdict']) =>
    results.filter((result) => result.verdict === verdict).length;
  const passed = count('pass');
  const byCase = new Map<string, boolean[]>();
  for (const result of results) {
    const verdicts = byCase.get(result.caseId) ?? [];
    verdicts.push(result.verdict === 'pass');
    byCase.set(result.caseId, verdicts);
  }
  const complete = [...byCase.values()].filter((verdicts) => verdicts.length === trials);
  return {
    passRate: results.length ? passed / results.length : 0,
    passed,
    failed: count('fail'),
    errored: count('error'),
    total: results.length,
    costUsd: results.reduce((sum, result) => sum + result.costUsd, 0),
    judgeCostUsd: results.reduce((sum, result) => sum + result.judgeCostUsd, 0),
    latencyMs: latency(results),
    k: trials,
    passAtK: mean(complete.map((verdicts) => passAtK(verdicts, trials))),
    passHatK: mean(complete.map((verdicts) => passHatK(verdicts, trials))),
  };
}
