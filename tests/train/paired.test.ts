// The paired comparison behind `sparrow eval --against`, against hand-computed cases and
// against exact binomial sums in BigInt arithmetic.

import { binomialTwoSided, comparePaired } from '../../host/train/paired';

/** 2 · Σ_{j ≤ k} C(N, j) / 2^N, exactly (BigInt), then to a double. */
function exactTwoSided(k: number, N: number): number {
  let c = 1n;
  let sum = 0n;
  for (let j = 0; j <= k; j++) {
    sum += c;
    c = (c * BigInt(N - j)) / BigInt(j + 1);
  }
  // Keep 60 significant bits of the ratio before going to floating point.
  const shift = BigInt(N) - 60n;
  const ratio = shift > 0n ? Number(sum >> shift) / 2 ** 60 : Number(sum) / 2 ** N;
  return Math.min(1, 2 * ratio);
}

describe('exact two-sided binomial test', () => {
  test('hand-computed: 2 of 10 discordant pairs go one way: 2 · (1 + 10 + 45) / 1024', () => {
    expect(binomialTwoSided(2, 10)).toBeCloseTo(112 / 1024, 14);
    expect(binomialTwoSided(0, 1)).toBe(1);
    expect(binomialTwoSided(0, 4)).toBeCloseTo(2 / 16, 14);
    expect(binomialTwoSided(5, 10)).toBe(1);
    expect(binomialTwoSided(0, 0)).toBe(1);
  });

  test('equals the exact sum where 2^N overflows a double (N = 1,500)', () => {
    for (const k of [650, 700, 720, 749]) {
      const exact = exactTwoSided(k, 1500);
      expect(Math.abs(binomialTwoSided(k, 1500) - exact) / exact).toBeLessThan(1e-9);
    }
  });
});

describe('comparePaired', () => {
  test('accuracy: differences, a 95% interval from the sample sd, and McNemar counts (hand-computed)', () => {
    // d = [1, 0, 0, 1]: mean 0.5, sample variance 1/3, se = sqrt(1/12).
    const c = comparePaired([1, 1, 0, 1], [0, 1, 0, 0], 100);
    const se = Math.sqrt(1 / 12);
    expect(c.n).toBe(4);
    expect(c.difference).toBeCloseTo(50, 12);
    expect(c.ciLow).toBeCloseTo(100 * (0.5 - 1.959963984540054 * se), 10);
    expect(c.ciHigh).toBeCloseTo(100 * (0.5 + 1.959963984540054 * se), 10);
    expect(c.mcnemar).toEqual({ aOnly: 2, bOnly: 0, p: 0.5 });
  });

  test('a metric in dB: no McNemar; identical models differ by exactly 0', () => {
    const c = comparePaired([1.5, 2, 3], [1, 1, 2]);
    expect(c.difference).toBeCloseTo(5 / 6, 12);
    expect(c.mcnemar).toBeUndefined();
    // d = [0.5, 1, 1]: sample sd = sqrt(((1/3)² + 2 (1/6)²) / 2) = sqrt(1/12).
    expect(c.ciHigh - c.difference).toBeCloseTo(1.959963984540054 * Math.sqrt(1 / 12 / 3), 12);
    expect(comparePaired([0.2, 7, -3], [0.2, 7, -3])).toMatchObject({ difference: 0, ciLow: 0, ciHigh: 0 });
    expect(comparePaired([1, 0, 1], [1, 0, 1]).mcnemar).toEqual({ aOnly: 0, bOnly: 0, p: 1 });
  });

  test('refuses unpaired or too few values', () => {
    expect(() => comparePaired([1, 2], [1])).toThrow(/2 and 1 values/);
    expect(() => comparePaired([1], [1])).toThrow(/at least 2/);
  });
});
