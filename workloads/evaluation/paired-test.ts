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
  /**
   * The smallest improvement this comparison detects with {@link POWER} (95%) at α (see
   * {@link minimumDetectableEffect}); null when its discordant pairs are too few to make any
   * improvement significant. A rejection says "not proven", not "not better": improvements
   * below this may be missed, larger ones are missed at most 5% of the time.
   */
  detectable: number | null;
}

/**
 * Power the gate states its detectable effect at: an improvement that large is missed at
 * most 5% of the time, as a worse model is promoted at most α of the time.
 */
export const POWER = 0.95;

/**
 * The smallest accuracy improvement the exact McNemar test detects with {@link POWER} at
 * level α, given n photos of which m are discordant (conditional on m, which the data fix):
 * the critical count k* of the test, then the discordant share π in favour of the
 * challenger at which P(X ≥ k* | m, π) = power, by bisection; the effect is (m/n)(2π − 1).
 * Exact binomial throughout (stdlib's test gives P(X ≥ k | m, p) as its "greater" p-value).
 */
export function minimumDetectableEffect(m: number, n: number, alpha: number, power = POWER): number | null {
  if (m === 0 || n === 0) return null;
  let critical = -1;
  for (let k = 0; k <= m; k++) {
    if (binomialTest(k, m, { alternative: 'greater' }).pValue < alpha) {
      critical = k;
      break;
    }
  }
  if (critical < 0) return null;
  const powerAt = (pi: number) => binomialTest(critical, m, { alternative: 'greater', p: pi }).pValue;
  let lo = 0.5;
  let hi = 1;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (powerAt(mid) < power) lo = mid;
    else hi = mid;
  }
  return (m / n) * (2 * hi - 1);
}

export function pairedComparison(b: number, c: number, n: number, alpha: number): PairedComparison {
  if (!Number.isInteger(b) || !Number.isInteger(c) || !Number.isInteger(n) || b < 0 || c < 0 || b + c > n) {
    throw new Error(`pairedComparison: need whole numbers with b + c ≤ n, got b=${b} c=${c} n=${n}`);
  }
  const m = b + c;
  if (m === 0) return { n, b, c, effect: 0, low: 0, high: 0, pBetter: 1, pWorse: 1, detectable: null };
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
    detectable: minimumDetectableEffect(m, n, alpha),
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
