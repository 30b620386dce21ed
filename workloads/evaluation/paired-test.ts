import binomialTest from '@stdlib/stats-binomial-test';

/**
 * The statistics of the gate, on paired outcomes: both models classified the same photos,
 * so what matters is the photos on which they differ. Of the discordant pairs, `b` are
 * photos only the challenger got right and `c` photos only the champion got right. Under
 * "no difference" each discordant pair is a fair coin, so the exact McNemar test is an
 * exact binomial test of b successes in b + c trials at p = ½ (stdlib's binomial test,
 * which also gives the matching Clopper–Pearson interval).
 *
 * The effect is the difference in accuracy, (b − c) / n. Its interval is the Clopper–
 * Pearson interval of b / (b + c), mapped onto the difference and conditional on the
 * number of discordant pairs: the two-sided (1 − 2α) interval, whose lower bound is above
 * zero exactly when the one-sided test at α says "better", so the interval and the
 * decision never disagree.
 */

export interface PairedComparison {
  /** Photos compared. */
  n: number;
  /** Only the challenger right. */
  b: number;
  /** Only the champion right. */
  c: number;
  /** Accuracy difference, challenger − champion. */
  effect: number;
  /** Interval of the effect at level 1 − 2α (see above). */
  low: number;
  high: number;
  /** One-sided p-value of "the challenger is better". */
  pBetter: number;
  /** One-sided p-value of "the challenger is worse". */
  pWorse: number;
}

export function pairedComparison(b: number, c: number, n: number, alpha: number): PairedComparison {
  if (!Number.isInteger(b) || !Number.isInteger(c) || !Number.isInteger(n) || b < 0 || c < 0 || b + c > n) {
    throw new Error(`pairedComparison: need whole numbers with b + c ≤ n, got b=${b} c=${c} n=${n}`);
  }
  const m = b + c;
  if (m === 0) return { n, b, c, effect: 0, low: 0, high: 0, pBetter: 1, pWorse: 1 };
  const lowerP = binomialTest(b, m, { alternative: 'greater', alpha }).ci[0];
  const upperP = binomialTest(b, m, { alternative: 'less', alpha }).ci[1];
  return {
    n,
    b,
    c,
    effect: (b - c) / n,
    low: (m / n) * (2 * lowerP - 1),
    high: (m / n) * (2 * upperP - 1),
    pBetter: binomialTest(b, m, { alternative: 'greater' }).pValue,
    pWorse: binomialTest(b, m, { alternative: 'less' }).pValue,
  };
}

/** Clopper–Pearson one-sided bounds of a proportion k / n at level 1 − α. */
export function proportionBounds(k: number, n: number, alpha: number): { low: number; high: number } {
  if (n === 0) return { low: 0, high: 1 };
  return {
    low: binomialTest(k, n, { alternative: 'greater', alpha }).ci[0],
    high: binomialTest(k, n, { alternative: 'less', alpha }).ci[1],
  };
}
