/**
 * The experiment statistics against published worked examples. Each expected value cites where
 * it was published; none was produced by this code.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  chiSquareGoodnessOfFit,
  compareProportions,
  fisherExactTest,
  meanInterval,
  minimumDetectableEffect,
  moments,
  newcombeInterval,
  powerOfTwoProportions,
  relativeDifferenceInterval,
  sampleSizePerArm,
  twoProportionZTest,
  welchTest,
  wilsonInterval,
} from '../../src/measure/stats.ts';

/** Asserts |actual − expected| ≤ tolerance. */
function near(actual: number | null | undefined, expected: number, tolerance: number, what = ''): void {
  assert.ok(
    typeof actual === 'number' && Math.abs(actual - expected) <= tolerance,
    `${what} expected ${expected} ± ${tolerance}, got ${actual}`,
  );
}

/** Every number in a JSON round trip is finite: no NaN or Infinity hides as null or a string. */
function allFinite(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(allFinite);
  if (value !== null && typeof value === 'object') return Object.values(value).every(allFinite);
  return true;
}

describe('Wilson score interval', () => {
  // Newcombe RG (1998), "Two-sided confidence intervals for the single proportion: comparison of
  // seven methods", Statistics in Medicine 17:857–872, Table I, method 3 (score, no continuity
  // correction), 95%, four decimals.
  const table1: [number, number, number, number][] = [
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0.0, 0.1611],
    [1, 29, 0.0061, 0.1718],
  ];
  for (const [x, n, lo, hi] of table1) {
    it(`gives ${lo.toFixed(4)} to ${hi.toFixed(4)} for ${x}/${n} (Newcombe 1998, Table I)`, () => {
      const ci = wilsonInterval(x, n);
      near(ci?.[0], lo, 5e-5, 'lower');
      near(ci?.[1], hi, 5e-5, 'upper');
    });
  }

  it('keeps 0/n and n/n exactly at the bounds of [0, 1]', () => {
    assert.equal(wilsonInterval(0, 7)?.[0], 0);
    assert.equal(wilsonInterval(7, 7)?.[1], 1);
  });

  it('is null for an empty sample, and refuses counts outside 0..n', () => {
    assert.equal(wilsonInterval(0, 0), null);
    assert.throws(() => wilsonInterval(3, 2), /successes/);
    assert.throws(() => wilsonInterval(-1, 2), /successes/);
  });

  it('widens with the confidence level', () => {
    const ci90 = wilsonInterval(30, 100, 0.9)!;
    const ci99 = wilsonInterval(30, 100, 0.99)!;
    assert.ok(ci99[0] < ci90[0] && ci99[1] > ci90[1]);
  });
});

describe('Newcombe hybrid score interval for a difference of proportions', () => {
  // Newcombe RG (1998), "Interval estimation for the difference between independent
  // proportions: comparison of eleven methods", Statistics in Medicine 17:873–890, Table II,
  // method 10 (score, no continuity correction), 95%. Examples (a) to (h).
  const table2: [number, number, number, number, number, number][] = [
    [56, 70, 48, 80, 0.0524, 0.3339],
    [9, 10, 3, 10, 0.1705, 0.809],
    [6, 7, 2, 7, 0.0582, 0.8062],
    [5, 56, 0, 29, -0.0381, 0.1926],
    [0, 10, 0, 20, -0.1611, 0.2775],
    [0, 10, 0, 10, -0.2775, 0.2775],
    [10, 10, 0, 20, 0.6791, 1.0],
    [10, 10, 0, 10, 0.6075, 1.0],
  ];
  for (const [x1, n1, x2, n2, lo, hi] of table2) {
    it(`gives ${lo.toFixed(4)} to ${hi.toFixed(4)} for ${x1}/${n1} − ${x2}/${n2} (Newcombe 1998, Table II)`, () => {
      const r = newcombeInterval(x1, n1, x2, n2)!;
      near(r.difference, x1 / n1 - x2 / n2, 1e-12, 'difference');
      near(r.ci[0], lo, 5e-5, 'lower');
      near(r.ci[1], hi, 5e-5, 'upper');
    });
  }

  it('mirrors when the arms swap', () => {
    const a = newcombeInterval(9, 12, 20, 138)!;
    const b = newcombeInterval(20, 138, 9, 12)!;
    near(a.ci[0], -b.ci[1], 1e-12);
    near(a.ci[1], -b.ci[0], 1e-12);
  });

  it('is null when an arm is empty', () => {
    assert.equal(newcombeInterval(1, 2, 0, 0), null);
    assert.equal(newcombeInterval(0, 0, 1, 2), null);
  });
});

