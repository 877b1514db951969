import { describe, expect, it } from 'vitest';
import {
  complementaryErrorFunction,
  mannWhitneyU,
  normalSurvival,
  twoProportionZTest,
} from './statistics.js';

/** Sample A's mid-rank sum in the pooled sample and Σ(t³ − t) over its ties (what the SQL computes). */
function rankSums(a: number[], b: number[]): { rankSumA: number; tieTerm: number } {
  const pooled = [...a, ...b].sort((x, y) => x - y);
  const midRank = (value: number) => {
    const first = pooled.indexOf(value) + 1;
    const last = pooled.lastIndexOf(value) + 1;
    return (first + last) / 2;
  };
  const counts = new Map<number, number>();
  for (const value of pooled) counts.set(value, (counts.get(value) ?? 0) + 1);
  let tieTerm = 0;
  for (const t of counts.values()) tieTerm += t ** 3 - t;
  return { rankSumA: a.reduce((sum, value) => sum + midRank(value), 0), tieTerm };
}

describe('complementaryErrorFunction', () => {
  // Source: scipy 1.17.1, scipy.special.erfc(x), printed with '%.17g'.
  const cases: Array<[number, number]> = [
    [-2, 1.9953222650189528],
    [0, 1],
    [0.1, 0.88753708398171516],
    [0.5, 0.47950012218695348],
    [1, 0.15729920705028516],
    [2.5, 0.00040695201744495886],
    [3.99, 1.6739211364520824e-8],
    [5, 1.5374597944280347e-12],
    [8, 1.1224297172982928e-29],
  ];
  it.each(cases)('erfc(%s) matches scipy to 1e-13 relative', (x, expected) => {
    const value = complementaryErrorFunction(x);
    expect(Math.abs(value - expected) / expected).toBeLessThan(1e-13);
  });

  it('gives the normal upper tail', () => {
    // Source: scipy 1.17.1, scipy.stats.norm.sf(1.959963984540054) = 0.025.
    expect(normalSurvival(1.959963984540054)).toBeCloseTo(0.025, 14);
  });
});

describe('mannWhitneyU', () => {
  // Source: scipy 1.17.1, scipy.stats.mannwhitneyu(a, b, method='asymptotic', use_continuity=True,
  // alternative='two-sided'): statistic (U of a) and pvalue, printed with repr().
  const cases: Array<{ a: number[]; b: number[]; u: number; p: number }> = [
    { a: [1.2, 3.4, 2.2, 5.0, 2.2], b: [0.5, 2.2, 1.1, 0.9, 0.7, 3.4], u: 24.5, p: 0.09647980350895838 },
    {
      a: [0.01, 0.012, 0.011, 0.03, 0.013, 0.012, 0.014, 0.009, 0.015, 0.012],
      b: [0.02, 0.022, 0.019, 0.025, 0.03, 0.021, 0.018, 0.024],
      u: 7.5,
      p: 0.004363151429145681,
    },
    {
      a: [3, 3, 4, 5, 3, 6, 4, 3, 3, 4, 5, 7],
      b: [3, 4, 3, 3, 4, 3, 3, 5, 4, 3],
      u: 76.5,
      p: 0.25353780619794264,
    },
  ];
  it.each(cases)('matches scipy (U = $u, p = $p)', ({ a, b, u, p }) => {
    const result = mannWhitneyU({ ...rankSums(a, b), countA: a.length, countB: b.length })!;
    expect(result.test).toBe('mann_whitney_u');
    expect(result.statistic).toBe(u);
    expect(result.p_value).toBeCloseTo(p, 12);
    expect(result.significant).toBe(p < 0.05);
  });

  it('has the rank sums of the first example right (scipy.stats.rankdata: 39.5, ties 30)', () => {
    expect(rankSums([1.2, 3.4, 2.2, 5.0, 2.2], [0.5, 2.2, 1.1, 0.9, 0.7, 3.4])).toEqual({
      rankSumA: 39.5,
      tieTerm: 30,
    });
  });

  it('answers p = 1 when every value ties, and nothing for an empty sample', () => {
    const allTied = mannWhitneyU({ rankSumA: 3 * 3.5, countA: 3, countB: 3, tieTerm: 6 ** 3 - 6 })!;
    expect(allTied).toMatchObject({ p_value: 1, significant: false });
    expect(mannWhitneyU({ rankSumA: 0, countA: 0, countB: 4, tieTerm: 0 })).toBeUndefined();
  });
});

describe('twoProportionZTest', () => {
  // Source: scipy 1.17.1: z = (x_a/n_a − x_b/n_b) / sqrt(p(1−p)(1/n_a + 1/n_b)) with the pooled
  // p = (x_a + x_b)/(n_a + n_b), and p-value = 2 * scipy.stats.norm.sf(abs(z)), printed with repr()
  // (the same as statsmodels' proportions_ztest with its default pooled variance).
  const cases: Array<[number, number, number, number, number, number]> = [
    [45, 100, 30, 100, 2.1908902300206647, 0.02845973691631055],
    [180, 200, 170, 200, 1.5118578920369101, 0.13057001811573588],
    [812, 1000, 760, 1000, 2.835111777428941, 0.00458096545444097],
    [3, 10, 3, 10, 0, 1],
    [0, 20, 0, 25, 0, 1],
  ];
  it.each(cases)('%i/%i vs %i/%i: z = %s, p = %s', (successesA, totalA, successesB, totalB, z, p) => {
    const result = twoProportionZTest({ successesA, totalA, successesB, totalB })!;
    expect(result.test).toBe('two_proportion_z');
    expect(result.statistic).toBeCloseTo(z, 12);
    expect(result.p_value).toBeCloseTo(p, 12);
    expect(result.significant).toBe(p < 0.05);
    // Swapping the samples flips the sign, not the p-value.
    const swapped = twoProportionZTest({
      successesA: successesB,
      totalA: totalB,
      successesB: successesA,
      totalB: totalA,
    })!;
    expect(swapped.statistic).toBeCloseTo(-z, 12);
    expect(swapped.p_value).toBeCloseTo(p, 12);
  });

  it('answers nothing for an empty sample', () => {
    expect(twoProportionZTest({ successesA: 0, totalA: 0, successesB: 1, totalB: 2 })).toBeUndefined();
  });
});
