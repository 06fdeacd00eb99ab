/**
 * Thompson sampling: Beta draws with the right mean, traffic that moves to the better variant on
 * simulated conversions (seeded, so the run is the same every time), a control share that stays
 * fixed, and clear errors for empty or bad arms.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type BanditArm,
  BanditError,
  chooseArm,
  probabilityBest,
  sampleBeta,
  seededRandom,
} from '../../src/measure/bandit.ts';

describe('Thompson sampling', () => {
  it('draws Beta variates with mean a / (a + b)', () => {
    const random = seededRandom(7);
    for (const [a, b] of [
      [1, 1],
      [2, 8],
      [0.5, 0.5],
      [30, 70],
    ] as const) {
      let sum = 0;
      const n = 20_000;
      for (let i = 0; i < n; i++) {
        const x = sampleBeta(a, b, random);
        assert.ok(x >= 0 && x <= 1);
        sum += x;
      }
      assert.ok(Math.abs(sum / n - a / (a + b)) < 0.01, `Beta(${a}, ${b}) mean ${sum / n}`);
    }
  });

  it('moves traffic to the better variant while the control keeps its share', () => {
    const random = seededRandom(42);
    const rates: Record<string, number> = { control: 0.05, a: 0.05, b: 0.1 };
    const stats = new Map(Object.keys(rates).map((id) => [id, { successes: 0, failures: 0 }]));
    const picks: Record<string, number> = { control: 0, a: 0, b: 0 };
    const lastPicks: Record<string, number> = { control: 0, a: 0, b: 0 };
    const rounds = 20_000;
    for (let i = 0; i < rounds; i++) {
      const arms: BanditArm[] = [...stats].map(([id, s]) => ({ id, ...s }));
      const id = chooseArm(arms, random, { control: 'control', controlShare: 0.2 });
      picks[id]!++;
      if (i >= rounds - 5000) lastPicks[id]!++;
      const s = stats.get(id)!;
      if (random() < rates[id]!) s.successes++;
      else s.failures++;
    }
    assert.ok(Math.abs(picks.control! / rounds - 0.2) < 0.015, `control share ${picks.control! / rounds}`);
    assert.ok(
      lastPicks.b! / 5000 > 0.7,
      `the better variant gets most traffic at the end: ${lastPicks.b! / 5000}`,
    );
    assert.ok(lastPicks.b! > 5 * lastPicks.a!);
    const best = probabilityBest(
      [...stats].map(([id, s]) => ({ id, ...s })),
      random,
      { control: 'control', draws: 2000 },
    );
    assert.ok(best.b! > 0.95, `P(b best) = ${best.b}`);
    assert.equal(best.control, undefined);
  });

  it('is deterministic for a seed', () => {
    const arms = [
      { id: 'a', successes: 3, failures: 10 },
      { id: 'b', successes: 4, failures: 9 },
    ];
    const run = () => {
      const random = seededRandom(5);
      return Array.from({ length: 50 }, () => chooseArm(arms, random)).join('');
    };
    assert.equal(run(), run());
  });

  it('refuses empty arms, bad counts and an unknown control', () => {
    const random = seededRandom(1);
    assert.throws(() => chooseArm([], random), BanditError);
    assert.throws(() => chooseArm([{ id: 'a', successes: -1, failures: 0 }], random), /successes of arm 'a'/);
    assert.throws(() => chooseArm([{ id: 'a', successes: Number.NaN, failures: 0 }], random), BanditError);
    assert.throws(
      () => chooseArm([{ id: 'a', successes: 0, failures: 0 }], random, { control: 'x', controlShare: 0.1 }),
      /control 'x' is not one of the arms/,
    );
    assert.throws(
      () => chooseArm([{ id: 'a', successes: 0, failures: 0 }], random, { controlShare: 1 }),
      BanditError,
    );
    assert.equal(chooseArm([{ id: 'c', successes: 0, failures: 0 }], random, { control: 'c' }), 'c');
  });
});