describe('relative difference interval (log risk ratio)', () => {
  it('is exp(ln RR ± z·se) − 1, computed by hand for 20/100 vs 10/100', () => {
    // RR = 0.2 / 0.1 = 2; se = √(1/20 − 1/100 + 1/10 − 1/100) = √0.13 = 0.360555;
    // 1.959964 × 0.360555 = 0.706675; exp(0.693147 ± 0.706675) = 0.98656 and 4.05448.
    const ci = relativeDifferenceInterval(20, 100, 10, 100)!;
    near(ci[0], 0.98656 - 1, 5e-5);
    near(ci[1], 4.05448 - 1, 5e-5);
  });

  it('is null when an arm has no successes', () => {
    assert.equal(relativeDifferenceInterval(0, 100, 10, 100), null);
    assert.equal(relativeDifferenceInterval(5, 100, 0, 100), null);
  });
});

describe("Fisher's exact test", () => {
  it('gives p = 0.4857 for the tea-tasting table [[3, 1], [1, 3]] (Fisher 1935; Agresti 2002, §3.5.2)', () => {
    // Two-sided: tables with a11 ∈ {0, 1, 3, 4} are no more likely than the observed one:
    // (1 + 16 + 16 + 1) / 70 = 0.485714.
    near(fisherExactTest(3, 1, 1, 3), 34 / 70, 1e-12);
    near(fisherExactTest(3, 1, 1, 3), 0.4857, 5e-5);
  });

  it('gives p = 0.0350 for the whales and sharks table [[8, 2], [1, 5]] (SciPy fisher_exact docs)', () => {
    // (120 + 270 + 10) / 11440 = 0.034965.
    near(fisherExactTest(8, 2, 1, 5), 400 / 11440, 1e-12);
  });

  it('gives p = 1 for a table with no association, and for an empty table', () => {
    assert.equal(fisherExactTest(2, 3, 2, 3), 1);
    assert.equal(fisherExactTest(0, 0, 0, 0), 1);
  });
});

describe('two-proportion z-test and the choice of test', () => {
  it('matches the pooled z statistic computed by hand', () => {
    // 120/1000 vs 100/1000: pooled 0.11, se = √(0.11 × 0.89 × 0.002) = 0.0139929;
    // z = 0.02 / 0.0139929 = 1.42930, two-sided p = 2(1 − Φ(1.42930)) = 0.15292.
    const r = twoProportionZTest(120, 1000, 100, 1000)!;
    near(r.z, 1.4293, 5e-5);
    near(r.pValue, 0.15292, 5e-5);
  });

  it('gives p = 1 when both arms agree perfectly, and null for an empty arm', () => {
    assert.deepEqual(twoProportionZTest(0, 10, 0, 20), { z: 0, pValue: 1 });
    assert.equal(twoProportionZTest(1, 10, 0, 0), null);
  });

  it('uses Fisher when an expected count is below 5 and the z-test otherwise', () => {
    // 3/10 vs 1/10: expected conversions per arm 2 → Fisher.
    assert.deepEqual(compareProportions(3, 10, 1, 10), {
      pValue: fisherExactTest(3, 7, 1, 9),
      test: 'fisher',
    });
    assert.equal(compareProportions(120, 1000, 100, 1000)?.test, 'z');
    assert.equal(compareProportions(0, 0, 1, 1), null);
  });
});

describe("Welch's t interval", () => {
  // R's sleep data (Cushny & Peebles 1905, as in Student 1908): extra hours of sleep under two
  // drugs. R: t.test(extra ~ group, data = sleep) prints "t = -1.8608, df = 17.776,
  // p-value = 0.07939; 95 percent confidence interval: -3.3654832 0.2054832".
  const group1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
  const group2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];

  it("reproduces R's Welch two-sample t-test on the sleep data", () => {
    const r = welchTest(moments(group1), moments(group2))!;
    near(r.difference, -1.58, 1e-12, 'difference');
    near(r.t, -1.8608, 5e-5, 't');
    near(r.df, 17.776, 5e-4, 'df');
    near(r.pValue, 0.07939, 5e-6, 'p');
    near(r.ci?.[0], -3.3654832, 5e-8, 'lower');
    near(r.ci?.[1], 0.2054832, 5e-8, 'upper');
  });

  it('has null statistics when there is no spread or too few values, and is null for an empty group', () => {
    const flat = moments([0, 0, 0]);
    assert.deepEqual(welchTest(flat, flat), { difference: 0, df: null, t: null, ci: null, pValue: null });
    assert.equal(welchTest(moments([1]), moments([1, 2]))?.ci, null);
    assert.equal(welchTest(null, flat), null);
  });

  it('gives the one-sample t interval of a mean', () => {
    // Group 1: mean 0.75, s² = 28.805 / 9 = 3.2005556, s/√10 = 0.5657345, t(0.975, 9) = 2.2621572:
    // 0.75 ± 1.2797804.
    const ci = meanInterval(moments(group1))!;
    near(ci[0], -0.5297804, 5e-8);
    near(ci[1], 2.0297804, 5e-8);
    assert.equal(meanInterval(moments([5])), null);
  });
});

