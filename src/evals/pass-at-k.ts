import { InvalidTrialCountError } from '../errors/eval-errors.js';

/** Trials of one case: each trial's verdict, or the counts (`n` trials, `c` passed). */
export type TrialResults = readonly boolean[] | { n: number; c: number };

function counts(results: TrialResults, k: number): { n: number; c: number } {
  const { n, c } = Array.isArray(results)
    ? { n: results.length, c: results.filter(Boolean).length }
    : (results as { n: number; c: number });
  if (!Number.isInteger(n) || !Number.isInteger(c) || c < 0 || c > n) {
    throw new InvalidTrialCountError({ n, k });
  }
  if (!Number.isInteger(k) || k < 1 || k > n) throw new InvalidTrialCountError({ n, k });
  return { n, c };
}

/** C(a, k) / C(n, k) as a running product, so large n never overflows. */
function chooseRatio(a: number, n: number, k: number): number {
  if (a < k) return 0;
  let ratio = 1;
  for (let i = 0; i < k; i += 1) ratio *= (a - i) / (n - i);
  return ratio;
}

/**
 * pass@k: the chance that at least one of k trials drawn from the n run passes,
 * 1 - C(n-c, k) / C(n, k) (the unbiased estimator of Chen et al., used by tau-bench).
 */
export function passAtK(results: TrialResults, k: number): number {
  const { n, c } = counts(results, k);
  return 1 - chooseRatio(n - c, n, k);
}

/**
 * pass^k (tau-bench): the chance that all k trials drawn from the n run pass, C(c, k) / C(n, k).
 * It falls as k grows when an agent is not reliable, which pass@k hides.
 */
export function passHatK(results: TrialResults, k: number): number {
  const { n, c } = counts(results, k);
  return chooseRatio(c, n, k);
}
