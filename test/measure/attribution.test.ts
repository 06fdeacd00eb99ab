/**
 * Attribution models: hand-worked examples with the arithmetic in the comments, the invariants
 * on the ChannelAttribution example data, and the Markov removal effects cross-checked against
 * an independent simulation of the chain.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import {
  ATTRIBUTION_MODELS,
  type AttributionResult,
  attribute,
  type ChannelCredit,
} from '../../src/measure/attribution.ts';
import { markovAttribution } from '../../src/measure/markov-attribution.ts';
import { parsePathFile } from '../../src/measure/path-file.ts';
import { type PathRow, pathTable } from '../../src/measure/path-table.ts';

const DATA = resolve(import.meta.dirname, '../../../shared/data');

function near(actual: number | undefined, expected: number, tolerance = 1e-12, what = ''): void {
  assert.ok(
    actual !== undefined && Math.abs(actual - expected) <= tolerance,
    `${what} expected ${expected} ± ${tolerance}, got ${actual}`,
  );
}

function byChannel(result: AttributionResult): Map<string, ChannelCredit> {
  return new Map(result.channels.map((c) => [c.channel, c]));
}

function expectCredits(
  result: AttributionResult,
  expected: Record<string, [number, number]>,
  tolerance = 1e-12,
) {
  const got = byChannel(result);
  for (const [channel, [conversions, value]] of Object.entries(expected)) {
    near(got.get(channel)?.conversions, conversions, tolerance, `${result.model} ${channel} conversions`);
    near(got.get(channel)?.value, value, tolerance, `${result.model} ${channel} value`);
  }
}

const split = (path: string) => path.split(' > ');
const rows = (...r: [string, number, number, number][]): PathRow[] =>
  r.map(([path, conversions, value, nulls]) => ({ channels: split(path), conversions, value, nulls }));

describe('rule-based models on a hand-worked example', () => {
  // A > B > C: 2 conversions worth 30;  B: 1 conversion worth 5;  C > A: 3 customers, none converted.
  const paths = pathTable(rows(['A > B > C', 2, 30, 0], ['B', 1, 5, 0], ['C > A', 0, 0, 3]));

  it('first touch gives each conversion to the first channel', () => {
    expectCredits(attribute(paths, { model: 'first_touch' }), { A: [2, 30], B: [1, 5], C: [0, 0] });
  });

  it('last touch gives each conversion to the last channel', () => {
    expectCredits(attribute(paths, { model: 'last_touch' }), { A: [0, 0], B: [1, 5], C: [2, 30] });
  });

  it('linear splits each conversion equally over the touches', () => {
    // A > B > C: a third each: 2/3 conversion and 10 value. B alone: 1 and 5.
    expectCredits(attribute(paths, { model: 'linear' }), { A: [2 / 3, 10], B: [5 / 3, 15], C: [2 / 3, 10] });
  });

  it('position based gives 40% to the first and last touch and 20% to the middle', () => {
    // A > B > C: A 0.4 × 2 = 0.8 (value 12), B 0.2 × 2 = 0.4 (6) + 1 (5), C 0.8 (12).
    expectCredits(attribute(paths, { model: 'position_based' }), {
      A: [0.8, 12],
      B: [1.4, 11],
      C: [0.8, 12],
    });
    // Two touches: half each.
    const two = pathTable(rows(['X > Y', 1, 10, 0]));
    expectCredits(attribute(two, { model: 'position_based' }), { X: [0.5, 5], Y: [0.5, 5] });
  });

  it('time decay halves the weight per half-life before the conversion', () => {
    // Without times, by position with a half-life of 1 touch: weights 1/4, 1/2, 1, normalised
    // by 1.75: A 1/7, B 2/7, C 4/7 of 2 conversions (value 30).
    const r = attribute(paths, { model: 'time_decay' });
    expectCredits(r, { A: [2 / 7, 30 / 7], B: [4 / 7 + 1, 60 / 7 + 5], C: [8 / 7, 120 / 7] });
    assert.deepEqual(r.halfLife, { value: 1, unit: 'touches' });
    // A half-life of 2 touches: weights 2^-1, 2^-0.5, 1.
    const w = [0.5, Math.SQRT1_2, 1];
    const s = w[0]! + w[1]! + w[2]!;
    expectCredits(attribute(paths, { model: 'time_decay', halfLifeTouches: 2 }), {
      A: [(2 * w[0]!) / s, (30 * w[0]!) / s],
      C: [(2 * w[2]!) / s, (30 * w[2]!) / s],
    });
  });

  it('time decay uses the age in days when every touch has a time', () => {
    // Touches 14 and 0 days before the conversion, half-life 7 days: weights 1/4 and 1 → 20% / 80%.
    const timed = pathTable([{ channels: ['email', 'search'], conversions: 1, value: 50, ageDays: [14, 0] }]);
    const r = attribute(timed, { model: 'time_decay', halfLifeDays: 7 });
    expectCredits(r, { email: [0.2, 10], search: [0.8, 40] });
    assert.deepEqual(r.halfLife, { value: 7, unit: 'days' });
  });

  it('refuses a half-life that is not positive', () => {
    assert.throws(() => attribute(paths, { model: 'time_decay', halfLifeTouches: 0 }), /halfLifeTouches/);
  });
});

describe('Markov chain removal effect on hand-worked examples', () => {
  it('order 1 with non-converting paths', () => {
    // Paths: A > B (1 conversion worth 10, 1 null), B (1 conversion worth 30, 3 nulls),
    // A (2 nulls). 8 customers, 2 conversions.
    //
    // Transition counts: (start)→A 2+2 = 4, (start)→B 4; A→B 2, A→(null) 2;
    // B→(conversion) 1+1 = 2, B→(null) 1+3 = 4.
    // Probabilities: start→A ½, start→B ½; A→B ½, A→null ½; B→conv ⅓, B→null ⅔.
    // P(conversion) = ½·½·⅓ + ½·⅓ = 1/12 + 2/12 = ¼   (= 2 of 8 customers).
    // Without A: only start→B→conv: ½·⅓ = ⅙, RE(A) = 1 − (1/6)/(1/4) = ⅓.
    // Without B: no way to convert, RE(B) = 1.
    // Shares: ⅓ / (4/3) = ¼ and 1 / (4/3) = ¾ of 2 conversions (value 40): A 0.5 (10), B 1.5 (30).
    const r = attribute(pathTable(rows(['A > B', 1, 10, 1], ['B', 1, 30, 3], ['A', 0, 0, 2])), {
      model: 'markov',
    });
    near(r.conversionProbability, 0.25);
    expectCredits(r, { A: [0.5, 10], B: [1.5, 30] });
    near(byChannel(r).get('A')?.removalEffect, 1 / 3);
    near(byChannel(r).get('B')?.removalEffect, 1);
  });

  it('order 1 with a cycle, which needs the linear system rather than path counting', () => {
    // Paths: A > B > A (1 conversion), A (1 null).
    // Counts: start→A 2; A→B 1, A→conv 1, A→null 1; B→A 1.
    // x_A = ⅓ x_B + ⅓ and x_B = x_A, so x_A = ½ = P.
    // Without B: x_A = ⅓, RE(B) = 1 − (1/3)/(1/2) = ⅓. Without A: RE(A) = 1.
    // Shares ¾ and ¼ of 1 conversion.
    const r = attribute(pathTable(rows(['A > B > A', 1, 0, 0], ['A', 0, 0, 1])), { model: 'markov' });
    near(r.conversionProbability, 0.5);
    expectCredits(r, { A: [0.75, 0], B: [0.25, 0] });
    near(byChannel(r).get('B')?.removalEffect, 1 / 3);
  });

  it('reproduces the pychattr README example (ChannelAttribution method), exactly instead of by simulation', () => {
    // pychattr's README (a port of ChannelAttribution) runs paths A>B>A>B>B>A, A>B>B>A>A and
    // A>A, one conversion each, no nulls, and prints the transition matrix start→A 1.0, A→B 0.5,
    // A→conversion 0.5, B→A 1.0 and, from 10,000 simulated walks, A 1.991106, B 1.008894.
    // Exactly: P = 1; without B the walk A→B is lost: P = ½, RE(B) = ½; RE(A) = 1.
    // Shares ⅔ and ⅓ of 3 conversions: A 2, B 1.
    const r = attribute(
      pathTable(rows(['A > B > A > B > B > A', 1, 0, 0], ['A > B > B > A > A', 1, 0, 0], ['A > A', 1, 0, 0])),
      { model: 'markov' },
    );
    expectCredits(r, { A: [2, 0], B: [1, 0] });
    near(byChannel(r).get('A')?.conversions, 1.991106, 0.01, 'published simulation');
  });

  it('order 2: states are pairs of channels, and the answer differs from order 1', () => {
    // Paths: A > B > C (1 conversion), A > C (1 null), B > C (1 conversion, 1 null).
    // Order 2 states: AB, BC, AC (a path shorter than 2 would be one state on its own).
    // Counts: start→AB 1, start→AC 1, start→BC 2; AB→BC 1; BC→conv 1+1 = 2, BC→null 1;
    // AC→null 1. So start→AB ¼, AC ¼, BC ½; BC→conv ⅔.
    // P = ¼·⅔ + ½·⅔ = ½.
    // Without A (AB and AC gone): P = ½·⅔ = ⅓, RE(A) = ⅓. Without B (AB, BC gone) or C (BC, AC
    // gone): P = 0, RE = 1. Shares 1/7, 3/7, 3/7 of 2 conversions.
    const paths = pathTable(rows(['A > B > C', 1, 0, 0], ['A > C', 0, 0, 1], ['B > C', 1, 0, 1]));
    const r2 = attribute(paths, { model: 'markov', order: 2 });
    expectCredits(r2, { A: [2 / 7, 0], B: [6 / 7, 0], C: [6 / 7, 0] });
    near(byChannel(r2).get('A')?.removalEffect, 1 / 3);
    assert.equal(r2.order, 2);
    // Order 1 on the same paths: start→A ½, start→B ½; A→B ½, A→C ½; B→C 1; C→conv ½.
    // Without A: P = ½·½ = ¼, RE(A) = ½. Without B: P = ½·½·½ = ⅛, RE(B) = ¾. RE(C) = 1.
    const r1 = byChannel(attribute(paths, { model: 'markov' }));
    near(r1.get('A')?.removalEffect, 1 / 2);
    near(r1.get('B')?.removalEffect, 3 / 4);
    near(r1.get('C')?.removalEffect, 1);
  });

  it('ignores repeats of a state in a row, which only delay absorption', () => {
    const a = attribute(pathTable(rows(['A > A > B', 1, 5, 2], ['B > B', 0, 0, 1])), { model: 'markov' });
    const b = attribute(pathTable(rows(['A > B', 1, 5, 2], ['B', 0, 0, 1])), { model: 'markov' });
    assert.deepEqual(a.channels, b.channels);
  });

  it('gives nothing to anyone when nothing converted', () => {
    const r = attribute(pathTable(rows(['A > B', 0, 0, 3])), { model: 'markov' });
    assert.equal(r.conversionProbability, 0);
    for (const c of r.channels) assert.deepEqual([c.conversions, c.value, c.removalEffect], [0, 0, 0]);
  });

  it('refuses an order below 1', () => {
    assert.throws(() => attribute(pathTable(rows(['A', 1, 0, 0])), { model: 'markov', order: 0 }), /order/);
  });
});

describe('attribution of the ChannelAttribution example data', () => {
  const paths = parsePathFile(readFileSync(resolve(DATA, 'channelattribution_Data.csv'), 'utf8'), 'Data.csv');
  let totalConversions = 0;
  let totalValue = 0;
  for (let r = 0; r < paths.rows; r++) {
    totalConversions += paths.conversions[r]!;
    totalValue += paths.values[r]!;
  }

  it('reads 10,000 paths over 12 channels', () => {
    assert.equal(paths.rows, 10_000);
    assert.deepEqual([...paths.channels].sort(), [
      'alpha',
      'beta',
      'delta',
      'epsilon',
      'eta',
      'gamma',
      'iota',
      'kappa',
      'lambda',
      'mi',
      'theta',
      'zeta',
    ]);
  });

  const configurations = [
    ...ATTRIBUTION_MODELS.map((model) => ({ model })),
    { model: 'markov' as const, order: 2 },
    { model: 'markov' as const, order: 3 },
  ];
  for (const options of configurations) {
    const label = `${options.model}${'order' in options ? ` order ${options.order}` : ''}`;
    it(`${label}: credits are non-negative and add up to the totals`, () => {
      const r = attribute(paths, options);
      assert.equal(r.channels.length, 12);
      assert.equal(r.total.conversions, totalConversions);
      const conversions = r.channels.reduce((s, c) => s + c.conversions, 0);
      const value = r.channels.reduce((s, c) => s + c.value, 0);
      near(conversions, totalConversions, 1e-6, 'conversions');
      near(value, totalValue, 1e-6, 'value');
      for (const c of r.channels) {
        assert.ok(c.conversions >= 0 && c.value >= 0, `${c.channel} is non-negative`);
        if (options.model === 'markov') assert.ok(c.removalEffect! >= 0 && c.removalEffect! <= 1);
      }
      for (let i = 1; i < r.channels.length; i++)
        assert.ok(r.channels[i - 1]!.conversions >= r.channels[i]!.conversions, 'most credited first');
    });
  }

  it('first and last touch match the paths counted by hand here', () => {
    const first = new Map<string, number>();
    const last = new Map<string, number>();
    for (const line of readFileSync(resolve(DATA, 'channelattribution_Data.csv'), 'utf8')
      .split('\n')
      .slice(1)) {
      if (line.trim() === '') continue;
      const [path, conv] = line.split(';');
      const channels = path!.split(' > ');
      first.set(channels[0]!, (first.get(channels[0]!) ?? 0) + Number(conv));
      last.set(channels.at(-1)!, (last.get(channels.at(-1)!) ?? 0) + Number(conv));
    }
    for (const [model, counted] of [
      ['first_touch', first],
      ['last_touch', last],
    ] as const) {
      for (const c of attribute(paths, { model }).channels)
        near(c.conversions, counted.get(c.channel) ?? 0, 1e-9, `${model} ${c.channel}`);
    }
  });

  it('solves the chain the same way by elimination and by iteration (orders 1 to 3)', () => {
    for (const order of [1, 2, 3]) {
      const dense = markovAttribution(paths, { order, solver: 'dense' });
      const iterative = markovAttribution(paths, { order, solver: 'iterative' });
      near(iterative.conversionProbability, dense.conversionProbability, 1e-13, `order ${order} P`);
      for (let c = 0; c < paths.channels.length; c++)
        near(iterative.removalEffects[c], dense.removalEffects[c]!, 1e-13, `order ${order} RE`);
    }
  });

  it('matches a simulation of the chain, which is how ChannelAttribution estimates removal effects', () => {
    // Built here from the raw lines, independently of the model: order-1 transition counts
    // (repeats in a row dropped), then 200,000 simulated walks from (start). The removal effect
    // of a channel equals the share of converting walks that visit it, since removing the
    // channel loses exactly those walks. ChannelAttribution's markov_model reports that share.
    const out = new Map<string, Map<string, number>>();
    const add = (from: string, to: string, w: number) => {
      const m = out.get(from) ?? new Map<string, number>();
      m.set(to, (m.get(to) ?? 0) + w);
      out.set(from, m);
    };
    for (const line of readFileSync(resolve(DATA, 'channelattribution_Data.csv'), 'utf8')
      .split('\n')
      .slice(1)) {
      if (line.trim() === '') continue;
      const [path, conv, , nul] = line.split(';');
      const c = Number(conv);
      const n = Number(nul);
      let prev = '(start)';
      for (const ch of path!.split(' > ')) {
        if (ch !== prev) add(prev, ch, c + n);
        prev = ch;
      }
      if (c > 0) add(prev, '(conversion)', c);
      if (n > 0) add(prev, '(null)', n);
    }
    const cumulative = new Map(
      [...out].map(([from, m]) => {
        const total = [...m.values()].reduce((s, w) => s + w, 0);
        let acc = 0;
        const steps = [...m].map(([to, w]) => {
          acc += w;
          return [to, acc / total] as const;
        });
        return [from, steps];
      }),
    );
    let seed = 20_240_601;
    const random = () => {
      // mulberry32
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
    const walks = 200_000;
    let converted = 0;
    const visits = new Map<string, number>();
    for (let i = 0; i < walks; i++) {
      let state = '(start)';
      const seen = new Set<string>();
      while (state !== '(conversion)' && state !== '(null)') {
        const u = random();
        state = cumulative.get(state)!.find(([, c]) => u < c)?.[0] ?? '(null)';
        if (state !== '(conversion)' && state !== '(null)') seen.add(state);
      }
      if (state === '(conversion)') {
        converted++;
        for (const s of seen) visits.set(s, (visits.get(s) ?? 0) + 1);
      }
    }
    const model = byChannel(attribute(paths, { model: 'markov' }));
    near(converted / walks, attribute(paths, { model: 'markov' }).conversionProbability!, 0.004, 'P');
    for (const [channel, credit] of model) {
      // Standard error of a share p of ~45,000 converting walks is at most 0.0024.
      near((visits.get(channel) ?? 0) / converted, credit.removalEffect!, 0.01, channel);
    }
  });
});