describe('sample-ratio mismatch (chi-square goodness of fit)', () => {
  it('gives chi-square 4, p = 0.0455 for 5,100 vs 4,900 on a 50/50 split', () => {
    // X² = (100² + 100²) / 5000 = 4; P(χ²₁ ≥ 4) = 2(1 − Φ(2)) = 0.0455003.
    const r = chiSquareGoodnessOfFit([5100, 4900], [1, 1])!;
    near(r.chiSquare, 4, 1e-12);
    assert.equal(r.df, 1);
    near(r.pValue, 0.0455003, 5e-7);
  });

  it('honours unequal planned shares', () => {
    const r = chiSquareGoodnessOfFit([900, 100], [0.9, 0.1])!;
    assert.equal(r.chiSquare, 0);
    assert.equal(r.pValue, 1);
  });

  it('is null without observations or with a single category', () => {
    assert.equal(chiSquareGoodnessOfFit([0, 0], [1, 1]), null);
    assert.equal(chiSquareGoodnessOfFit([5], [1]), null);
  });
});

describe('sample size and minimum detectable effect', () => {
  // R's power.prop.test examples (stats package documentation):
  //   power.prop.test(p1 = .50, p2 = .75, power = .90)  =>  n = 76.7
  //   power.prop.test(n = 50, p1 = .5, power = .90)     =>  p2 = 0.8026
  //   power.prop.test(n = 50, p1 = .50, p2 = .75)       =>  power = 0.740
  it('needs 77 per arm to detect 0.50 → 0.75 with 90% power (R: n = 76.7)', () => {
    assert.equal(sampleSizePerArm(0.5, 0.25, { power: 0.9 }), 77);
  });

  it('detects 0.50 → 0.8026 with 50 per arm and 90% power (R: p2 = 0.8026)', () => {
    near(minimumDetectableEffect(0.5, 50, { power: 0.9 }), 0.3026, 5e-5);
  });

  it('has power 0.740 for 0.50 vs 0.75 with 50 per arm (R: power = 0.740)', () => {
    near(powerOfTwoProportions(0.5, 0.75, 50), 0.74, 5e-4);
  });

  it('round-trips: the sample size for the minimum detectable effect is the n it came from', () => {
    const mde = minimumDetectableEffect(0.05, 10_000)!;
    assert.equal(sampleSizePerArm(0.05, mde), 10_000);
  });

  it('is null for impossible plans instead of NaN or Infinity', () => {
    assert.equal(sampleSizePerArm(0, 0.1), null);
    assert.equal(sampleSizePerArm(0.5, 0), null);
    assert.equal(sampleSizePerArm(0.95, 0.1), null);
    assert.equal(minimumDetectableEffect(0.5, 0), null);
    assert.equal(minimumDetectableEffect(0.5, 1), null);
    assert.throws(() => sampleSizePerArm(0.1, 0.01, { alpha: 0 }), /alpha/);
  });
});

describe('no NaN or Infinity from any statistic', () => {
  it('returns finite numbers or null across edge cases', () => {
    const cases = [
      [0, 0, 0, 0],
      [0, 1, 0, 1],
      [1, 1, 1, 1],
      [0, 5, 5, 5],
      [1, 1_000_000, 0, 1_000_000],
    ] as const;
    for (const [x1, n1, x2, n2] of cases) {
      const all = {
        w: wilsonInterval(x1, n1),
        nc: newcombeInterval(x1, n1, x2, n2),
        rel: relativeDifferenceInterval(x1, n1, x2, n2),
        z: twoProportionZTest(x1, n1, x2, n2),
        cmp: compareProportions(x1, n1, x2, n2),
        f: fisherExactTest(x1, n1 - x1, x2, n2 - x2),
      };
      assert.ok(allFinite(all), JSON.stringify(all));
    }
  });
});
