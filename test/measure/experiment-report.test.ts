/**
 * The experiment report: who counts in which arm, which conversions count, the statistics per
 * arm, nulls instead of NaN for what cannot be estimated, and a real randomised experiment
 * (Hillstrom's e-mail test) checked against counts made independently here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import {
  type Assignment,
  assignmentsFromEvents,
  buildExperimentReport,
  type Conversion,
  conversionFromEvent,
  type EventLike,
  numericProperty,
  UnknownVariationError,
} from '../../src/measure/experiment-report.ts';
import { fisherExactTest, newcombeInterval, wilsonInterval } from '../../src/measure/stats.ts';

const DATA = resolve(import.meta.dirname, '../../../shared/data');
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

const assign = (profileId: string, variation: string, at = T0, experimentId = 'exp'): Assignment => ({
  profileId,
  experimentId,
  variation,
  timestamp: at,
});
const convert = (profileId: string, at: number, value: number | null = null): Conversion => ({
  profileId,
  timestamp: at,
  value,
});

/** Every number in the value is finite (JSON would turn NaN and Infinity into null silently). */
function allFinite(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(allFinite);
  if (value !== null && typeof value === 'object') return Object.values(value).every(allFinite);
  return true;
}

describe('experiment report: who and what counts', () => {
  const assignments = [
    assign('c1', 'control'),
    assign('c2', 'control'),
    assign('c3', 'control'),
    assign('c4', 'control'),
    assign('t1', 'treatment'),
    assign('t2', 'treatment'),
    assign('t3', 'treatment'),
    assign('t4', 'treatment'),
    // t1 saw the control later: it stays in the arm of its first assignment.
    assign('t1', 'control', T0 + DAY),
    // Someone from another experiment.
    assign('x1', 'treatment', T0, 'other'),
  ];
  const conversions = [
    convert('c1', T0 - 1, 100), // before the assignment: not counted
    convert('c2', T0, 100), // at the very moment of assignment: not after it, not counted
    convert('c3', T0 + 14 * DAY, 7), // the last instant of the 14-day window: counted
    convert('c4', T0 + 14 * DAY + 1, 100), // one millisecond too late: not counted
    convert('t1', T0 + DAY, 10), // counted, twice: one converted profile, value 10 + 5
    convert('t1', T0 + 2 * DAY, 5),
    convert('t2', T0 + 3 * DAY, null), // converts without a value
    convert('x1', T0 + DAY, 1000), // not in this experiment
    convert('nobody', T0 + DAY, 1000),
  ];
  const report = buildExperimentReport(assignments, conversions, { experimentId: 'exp' });

  it('puts each profile in the arm of its first assignment and counts crossovers', () => {
    assert.equal(report.control, 'control');
    assert.deepEqual(
      report.arms.map((a) => [a.variation, a.n]),
      [
        ['control', 4],
        ['treatment', 4],
      ],
    );
    assert.equal(report.crossovers, 1);
  });

  it('counts a conversion strictly after the first assignment and within the window', () => {
    const [control, treatment] = report.arms;
    assert.equal(control?.conversions, 1);
    assert.equal(control?.value, 7);
    assert.equal(treatment?.conversions, 2);
    assert.equal(treatment?.value, 15);
    assert.equal(treatment?.valuePerProfile, 15 / 4);
  });

  it('widens the window on request', () => {
    const wide = buildExperimentReport(assignments, conversions, { experimentId: 'exp', windowDays: 15 });
    assert.equal(wide.arms[0]?.conversions, 2);
    assert.equal(wide.windowDays, 15);
  });

  it('reports rate, Wilson interval and lift with Newcombe interval and the right test', () => {
    const [control, treatment] = report.arms;
    assert.equal(control?.lift, null);
    assert.equal(treatment?.conversionRate, 0.5);
    assert.deepEqual(treatment?.conversionRateCi, wilsonInterval(2, 4));
    assert.equal(treatment?.lift?.absolute, 0.25);
    assert.equal(treatment?.lift?.relative, 1);
    assert.deepEqual(treatment?.lift?.ci, newcombeInterval(2, 4, 1, 4)?.ci);
    // Expected counts are far below 5: Fisher's exact test.
    assert.equal(treatment?.lift?.test, 'fisher');
    assert.equal(treatment?.lift?.pValue, fisherExactTest(2, 2, 1, 3));
  });

  it('has the contract shape', () => {
    const json = JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
    assert.equal(json.experiment, 'exp');
    for (const arm of json.arms as Record<string, unknown>[]) {
      for (const key of [
        'variation',
        'n',
        'conversions',
        'conversionRate',
        'conversionRateCi',
        'valuePerProfile',
        'lift',
      ])
        assert.ok(key in arm, `arm has ${key}`);
    }
    const lift = (json.arms as { lift: Record<string, unknown> }[])[1]!.lift;
    for (const key of ['absolute', 'relative', 'ci', 'pValue']) assert.ok(key in lift, `lift has ${key}`);
  });

  it('takes the control by id or name, and refuses an unknown one', () => {
    const named = [
      { ...assign('a', 'v1'), variationName: 'Old page' },
      { ...assign('b', 'v2'), variationName: 'New page' },
    ];
    const r = buildExperimentReport(named, [], { experimentId: 'exp', control: 'New page' });
    assert.equal(r.control, 'v2');
    assert.equal(r.arms[0]?.variationName, 'New page');
    assert.throws(
      () => buildExperimentReport(named, [], { experimentId: 'exp', control: 'v9' }),
      (err: unknown) => err instanceof UnknownVariationError && /'v1', 'v2'/.test(err.message),
    );
  });
});

