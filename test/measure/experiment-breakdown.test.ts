/**
 * Breakdowns of the experiment report and its warnings: groups by an assignment property split
 * the population, groups by a conversion property split the outcome, an arm empty in a group is
 * reported with nulls (never NaN), and a sample-ratio mismatch is spelled out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildExperimentBreakdown, parseBreakdown } from '../../src/measure/experiment-breakdown.ts';
import {
  type Assignment,
  buildExperimentReport,
  type Conversion,
} from '../../src/measure/experiment-report.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 4, 1);

const assign = (profileId: string, variation: string, channel?: string): Assignment => ({
  profileId,
  experimentId: 'exp',
  variation,
  timestamp: T0,
  body: { properties: channel === undefined ? {} : { channel } },
});
const convert = (profileId: string, category: string, value = 10): Conversion => ({
  profileId,
  timestamp: T0 + DAY,
  value,
  body: { properties: { category } },
});

function allFinite(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(allFinite);
  if (value !== null && typeof value === 'object') return Object.values(value).every(allFinite);
  return true;
}

describe('experiment report breakdown', () => {
  const assignments = [
    ...Array.from({ length: 20 }, (_, i) => assign(`c${i}`, 'control', i < 10 ? 'email' : 'push')),
    ...Array.from({ length: 20 }, (_, i) => assign(`t${i}`, 'treatment', i < 10 ? 'email' : 'push')),
    // Only treatment profiles came by SMS: the control arm is empty there.
    assign('s1', 'treatment', 'sms'),
    assign('s2', 'treatment', 'sms'),
    assign('n1', 'control'),
  ];
  const conversions = [
    ...Array.from({ length: 2 }, (_, i) => convert(`c${i}`, 'Yoga')),
    ...Array.from({ length: 6 }, (_, i) => convert(`t${i}`, i < 4 ? 'Yoga' : 'Home')),
    convert('t15', 'Home'),
    convert('s1', 'Yoga'),
  ];

  it('splits the population by a property of the first assignment', () => {
    const b = buildExperimentBreakdown(
      assignments,
      conversions,
      { experimentId: 'exp' },
      parseBreakdown('channel'),
    );
    assert.equal(b.source, 'assignment');
    const byValue = new Map(b.groups.map((g) => [g.value, g]));
    assert.deepEqual([...byValue.keys()], ['email', 'push', 'sms', null]);
    const email = byValue.get('email')!;
    assert.deepEqual(
      email.arms.map((a) => [a.variation, a.n, a.conversions]),
      [
        ['control', 10, 2],
        ['treatment', 10, 6],
      ],
    );
    assert.ok(email.arms[1]!.lift !== null && Math.abs(email.arms[1]!.lift.absolute! - 0.4) < 1e-12);
    assert.equal(
      b.groups.reduce((s, g) => s + g.size, 0),
      43,
    );
  });

  it('reports an arm with no profile in a group as n = 0 with null statistics', () => {
    const b = buildExperimentBreakdown(
      assignments,
      conversions,
      { experimentId: 'exp' },
      parseBreakdown('channel'),
    );
    const sms = b.groups.find((g) => g.value === 'sms')!;
    const control = sms.arms[0]!;
    assert.equal(control.variation, 'control');
    assert.equal(control.n, 0);
    assert.equal(control.conversionRate, null);
    assert.equal(control.conversionRateCi, null);
    const treatment = sms.arms[1]!;
    assert.equal(treatment.lift?.absolute, null);
    assert.equal(treatment.lift?.pValue, null);
    assert.ok(allFinite(b));
    assert.ok(!JSON.stringify(b).includes('NaN'));
  });

  it('splits the outcome by a property of the conversion event, keeping whole arms', () => {
    const b = buildExperimentBreakdown(
      assignments,
      conversions,
      { experimentId: 'exp' },
      parseBreakdown('conversion.category'),
    );
    assert.equal(b.source, 'conversion');
    assert.equal(b.property, 'category');
    for (const g of b.groups)
      assert.deepEqual(
        g.arms.map((a) => a.n),
        [21, 22],
      );
    const yoga = b.groups.find((g) => g.value === 'Yoga')!;
    assert.deepEqual(
      yoga.arms.map((a) => a.conversions),
      [2, 5],
    );
    const home = b.groups.find((g) => g.value === 'Home')!;
    assert.deepEqual(
      home.arms.map((a) => [a.conversions, a.value]),
      [
        [0, 0],
        [3, 30],
      ],
    );
  });

  it('keeps the largest groups and counts the others', () => {
    const b = buildExperimentBreakdown(
      assignments,
      conversions,
      { experimentId: 'exp' },
      { property: 'channel', source: 'assignment', limit: 2 },
    );
    assert.deepEqual(
      b.groups.map((g) => g.value),
      ['email', 'push'],
    );
    assert.equal(b.omittedGroups, 2);
  });
});

describe('report warnings', () => {
  it('spells out a sample-ratio mismatch', () => {
    const skewed = [
      ...Array.from({ length: 600 }, (_, i) => assign(`c${i}`, 'control')),
      ...Array.from({ length: 400 }, (_, i) => assign(`t${i}`, 'treatment')),
    ];
    const r = buildExperimentReport(skewed, [], { experimentId: 'exp' });
    assert.equal(r.srm?.warning, true);
    assert.equal(r.warnings.length, 1);
    assert.match(
      r.warnings[0]!,
      /^sample ratio mismatch: the arms hold 600 \(control\), 400 \(treatment\) profiles/,
    );
    const fine = buildExperimentReport(skewed, [], {
      experimentId: 'exp',
      expectedShares: { control: 60, treatment: 40 },
    });
    assert.deepEqual(fine.warnings, []);
  });
});
