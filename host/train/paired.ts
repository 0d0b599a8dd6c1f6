// ============================================================================
// Is model A better than model B on this test split, or is the difference
// noise? Two models scored on the same examples are paired: most examples
// come out the same for both, and only those they disagree on carry the
// difference (at 88% accuracy on 10,000 images one score's standard error is
// 0.33 points; the shipped iso-compute pair disagrees on 618 images, and their
// difference is known to ±0.49). `sparrow eval A --against B` prints this.
//
//   difference   mean of the per-example differences a_i − b_i, in the
//                metric's units, with a 95% confidence interval from the
//                normal approximation (mean ± 1.96 · sd / √n; n ≥ 30);
//   McNemar      for 0/1 metrics (accuracy): of the examples exactly one
//                model gets right, how many each; the exact two-sided
//                binomial test that both are equally likely (p-value).
// ============================================================================

export interface McNemar {
  /** Examples A gets right and B wrong. */
  aOnly: number;
  /** Examples B gets right and A wrong. */
  bOnly: number;
  /** Exact two-sided p-value of aOnly ~ Binomial(aOnly + bOnly, ½). */
  p: number;
}

export interface PairedComparison {
  n: number;
  /** Mean per-example difference A − B, in the reported metric's units. */
  difference: number;
  /** 95% confidence interval of the difference (normal approximation), same units. */
  ciLow: number;
  ciHigh: number;
  /** Only when every per-example value is 0 or 1. */
  mcnemar?: McNemar;
}

const Z95 = 1.959963984540054;

/**
 * Paired comparison of per-example metrics `a` and `b` (the same examples, in the same order).
 * `scale` converts a mean of per-example values to the reported figure (100 for accuracy in %,
 * 1 for dB), so the difference reads in the units the scores are quoted in.
 */
export function comparePaired(a: ArrayLike<number>, b: ArrayLike<number>, scale = 1): PairedComparison {
  const n = a.length;
  if (n !== b.length) throw new Error(`paired comparison of ${n} and ${b.length} values`);
  if (n < 2) throw new Error('a paired comparison needs at least 2 examples');
  let sum = 0;
  for (let i = 0; i < n; i++) sum += a[i] - b[i];
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (a[i] - b[i] - mean) ** 2;
  const se = Math.sqrt(ss / (n - 1) / n);
  const out: PairedComparison = { n, difference: scale * mean, ciLow: scale * (mean - Z95 * se), ciHigh: scale * (mean + Z95 * se) };
  const binary = (x: ArrayLike<number>): boolean => Array.prototype.every.call(x, (v: number) => v === 0 || v === 1);
  if (binary(a) && binary(b)) {
    let aOnly = 0;
    let bOnly = 0;
    for (let i = 0; i < n; i++) {
      if (a[i] > b[i]) aOnly++;
      else if (b[i] > a[i]) bOnly++;
    }
    out.mcnemar = { aOnly, bOnly, p: binomialTwoSided(Math.min(aOnly, bOnly), aOnly + bOnly) };
  }
  return out;
}

/** P(X ≤ k or X ≥ N − k) for X ~ Binomial(N, ½), k ≤ N/2: the exact two-sided test, capped at 1. Log space, so N in the thousands does not underflow. */
export function binomialTwoSided(k: number, N: number): number {
  if (N === 0) return 1;
  let logPmf = -N * Math.LN2; // P(X = 0)
  let logTail = logPmf;
  for (let j = 0; j < k; j++) {
    logPmf += Math.log(N - j) - Math.log(j + 1);
    logTail = logAddExp(logTail, logPmf);
  }
  return Math.min(1, 2 * Math.exp(logTail));
}

function logAddExp(x: number, y: number): number {
  const m = Math.max(x, y);
  return m + Math.log(Math.exp(x - m) + Math.exp(y - m));
}