describe('experiment report: nothing to estimate gives null, never NaN', () => {
  it('keeps lift fields null when the control never converted', () => {
    const r = buildExperimentReport(
      [assign('c', 'control'), assign('t', 'treatment')],
      [convert('t', T0 + DAY, 3)],
      { experimentId: 'exp' },
    );
    const lift = r.arms[1]!.lift!;
    assert.equal(lift.absolute, 1);
    assert.equal(lift.relative, null, 'relative lift over a zero rate is undefined');
    assert.equal(lift.relativeCi, null);
    assert.equal(r.arms[1]!.valueLift?.relative, null);
    assert.ok(allFinite(r));
  });

  it('reports a single arm without lift or sample-ratio check, and an empty experiment as no arms', () => {
    const one = buildExperimentReport([assign('a', 'only')], [], { experimentId: 'exp' });
    assert.equal(one.arms.length, 1);
    assert.equal(one.srm, null);
    assert.equal(one.arms[0]?.conversionRate, 0);
    assert.equal(one.arms[0]?.valuePerProfileCi, null, 'one profile has no spread');
    const none = buildExperimentReport([], [], { experimentId: 'exp' });
    assert.deepEqual(none.arms, []);
    assert.equal(none.control, null);
    assert.ok(allFinite(none));
  });

  it('refuses a window that is not a positive number', () => {
    for (const windowDays of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      assert.throws(() => buildExperimentReport([], [], { experimentId: 'exp', windowDays }), /windowDays/);
  });
});

describe('experiment report: sample-ratio mismatch', () => {
  const many = (prefix: string, variation: string, n: number) =>
    Array.from({ length: n }, (_, i) => assign(`${prefix}${i}`, variation));

  it('warns when a planned 50/50 split came out 1,000 / 800', () => {
    // X² = (100² + 100²) / 900 = 22.2, p = 2.4e-6 < 0.001.
    const r = buildExperimentReport([...many('a', 'A', 1000), ...many('b', 'B', 800)], [], {
      experimentId: 'exp',
    });
    assert.ok(Math.abs(r.srm!.chiSquare - 20_000 / 900) < 1e-9);
    assert.equal(r.srm?.warning, true);
  });

  it('stays quiet when the split matches the planned shares', () => {
    const r = buildExperimentReport([...many('a', 'A', 900), ...many('b', 'B', 100)], [], {
      experimentId: 'exp',
      expectedShares: { A: 0.9, B: 0.1 },
    });
    assert.equal(r.srm?.warning, false);
    assert.deepEqual(r.srm?.expectedShares, [0.9, 0.1]);
  });
});

describe('assignments and conversions from Segment events', () => {
  const ev = (profileId: string, name: string, properties: Record<string, unknown>, t = T0): EventLike => ({
    profileId,
    name,
    timestamp: t,
    body: { type: 'track', event: name, properties },
  });

  it('reads Experiment Viewed events of the experiment, by id or else by name', () => {
    const events = [
      ev('p1', 'Experiment Viewed', {
        experiment_id: 'exp',
        experiment_name: 'Checkout',
        variation_id: 'v1',
        variation_name: 'Blue',
      }),
      ev('p2', 'Experiment Viewed', { experiment_name: 'exp', variation_name: 'Green' }),
      ev('p3', 'Experiment Viewed', { experiment_id: 42, variation_id: 1 }),
      ev('p4', 'Experiment Viewed', { experiment_id: 'exp' }), // no variation: not an assignment
      ev('p5', 'Experiment Viewed', { experiment_id: 'other', variation_id: 'v1' }),
      ev('p6', 'Order Completed', { experiment_id: 'exp', variation_id: 'v1' }),
    ];
    assert.deepEqual(assignmentsFromEvents(events, 'exp'), [
      { profileId: 'p1', experimentId: 'exp', variation: 'v1', variationName: 'Blue', timestamp: T0 },
      { profileId: 'p2', experimentId: 'exp', variation: 'Green', variationName: 'Green', timestamp: T0 },
    ]);
    assert.equal(assignmentsFromEvents(events, '42')[0]?.variation, '1');
  });

  it('reads the value property by dotted path, numbers and numeric strings only', () => {
    const body = { properties: { revenue: 42.5, order: { total: '17' }, note: 'n/a', bad: Number.NaN } };
    assert.equal(numericProperty(body, 'revenue'), 42.5);
    assert.equal(numericProperty(body, 'properties.revenue'), 42.5);
    assert.equal(numericProperty(body, 'order.total'), 17);
    assert.equal(numericProperty(body, 'note'), null);
    assert.equal(numericProperty(body, 'bad'), null);
    assert.equal(numericProperty(body, 'missing.path'), null);
    assert.equal(numericProperty(body, 'constructor'), null);
    assert.deepEqual(conversionFromEvent(ev('p', 'Order Completed', { revenue: 3 }), 'revenue'), {
      profileId: 'p',
      timestamp: T0,
      value: 3,
    });
  });
});

describe('experiment report on the Hillstrom e-mail experiment', () => {
  // MineThatData E-Mail Analytics challenge (Hillstrom 2008): 64,000 customers randomly split
  // into Mens E-Mail, Womens E-Mail and No E-Mail; two-week outcomes. Published conversion
  // rates: about 1.25% (Mens), 0.88% (Womens), 0.57% (No E-Mail).
  const rows = parse(readFileSync(resolve(DATA, 'hillstrom.csv')), { columns: true, bom: true }) as Record<
    string,
    string
  >[];

  // Each customer is assigned at T0 and, if they converted, converts a day later with their spend.
  const assignments = rows.map((r, i) => assign(`c${i}`, r.segment!));
  const conversions = rows.flatMap((r, i) =>
    r.conversion === '1' ? [convert(`c${i}`, T0 + DAY, Number(r.spend))] : [],
  );
  const report = buildExperimentReport(assignments, conversions, {
    experimentId: 'exp',
    control: 'No E-Mail',
  });

  // Counted here straight from the rows, independently of the report.
  const raw = new Map<string, { n: number; x: number; spend: number }>();
  for (const r of rows) {
    const t = raw.get(r.segment!) ?? { n: 0, x: 0, spend: 0 };
    t.n++;
    if (r.conversion === '1') t.x++;
    t.spend += Number(r.spend);
    raw.set(r.segment!, t);
  }

  it('has the 64,000 customers in the three arms, control first', () => {
    assert.equal(rows.length, 64_000);
    assert.deepEqual(
      report.arms.map((a) => a.variation),
      ['No E-Mail', 'Mens E-Mail', 'Womens E-Mail'],
    );
    assert.equal(
      report.arms.reduce((s, a) => s + a.n, 0),
      64_000,
    );
  });

  it('matches the raw counts and the published conversion rates', () => {
    const published: Record<string, number> = {
      'Mens E-Mail': 1.25,
      'Womens E-Mail': 0.88,
      'No E-Mail': 0.57,
    };
    for (const arm of report.arms) {
      const t = raw.get(arm.variation)!;
      assert.equal(arm.n, t.n);
      assert.equal(arm.conversions, t.x);
      assert.equal(arm.conversionRate, t.x / t.n);
      assert.ok(Math.abs(arm.valuePerProfile! - t.spend / t.n) < 1e-9);
      assert.equal(Number((100 * arm.conversionRate!).toFixed(2)), published[arm.variation], arm.variation);
    }
  });

  it('finds both e-mails lift conversion and spend, with a balanced split', () => {
    for (const arm of report.arms.slice(1)) {
      assert.ok(arm.lift!.ci![0] > 0, `${arm.variation}: the whole interval is above zero`);
      assert.ok(arm.lift!.pValue! < 0.001);
      assert.equal(arm.lift!.test, 'z');
      assert.ok(arm.valueLift!.ci![0] > 0, `${arm.variation}: spend per customer rises`);
    }
    // 21,306 / 21,307 / 21,387 of 64,000 is a fair three-way split.
    assert.equal(report.srm?.warning, false);
    assert.ok(allFinite(report));
  });
});
