import { describe, expect, it } from 'vitest';
import { passAtK, passHatK } from './pass-at-k.js';

describe('passAtK and passHatK', () => {
  it('match hand-computed values for n=5, c=3', () => {
    const trials = [true, false, true, true, false];
    // pass^1 = 3/5; pass^2 = C(3,2)/C(5,2) = 3/10; pass^3 = 1/10; pass^4 = 0.
    expect(passHatK(trials, 1)).toBeCloseTo(0.6, 12);
    expect(passHatK(trials, 2)).toBeCloseTo(0.3, 12);
    expect(passHatK(trials, 3)).toBeCloseTo(0.1, 12);
    expect(passHatK(trials, 4)).toBe(0);
    // pass@1 = 3/5; pass@2 = 1 - C(2,2)/C(5,2) = 9/10; pass@3 = 1 - 0 = 1.
    expect(passAtK(trials, 1)).toBeCloseTo(0.6, 12);
    expect(passAtK(trials, 2)).toBeCloseTo(0.9, 12);
    expect(passAtK(trials, 3)).toBe(1);
  });

  it('accepts counts and handles all-pass and all-fail', () => {
    expect(passHatK({ n: 10, c: 10 }, 10)).toBe(1);
    expect(passAtK({ n: 10, c: 0 }, 10)).toBe(0);
    // n=10, c=4, k=3: pass^3 = C(4,3)/C(10,3) = 4/120; pass@3 = 1 - C(6,3)/C(10,3) = 1 - 20/120.
    expect(passHatK({ n: 10, c: 4 }, 3)).toBeCloseTo(4 / 120, 12);
    expect(passAtK({ n: 10, c: 4 }, 3)).toBeCloseTo(100 / 120, 12);
  });

  it('stays finite for many trials', () => {
    expect(passHatK({ n: 1000, c: 900 }, 50)).toBeGreaterThan(0);
    expect(passHatK({ n: 1000, c: 900 }, 50)).toBeLessThan(0.01);
  });

  it('rejects a k the trials cannot estimate', () => {
    expect(() => passAtK([true, false], 3)).toThrow(expect.objectContaining({ code: 'eval_invalid_k' }));
    expect(() => passHatK([true], 0)).toThrow(expect.objectContaining({ code: 'eval_invalid_k' }));
    expect(() => passHatK({ n: 2, c: 3 }, 1)).toThrow(expect.objectContaining({ code: 'eval_invalid_k' }));
  });
});
