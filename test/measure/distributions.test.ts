/**
 * The distribution functions against closed forms and published table values, so the t and
 * chi-square p-values and quantiles behind every report are trustworthy to many digits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  chiSquareUpperTail,
  logBeta,
  logGamma,
  normalCdf,
  normalQuantile,
  normalTwoSidedP,
  regularizedBeta,
  studentTCdf,
  studentTQuantile,
  studentTTwoSidedP,
} from '../../src/measure/distributions.ts';

function close(actual: number, expected: number, relative: number, what = ''): void {
  const err = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-300);
  assert.ok(err <= relative, `${what} expected ${expected}, got ${actual} (relative error ${err})`);
}

describe('log-gamma and the incomplete beta function', () => {
  it('matches factorials and Γ(½) = √π', () => {
    close(logGamma(10), Math.log(362_880), 1e-14);
    close(logGamma(0.5), 0.5 * Math.log(Math.PI), 1e-14);
    close(logGamma(101), 363.73937555556347, 1e-14, 'ln 100!');
  });

  it('keeps ln B(a, ½) precise for huge a (Stirling: ln B(a, ½) → ln Γ(½) − ½ ln a)', () => {
    // ln Γ(a + ½) − ln Γ(a) = ½ ln a − 1/(8a) + 1/(192a³) + … (Tricomi & Erdélyi 1951).
    const a = 5e6;
    const lnB = 0.5 * Math.log(Math.PI) - (0.5 * Math.log(a) - 1 / (8 * a) + 1 / (192 * a ** 3));
    close(logBeta(a, 0.5), lnB, 1e-15);
    close(logBeta(0.5, a), lnB, 1e-15);
  });

  it('gives I_x(a, 1) = x^a and I_x(1, b) = 1 − (1 − x)^b', () => {
    for (const x of [0.01, 0.3, 0.77, 0.999]) {
      close(regularizedBeta(x, 3.5, 1), x ** 3.5, 1e-13, `x=${x}`);
      close(regularizedBeta(x, 1, 4.25), 1 - (1 - x) ** 4.25, 1e-13, `x=${x}`);
    }
  });
});

describe('normal distribution', () => {
  it('has the familiar quantiles to full precision', () => {
    close(normalQuantile(0.975), 1.959963984540054, 1e-15);
    close(normalQuantile(0.95), 1.6448536269514722, 1e-14);
    close(normalQuantile(0.8), 0.8416212335729143, 1e-14);
    close(normalQuantile(0.025), -1.959963984540054, 1e-15);
    close(normalQuantile(1e-10), -6.361340902404056, 1e-14);
  });

  it('inverts the distribution function, tails included', () => {
    for (const p of [1e-300, 1e-20, 1e-5, 0.01, 0.3, 0.5, 0.9, 0.999999])
      close(normalCdf(normalQuantile(p)), p, 1e-13);
  });

  it('keeps the relative precision of tiny two-sided p-values', () => {
    // erfc(10/√2) = 1.523970604832105e-23 (Abramowitz & Stegun 26.2; any arbitrary-precision tool).
    close(normalTwoSidedP(10), 1.523970604832105e-23, 1e-12);
    assert.equal(normalTwoSidedP(0), 1);
  });
});

describe("Student's t distribution", () => {
  it('matches the closed forms for 1 and 2 degrees of freedom', () => {
    for (const t of [-30, -2.5, -0.3, 0, 0.7, 4, 100]) {
      close(studentTCdf(t, 1), 0.5 + Math.atan(t) / Math.PI, 1e-13, `Cauchy t=${t}`);
      close(studentTCdf(t, 2), 0.5 + t / (2 * Math.sqrt(2 + t * t)), 1e-13, `ν=2 t=${t}`);
    }
  });

  it('matches the finite series for an even number of degrees of freedom (ν = 10)', () => {
    // P(|T| < t) = sin θ (1 + ½cos²θ + (1·3)/(2·4) cos⁴θ + …), θ = atan(t/√ν) (Abramowitz & Stegun 26.7.3).
    const nu = 10;
    for (const t of [0.4, 1.5, 2.228, 5, 12]) {
      const theta = Math.atan(t / Math.sqrt(nu));
      const c2 = Math.cos(theta) ** 2;
      let term = 1;
      let sum = 1;
      for (let k = 1; k <= nu / 2 - 1; k++) {
        term *= ((2 * k - 1) / (2 * k)) * c2;
        sum += term;
      }
      // The series loses relative precision in the far tail (1 minus almost 1), hence the
      // absolute part of the tolerance.
      const expected = 1 - Math.sin(theta) * sum;
      const got = studentTTwoSidedP(t, nu);
      assert.ok(Math.abs(got - expected) <= 1e-13 * expected + 2e-16, `t=${t}: ${got} vs ${expected}`);
    }
  });

  it('has the quantiles of the printed t table (two-sided 5%)', () => {
    // Student t table, 0.975 quantiles: ν = 1: 12.706, 2: 4.303, 5: 2.571, 10: 2.228, 30: 2.042, 120: 1.980.
    const table: [number, number][] = [
      [1, 12.706],
      [2, 4.303],
      [5, 2.571],
      [10, 2.228],
      [30, 2.042],
      [120, 1.98],
    ];
    for (const [df, q] of table) assert.equal(Number(studentTQuantile(0.975, df).toFixed(3)), q, `ν=${df}`);
    close(studentTQuantile(0.975, 1), Math.tan(Math.PI * 0.475), 1e-13, 'Cauchy quantile');
  });

  it('inverts the distribution function for fractional and large degrees of freedom', () => {
    for (const df of [0.5, 1.7, 17.776, 1000, 1e7])
      for (const p of [0.001, 0.2, 0.9, 0.975])
        close(studentTCdf(studentTQuantile(p, df), df), p, 1e-11, `ν=${df}`);
    assert.equal(studentTQuantile(0.5, 3), 0);
  });
});

describe('chi-square distribution', () => {
  it('has the upper 5% points of the printed table', () => {
    // χ² table, 0.95 quantiles: ν = 1: 3.841, 2: 5.991, 3: 7.815, 10: 18.307.
    for (const [df, x] of [
      [1, 3.8414588],
      [2, 5.9914645],
      [3, 7.8147279],
      [10, 18.3070381],
    ] as const)
      close(chiSquareUpperTail(x, df), 0.05, 1e-6, `ν=${df}`);
  });

  it('matches exp(−x/2) for two degrees of freedom', () => {
    for (const x of [0.01, 1, 10, 200]) close(chiSquareUpperTail(x, 2), Math.exp(-x / 2), 1e-13, `x=${x}`);
    assert.equal(chiSquareUpperTail(0, 3), 1);
  });
});
