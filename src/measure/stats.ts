/**
 * The statistics of experiment reports: intervals for a proportion and for the difference of two
 * proportions, tests of that difference, Welch's interval for a difference of means, the
 * sample-ratio-mismatch test and the sample-size calculator. Pure functions; no I/O.
 *
 * Nothing here returns NaN or ±Infinity. When a quantity cannot be estimated from the data (an
 * empty arm, a zero baseline, no variance), the function returns `null` for it, and the doc
 * comment says when.
 *
 * Definitions, formulas, assumptions and references: docs/measurement.md.
 */

import {
  chiSquareUpperTail,
  logGamma,
  normalCdf,
  normalQuantile,
  normalTwoSidedP,
  studentTQuantile,
  studentTTwoSidedP,
} from './distributions.ts';

/** A closed interval `[low, high]`. */
export type Interval = readonly [number, number];

/** Thrown when a statistic is called with arguments outside its domain (a bug in the caller). */
export class StatsArgumentError extends Error {
  override name = 'StatsArgumentError';
}

function checkCount(x: number, n: number): void {
  if (!Number.isInteger(n) || n < 0)
    throw new StatsArgumentError(`n must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(x) || x < 0 || x > n)
    throw new StatsArgumentError(`successes must be an integer in 0..n (${n}), got ${x}`);
}

function checkConfidence(confidence: number): void {
  if (!(confidence > 0 && confidence < 1))
    throw new StatsArgumentError(`confidence must be between 0 and 1, got ${confidence}`);
}

/** z_{1−α/2} for a two-sided interval of the given confidence. */
export function zForConfidence(confidence: number): number {
  checkConfidence(confidence);
  return normalQuantile(1 - (1 - confidence) / 2);
}

/**
 * Wilson's score interval for a binomial proportion x/n (Wilson 1927; method 3 of Newcombe 1998,
 * "Two-sided confidence intervals for the single proportion"). `null` when n = 0.
 */
export function wilsonInterval(x: number, n: number, confidence = 0.95): Interval | null {
  checkCount(x, n);
  if (n === 0) return null;
  const z = zForConfidence(confidence);
  const p = x / n;
  const z2 = z * z;
  const denominator = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denominator;
  const half = (z / denominator) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // At x = 0 and x = n the bounds are exactly 0 and 1; rounding must not move them.
  const low = x === 0 ? 0 : Math.max(0, center - half);
  const high = x === n ? 1 : Math.min(1, center + half);
  return [low, high];
}

/** The difference p1 − p2 of two proportions with its interval. */
export interface ProportionDifference {
  readonly difference: number;
  readonly ci: Interval;
}

/**
 * Newcombe's hybrid score interval for p1 − p2 = x1/n1 − x2/n2 (method 10 of Newcombe 1998,
 * "Interval estimation for the difference between independent proportions"): the Wilson
 * intervals [l1, u1] and [l2, u2] of the two proportions, combined as
 * L = d − √((p1 − l1)² + (u2 − p2)²) and U = d + √((u1 − p1)² + (p2 − l2)²).
 * `null` when either n is 0.
 */
export function newcombeInterval(
  x1: number,
  n1: number,
  x2: number,
  n2: number,
  confidence = 0.95,
): ProportionDifference | null {
  const w1 = wilsonInterval(x1, n1, confidence);
  const w2 = wilsonInterval(x2, n2, confidence);
  if (w1 === null || w2 === null) return null;
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const d = p1 - p2;
  const low = d - Math.sqrt((p1 - w1[0]) ** 2 + (w2[1] - p2) ** 2);
  const high = d + Math.sqrt((w1[1] - p1) ** 2 + (p2 - w2[0]) ** 2);
  return { difference: d, ci: [Math.max(-1, low), Math.min(1, high)] };
}

/**
 * Interval for the relative difference p1/p2 − 1 from the log risk ratio (Katz et al. 1978):
 * exp(ln(p1/p2) ± z √(1/x1 − 1/n1 + 1/x2 − 1/n2)) − 1. `null` when x1 or x2 is 0 (the log ratio
 * is unbounded) or either n is 0.
 */
export function relativeDifferenceInterval(
  x1: number,
  n1: number,
  x2: number,
  n2: number,
  confidence = 0.95,
): Interval | null {
  checkCount(x1, n1);
  checkCount(x2, n2);
  if (x1 === 0 || x2 === 0) return null;
  const z = zForConfidence(confidence);
  const logRatio = Math.log(x1 / n1 / (x2 / n2));
  const se = Math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2);
  return [Math.expm1(logRatio - z * se), Math.expm1(logRatio + z * se)];
}

/**
 * Two-sided p-value of the pooled two-proportion z-test of p1 = p2:
 * z = (p1 − p2) / √(p̂ (1 − p̂) (1/n1 + 1/n2)) with p̂ = (x1 + x2)/(n1 + n2). When p̂ is 0 or 1
 * both arms agree exactly and the p-value is 1. `null` when either n is 0.
 */
export function twoProportionZTest(
  x1: number,
  n1: number,
  x2: number,
  n2: number,
): { z: number; pValue: number } | null {
  checkCount(x1, n1);
  checkCount(x2, n2);
  if (n1 === 0 || n2 === 0) return null;
  const pooled = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (se === 0) return { z: 0, pValue: 1 };
  const z = (x1 / n1 - x2 / n2) / se;
  return { z, pValue: normalTwoSidedP(z) };
}

/**
 * Two-sided p-value of Fisher's exact test for the 2×2 table [[a, b], [c, d]]: the probability,
 * under the hypergeometric distribution with the table's margins, of all tables no more likely
 * than the one observed (the convention of R's fisher.test, with the same relative tolerance of
 * 1e-7 for ties).
 */
export function fisherExactTest(a: number, b: number, c: number, d: number): number {
  for (const v of [a, b, c, d])
    if (!Number.isInteger(v) || v < 0)
      throw new StatsArgumentError(`cells must be non-negative integers, got ${v}`);
  const row1 = a + b;
  const row2 = c + d;
  const col1 = a + c;
  const n = row1 + row2;
  if (n === 0) return 1;
  const lo = Math.max(0, col1 - row2);
  const hi = Math.min(row1, col1);
  const logFactorial = (k: number) => logGamma(k + 1);
  const constant =
    logFactorial(row1) + logFactorial(row2) + logFactorial(col1) + logFactorial(n - col1) - logFactorial(n);
  const logP = (x: number) =>
    constant -
    logFactorial(x) -
    logFactorial(row1 - x) -
    logFactorial(col1 - x) -
    logFactorial(row2 - col1 + x);
  const observed = logP(a);
  const threshold = observed + Math.log1p(1e-7);
  let sum = 0;
  let total = 0;
  for (let x = lo; x <= hi; x++) {
    const p = Math.exp(logP(x) - observed);
    total += p;
    if (logP(x) <= threshold) sum += p;
  }
  return Math.min(1, sum / total);
}

/** The p-value of p1 = p2, from the test the counts call for. */
export interface ProportionTest {
  readonly pValue: number;
  /** `fisher` when a 2×2 cell has an expected count below 5, otherwise `z`. */
  readonly test: 'z' | 'fisher';
}

/**
 * Tests p1 = p2 with the pooled z-test, or with Fisher's exact test when any expected count of
 * the 2×2 table (converted / not converted × arm) is below 5, where the normal approximation is
 * poor. `null` when either n is 0.
 */
export function compareProportions(x1: number, n1: number, x2: number, n2: number): ProportionTest | null {
  checkCount(x1, n1);
  checkCount(x2, n2);
  if (n1 === 0 || n2 === 0) return null;
  const n = n1 + n2;
  const successes = x1 + x2;
  const failures = n - successes;
  const minExpected = (Math.min(n1, n2) * Math.min(successes, failures)) / n;
  if (minExpected < 5) return { pValue: fisherExactTest(x1, n1 - x1, x2, n2 - x2), test: 'fisher' };
  const z = twoProportionZTest(x1, n1, x2, n2);
  return z === null ? null : { pValue: z.pValue, test: 'z' };
}

/** Count, mean and sample variance (divisor n − 1) of one group. */
export interface Moments {
  readonly n: number;
  readonly mean: number;
  readonly variance: number;
}

/** Moments from a count, a sum and a sum of squares; `null` when n = 0. */
export function momentsFromSums(n: number, sum: number, sumOfSquares: number): Moments | null {
  if (n <= 0) return null;
  const mean = sum / n;
  const variance = n > 1 ? Math.max(0, (sumOfSquares - n * mean * mean) / (n - 1)) : 0;
  return { n, mean, variance };
}

/** Moments of a list of values (two-pass, for accuracy); `null` when empty. */
export function moments(values: readonly number[]): Moments | null {
  const n = values.length;
  if (n === 0) return null;
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / n;
  let ss = 0;
  for (const v of values) ss += (v - mean) ** 2;
  return { n, mean, variance: n > 1 ? ss / (n - 1) : 0 };
}

/**
 * Student's t interval of a mean: mean ± t_{1−α/2, n−1} s/√n. `null` with fewer than two values
 * or no variance.
 */
export function meanInterval(m: Moments | null, confidence = 0.95): Interval | null {
  checkConfidence(confidence);
  if (m === null || m.n < 2 || !(m.variance > 0)) return null;
  const half = studentTQuantile(1 - (1 - confidence) / 2, m.n - 1) * Math.sqrt(m.variance / m.n);
  return [m.mean - half, m.mean + half];
}

/** Welch's comparison of two means. */
export interface WelchResult {
  /** mean1 − mean2. */
  readonly difference: number;
  /** Welch–Satterthwaite degrees of freedom; `null` when not estimable. */
  readonly df: number | null;
  readonly t: number | null;
  readonly ci: Interval | null;
  readonly pValue: number | null;
}

/**
 * Welch's t interval and test for mean1 − mean2 with unequal variances (Welch 1947):
 * se = √(s1²/n1 + s2²/n2), ν = se⁴ / ((s1²/n1)²/(n1 − 1) + (s2²/n2)²/(n2 − 1)), interval
 * d ± t_{1−α/2, ν} se. `df`, `t`, `ci` and `pValue` are `null` when either group has fewer
 * than two values or both variances are 0 (nothing to estimate the noise from). `null` overall
 * when either group is empty.
 */
export function welchTest(a: Moments | null, b: Moments | null, confidence = 0.95): WelchResult | null {
  checkConfidence(confidence);
  if (a === null || b === null || a.n === 0 || b.n === 0) return null;
  const difference = a.mean - b.mean;
  const va = a.variance / a.n;
  const vb = b.variance / b.n;
  const se2 = va + vb;
  if (a.n < 2 || b.n < 2 || !(se2 > 0)) return { difference, df: null, t: null, ci: null, pValue: null };
  const se = Math.sqrt(se2);
  const df = (se2 * se2) / ((va * va) / (a.n - 1) + (vb * vb) / (b.n - 1));
  const t = difference / se;
  const q = studentTQuantile(1 - (1 - confidence) / 2, df);
  return {
    difference,
    df,
    t,
    ci: [difference - q * se, difference + q * se],
    pValue: studentTTwoSidedP(t, df),
  };
}

/** Pearson's chi-square goodness-of-fit test. */
export interface GoodnessOfFit {
  readonly chiSquare: number;
  readonly df: number;
  readonly pValue: number;
}

/**
 * Pearson's chi-square goodness-of-fit test of observed counts against expected shares (which
 * need not sum to 1; they are normalised): X² = Σ (O − E)² / E on k − 1 degrees of freedom.
 * Used for sample-ratio mismatch. `null` when there are fewer than two categories with a
 * positive share, or no observations.
 */
export function chiSquareGoodnessOfFit(
  observed: readonly number[],
  expectedShares: readonly number[],
): GoodnessOfFit | null {
  if (observed.length !== expectedShares.length)
    throw new StatsArgumentError('observed and expected shares must have the same length');
  const total = observed.reduce((s, o) => s + o, 0);
  const shareSum = expectedShares.reduce((s, e) => s + e, 0);
  const categories = expectedShares.filter((e) => e > 0).length;
  if (total <= 0 || categories < 2 || !(shareSum > 0)) return null;
  let chiSquare = 0;
  for (let i = 0; i < observed.length; i++) {
    const share = expectedShares[i]!;
    const o = observed[i]!;
    if (share < 0) throw new StatsArgumentError(`expected shares must be non-negative, got ${share}`);
    if (share === 0) {
      // Observations where none were expected: the fit is impossible.
      if (o > 0) return { chiSquare: Number.MAX_VALUE, df: categories - 1, pValue: 0 };
      continue;
    }
    const e = (total * share) / shareSum;
    chiSquare += (o - e) ** 2 / e;
  }
  const df = categories - 1;
  return { chiSquare, df, pValue: chiSquareUpperTail(chiSquare, df) };
}

/** Error rates of a planned two-sided test. */
export interface PowerOptions {
  /** Two-sided significance level; default 0.05. */
  readonly alpha?: number;
  /** Probability of detecting the effect when it is real; default 0.8. */
  readonly power?: number;
}

function powerZ(options: PowerOptions): { zAlpha: number; zBeta: number } {
  const alpha = options.alpha ?? 0.05;
  const power = options.power ?? 0.8;
  if (!(alpha > 0 && alpha < 1)) throw new StatsArgumentError(`alpha must be between 0 and 1, got ${alpha}`);
  if (!(power > 0 && power < 1)) throw new StatsArgumentError(`power must be between 0 and 1, got ${power}`);
  return { zAlpha: normalQuantile(1 - alpha / 2), zBeta: normalQuantile(power) };
}

/** The (fractional) n per arm at which the two-sided test of p1 vs p2 reaches the power. */
function exactSampleSize(p1: number, p2: number, zAlpha: number, zBeta: number): number {
  const pBar = (p1 + p2) / 2;
  const root = zAlpha * Math.sqrt(2 * pBar * (1 - pBar)) + zBeta * Math.sqrt(p1 * (1 - p1) + p2 * (1 - p2));
  return (root * root) / ((p1 - p2) * (p1 - p2));
}

/**
 * Profiles needed in each of two equal arms to detect a change of the conversion rate from
 * `baseline` to `baseline + minimumDetectableEffect` (absolute) with a two-sided test:
 * n = (z_{1−α/2} √(2 p̄ q̄) + z_{1−β} √(p1 q1 + p2 q2))² / (p1 − p2)², rounded up (Fleiss, Levin &
 * Paik 2003, without continuity correction; the same formula as R's power.prop.test).
 * `null` when the baseline is not in (0, 1), the effect is 0, or p2 falls outside (0, 1).
 */
export function sampleSizePerArm(
  baseline: number,
  minimumDetectableEffect: number,
  options: PowerOptions = {},
): number | null {
  const { zAlpha, zBeta } = powerZ(options);
  const p2 = baseline + minimumDetectableEffect;
  if (!(baseline > 0 && baseline < 1) || !(p2 > 0 && p2 < 1) || minimumDetectableEffect === 0) return null;
  return Math.ceil(exactSampleSize(baseline, p2, zAlpha, zBeta) - 1e-9);
}

/**
 * The smallest absolute increase of the conversion rate over `baseline` that arms of
 * `nPerArm` profiles detect with the given power: the inverse of {@link sampleSizePerArm},
 * found by bisection. `null` when the baseline is not in (0, 1), nPerArm < 1, or not even a
 * rate of 1 would be detected.
 */
export function minimumDetectableEffect(
  baseline: number,
  nPerArm: number,
  options: PowerOptions = {},
): number | null {
  const { zAlpha, zBeta } = powerZ(options);
  if (!(baseline > 0 && baseline < 1) || !(nPerArm >= 1)) return null;
  let lo = baseline;
  let hi = 1 - 1e-12;
  if (exactSampleSize(baseline, hi, zAlpha, zBeta) > nPerArm) return null;
  for (let i = 0; i < 200 && hi - lo > 1e-13; i++) {
    const mid = (lo + hi) / 2;
    if (exactSampleSize(baseline, mid, zAlpha, zBeta) > nPerArm) lo = mid;
    else hi = mid;
  }
  return hi - baseline;
}

/**
 * Power of the two-sided test of p1 vs p2 with n per arm (the normal approximation that
 * {@link sampleSizePerArm} inverts).
 */
export function powerOfTwoProportions(p1: number, p2: number, nPerArm: number, alpha = 0.05): number | null {
  if (!(p1 > 0 && p1 < 1 && p2 > 0 && p2 < 1) || !(nPerArm > 0) || p1 === p2) return null;
  const zAlpha = normalQuantile(1 - alpha / 2);
  const pBar = (p1 + p2) / 2;
  const num = Math.sqrt(nPerArm) * Math.abs(p1 - p2) - zAlpha * Math.sqrt(2 * pBar * (1 - pBar));
  return normalCdf(num / Math.sqrt(p1 * (1 - p1) + p2 * (1 - p2)));
}
