/**
 * The significance tests of drift comparisons (`GET /v1/analytics/compare`). The database
 * reduces each sample to counts or rank sums; these functions turn those into a test result.
 * Conventions follow scipy (`scipy.stats.mannwhitneyu`, method `asymptotic`) so results can be
 * checked against it; p-values are two-sided.
 */

/** The significance level of every comparison: a p-value below it flags a change as significant. */
export const SIGNIFICANCE_ALPHA = 0.05;

/** One test of one figure between sample A and sample B. */
export interface TestResult {
  test: 'two_proportion_z' | 'mann_whitney_u';
  /** The test statistic: z for the proportion test, U of sample A for Mann-Whitney. */
  statistic: number;
  /** The standard normal deviate the p-value comes from (for the proportion test, `statistic`). */
  z: number;
  /** Two-sided. */
  p_value: number;
  /** `p_value < alpha`. */
  significant: boolean;
}

/**
 * Two-proportion z-test with the pooled proportion: z = (p_a − p_b) / √(p(1−p)(1/n_a + 1/n_b)),
 * p = (x_a + x_b) / (n_a + n_b). Undefined when a sample is empty; z = 0 (p = 1) when the
 * pooled proportion is 0 or 1 (no variance: nothing can differ).
 */
export function twoProportionZTest({
  successesA,
  totalA,
  successesB,
  totalB,
  alpha = SIGNIFICANCE_ALPHA,
}: {
  successesA: number;
  totalA: number;
  successesB: number;
  totalB: number;
  alpha?: number;
}): TestResult | undefined {
  if (totalA <= 0 || totalB <= 0) return undefined;
  const pooled = (successesA + successesB) / (totalA + totalB);
  const variance = pooled * (1 - pooled) * (1 / totalA + 1 / totalB);
  const z = variance > 0 ? (successesA / totalA - successesB / totalB) / Math.sqrt(variance) : 0;
  const pValue = Math.min(1, 2 * normalSurvival(Math.abs(z)));
  return { test: 'two_proportion_z', statistic: z, z, p_value: pValue, significant: pValue < alpha };
}

/**
 * Mann-Whitney U from the rank sum of sample A in the pooled sample (mid-ranks for ties), by the
 * normal approximation with tie correction and continuity correction (scipy's `asymptotic`
 * method with `use_continuity=True`):
 * U_a = R_a − n_a(n_a+1)/2; μ = n_a n_b / 2;
 * σ = √(n_a n_b / 12 · ((n+1) − Σ(t³−t) / (n(n−1)))), t the size of each group of ties;
 * z = (max(U_a, n_a n_b − U_a) − μ − ½) / σ; p = 2·(1 − Φ(z)), at most 1.
 * Undefined when a sample is empty; p = 1 when every value ties (σ = 0).
 */
export function mannWhitneyU({
  rankSumA,
  countA,
  countB,
  tieTerm,
  alpha = SIGNIFICANCE_ALPHA,
}: {
  /** Σ of sample A's mid-ranks in the pooled sample (ranks from 1). */
  rankSumA: number;
  countA: number;
  countB: number;
  /** Σ (t³ − t) over the groups of tied values of the pooled sample. */
  tieTerm: number;
  alpha?: number;
}): TestResult | undefined {
  if (countA <= 0 || countB <= 0) return undefined;
  const n = countA + countB;
  const uA = rankSumA - (countA * (countA + 1)) / 2;
  const mean = (countA * countB) / 2;
  const variance = ((countA * countB) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  const u = Math.max(uA, countA * countB - uA);
  const z = variance > 0 ? (u - mean - 0.5) / Math.sqrt(variance) : 0;
  const pValue = variance > 0 ? Math.min(1, 2 * normalSurvival(z)) : 1;
  return { test: 'mann_whitney_u', statistic: uA, z, p_value: pValue, significant: pValue < alpha };
}

/** 1 − Φ(x), the upper tail of the standard normal distribution. */
export function normalSurvival(x: number): number {
  return 0.5 * complementaryErrorFunction(x / Math.SQRT2);
}

/**
 * erfc(x) by W. J. Cody's rational approximations (Math. Comp. 23, 1969), as in the Cephes and
 * SPECFUN libraries: relative error below 1e-15 over the whole range, so tail p-values such as
 * 1e-12 keep their digits (1 − erf(x) would lose them).
 */
export function complementaryErrorFunction(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  const ax = Math.abs(x);
  let result: number;
  if (ax < 0.5) {
    const t = ax * ax;
    const top =
      (((0.18577770618460315 * t + 3.1611237438705655) * t + 113.86415415105016) * t + 377.485237685302) * t +
      3209.3775891384694;
    const bottom =
      (((t + 23.601290952344122) * t + 244.02463793444417) * t + 1282.6165260773723) * t + 2844.236833439171;
    return 1 - (x * top) / bottom;
  } else if (ax < 4) {
    const top =
      (((((((2.1531153547440383e-8 * ax + 0.5641884969886701) * ax + 8.883149794388377) * ax +
        66.11919063714163) *
        ax +
        298.6351381974001) *
        ax +
        881.952221241769) *
        ax +
        1712.0476126340707) *
        ax +
        2051.0783778260716) *
        ax +
      1230.3393547979972;
    const bottom =
      (((((((ax + 15.744926110709835) * ax + 117.6939508913125) * ax + 537.1811018620099) * ax +
        1621.3895745666903) *
        ax +
        3290.7992357334597) *
        ax +
        4362.619090143247) *
        ax +
        3439.3676741437216) *
        ax +
      1230.3393548037495;
    result = Math.exp(-ax * ax) * (top / bottom);
  } else {
    const z = 1 / (ax * ax);
    const top =
      ((((0.016315387137302097 * z + 0.30532663496123236) * z + 0.36034489994980445) * z +
        0.12578172611122926) *
        z +
        0.016083785148742275) *
        z +
      0.0006587491615298378;
    const bottom =
      ((((z + 2.568520192289822) * z + 1.8729528499234673) * z + 0.5279051029514285) * z +
        0.06051834131244132) *
        z +
      0.0023352049762686918;
    const ratio = (1 / Math.sqrt(Math.PI) - (z * top) / bottom) / ax;
    result = Math.exp(-ax * ax) * ratio;
  }
  return x < 0 ? 2 - result : result;
}
