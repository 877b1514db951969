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
      (((0.185777706184603153 * t + 3.1611237438705656) * t + 113.864154151050156) * t +
        377.485237685302021) *
        t +
      3209.37758913846947;
    const bottom =
      (((t + 23.6012909523441209) * t + 244.024637934444173) * t + 1282.61652607737228) * t +
      2844.23683343917062;
    return 1 - (x * top) / bottom;
  } else if (ax < 4) {
    const top =
      (((((((2.15311535474403846e-8 * ax + 5.64188496988670089e-1) * ax + 8.88314979438837594) * ax +
        66.1191906371416295) *
        ax +
        298.635138197400131) *
        ax +
        881.95222124176909) *
        ax +
        1712.04761263407058) *
        ax +
        2051.07837782607147) *
        ax +
      1230.33935479799725;
    const bottom =
      (((((((ax + 15.7449261107098347) * ax + 117.693950891312499) * ax + 537.181101862009858) * ax +
        1621.38957456669019) *
        ax +
        3290.79923573345963) *
        ax +
        4362.61909014324716) *
        ax +
        3439.36767414372164) *
        ax +
      1230.33935480374942;
    result = Math.exp(-ax * ax) * (top / bottom);
  } else {
    const z = 1 / (ax * ax);
    const top =
      ((((1.63153871373020978e-2 * z + 3.05326634961232344e-1) * z + 3.60344899949804439e-1) * z +
        1.25781726111229246e-1) *
        z +
        1.60837851487422766e-2) *
        z +
      6.58749161529837803e-4;
    const bottom =
      ((((z + 2.56852019228982242) * z + 1.87295284992346725) * z + 5.27905102951428412e-1) * z +
        6.05183413124413191e-2) *
        z +
      2.33520497626869185e-3;
    const ratio = (1 / Math.sqrt(Math.PI) - (z * top) / bottom) / ax;
    result = Math.exp(-ax * ax) * ratio;
  }
  return x < 0 ? 2 - result : result;
}
