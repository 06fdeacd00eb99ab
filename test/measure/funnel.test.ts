/**
 * Funnels: greedy ordered matching inside the window from each start, the best attempt per
 * profile, medians of time to convert, property filters in the segment grammar, breakdowns, and
 * the same answers as a plain reference implementation on random logs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { EventTableBuilder } from '../../src/measure/event-table.ts';
import { checkFunnel, type FunnelDefinition, funnel, funnelPaths, median } from '../../src/measure/funnel.ts';

const H = 3_600_000;
const DAY = 24 * H;

type Ev = { p: string; name: string; t: number; props?: Record<string, unknown> };

function run(events: Ev[], body: unknown) {
  const checked = checkFunnel(body);
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  const b = new EventTableBuilder(funnelPaths(checked.value));
  for (const e of events)
    b.add(e.p, e.name, e.t, { type: 'track', event: e.name, properties: e.props ?? {} });
  return funnel(b.build(), checked.value);
}

const STEPS = [{ event: 'View' }, { event: 'Add' }, { event: 'Buy' }];

describe('funnel', () => {
  it('counts profiles per step, with conversion, drop-off and median time to convert', () => {
    const events: Ev[] = [
      // a: all three steps, 1 h and 3 h after the view.
      { p: 'a', name: 'View', t: 0 },
      { p: 'a', name: 'Add', t: H },
      { p: 'a', name: 'Buy', t: 3 * H },
      // b: view and add (2 h); the buy came before the add, so it does not count.
      { p: 'b', name: 'Buy', t: 10 * H },
      { p: 'b', name: 'View', t: 11 * H },
      { p: 'b', name: 'Add', t: 13 * H },
      // c: view only.
      { p: 'c', name: 'View', t: 0 },
      // d: no view at all: not in the funnel.
      { p: 'd', name: 'Add', t: 0 },
    ];
    const r = run(events, { steps: STEPS, window: '1d' });
    assert.equal(r.entered, 3);
    assert.equal(r.converted, 1);
    assert.equal(r.conversionRate, 1 / 3);
    assert.deepEqual(
      r.steps.map((s) => [s.event, s.count, s.dropOff]),
      [
        ['View', 3, 0],
        ['Add', 2, 1],
        ['Buy', 1, 1],
      ],
    );
    assert.equal(r.steps[1]!.stepConversionRate, 2 / 3);
    assert.equal(r.steps[1]!.medianTimeToConvertMs, 1.5 * H); // median of 1 h and 2 h
    assert.equal(r.steps[2]!.medianTimeToConvertMs, 3 * H);
    assert.equal(r.steps[2]!.medianTimeFromPreviousMs, 2 * H);
    assert.equal(r.steps[0]!.medianTimeToConvertMs, null);
  });

  it('counts a step only inside the window from step 1, and tries later starts', () => {
    const events: Ev[] = [
      { p: 'a', name: 'View', t: 0 },
      { p: 'a', name: 'Add', t: 2 * DAY }, // outside a 1-day window from t = 0
      { p: 'a', name: 'View', t: 2 * DAY + H },
      { p: 'a', name: 'Add', t: 2 * DAY + 2 * H },
      { p: 'a', name: 'Buy', t: 2 * DAY + 5 * H },
    ];
    const r = run(events, { steps: STEPS, window: '1d' });
    assert.equal(r.converted, 1);
    assert.equal(r.steps[2]!.medianTimeToConvertMs, 4 * H, 'timed from the start that converted');
    const narrow = run(events, { steps: STEPS, window: '3h' });
    assert.equal(narrow.steps[1]!.count, 1);
    assert.equal(narrow.converted, 0);
  });

  it('needs each step strictly after the previous one; one event never serves two steps', () => {
    const r = run(
      [
        { p: 'a', name: 'View', t: 0 },
        { p: 'a', name: 'View', t: 0 },
      ],
      { steps: [{ event: 'View' }, { event: 'View' }] },
    );
    assert.equal(r.steps[1]!.count, 0);
    const r2 = run(
      [
        { p: 'a', name: 'View', t: 0 },
        { p: 'a', name: 'View', t: 1 },
      ],
      { steps: [{ event: 'View' }, { event: 'View' }] },
    );
    assert.equal(r2.steps[1]!.count, 1);
  });

  it('applies property filters written as in segment definitions', () => {
    const events: Ev[] = [
      { p: 'a', name: 'View', t: 0, props: { category: 'Yoga' } },
      { p: 'a', name: 'Buy', t: H, props: { revenue: 80 } },
      { p: 'b', name: 'View', t: 0, props: { category: 'Yoga' } },
      { p: 'b', name: 'Buy', t: H, props: { revenue: '20' } },
      { p: 'c', name: 'View', t: 0, props: { category: 'Running' } },
      { p: 'c', name: 'Buy', t: H, props: { revenue: 500 } },
    ];
    const r = run(events, {
      steps: [
        { event: 'View', where: [{ property: 'category', op: 'in', value: ['Yoga', 'Home'] }] },
        { event: 'Buy', where: [{ property: 'properties.revenue', op: 'gt', value: 50 }] },
      ],
    });
    assert.equal(r.entered, 2);
    assert.equal(r.converted, 1);
  });

  it('breaks down by a property of the step-1 event, missing values as null', () => {
    const events: Ev[] = [
      { p: 'a', name: 'View', t: 0, props: { category: 'Yoga' } },
      { p: 'a', name: 'Add', t: H },
      { p: 'b', name: 'View', t: 0, props: { category: 'Yoga' } },
      { p: 'c', name: 'View', t: 0, props: { category: 'Home' } },
      { p: 'c', name: 'Add', t: H },
      { p: 'd', name: 'View', t: 0 },
      { p: 'e', name: 'View', t: 0, props: { category: null } },
    ];
    const r = run(events, { steps: STEPS.slice(0, 2), breakdown: 'category' });
    assert.ok(r.breakdown);
    assert.deepEqual(
      r.breakdown.groups.map((g) => [g.value, g.steps[0]!.count, g.steps[1]!.count]),
      [
        [null, 2, 0],
        ['Yoga', 2, 1],
        ['Home', 1, 1],
      ],
    );
    const limited = run(events, { steps: STEPS.slice(0, 2), breakdown: 'category', breakdownLimit: 1 });
    assert.equal(limited.breakdown!.groups.length, 1);
    assert.equal(limited.breakdown!.omittedGroups, 2);
  });

  it('counts only starts between since and until', () => {
    const events: Ev[] = [
      { p: 'a', name: 'View', t: Date.parse('2026-01-01') },
      { p: 'b', name: 'View', t: Date.parse('2026-02-01') },
    ];
    const r = run(events, { steps: STEPS, since: '2026-01-15', until: '2026-03-01T00:00:00Z' });
    assert.equal(r.entered, 1);
  });

  it('gives nulls, not NaN, when nobody entered', () => {
    const r = run([{ p: 'a', name: 'Add', t: 0 }], { steps: STEPS });
    assert.equal(r.entered, 0);
    assert.equal(r.conversionRate, null);
    for (const s of r.steps) {
      assert.equal(s.conversionRate, null);
      assert.equal(s.medianTimeToConvertMs, null);
    }
    assert.ok(!JSON.stringify(r).includes('NaN'));
  });

  it('names every problem of a bad request by its path', () => {
    const cases: [unknown, RegExp][] = [
      [{ steps: [] }, /^steps: must be an array of at least two steps/],
      [{ steps: [{ event: 'View' }] }, /^steps: /],
      [{ steps: [{ event: 'View' }, { event: '' }] }, /^steps\[1\]\.event: /],
      [
        { steps: [{ event: 'A' }, { event: 'B', where: [{ property: 'x', op: 'gt', value: 'y' }] }] },
        /steps\[1\]\.where\[0\]\.value/,
      ],
      [{ steps: [{ event: 'A' }, { event: 'B' }], window: '3 days' }, /^window: must be a duration/],
      [{ steps: [{ event: 'A' }, { event: 'B' }], window: '0d' }, /^window: /],
      [{ steps: [{ event: 'A' }, { event: 'B' }], since: 'yesterday' }, /^since: /],
      [{ steps: [{ event: 'A' }, { event: 'B' }], colour: 'red' }, /^colour: is not an allowed key/],
      ['steps', /must be a JSON object/],
    ];
    for (const [body, pattern] of cases) {
      const c = checkFunnel(body);
      assert.equal(c.ok, false, JSON.stringify(body));
      if (!c.ok)
        assert.match(
          c.errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('\n'),
          pattern,
        );
    }
  });
});

/** The definition, written as plainly as possible: every start, the earliest next step each time. */
function reference(events: Ev[], def: FunnelDefinition) {
  const byProfile = new Map<string, Ev[]>();
  for (const e of events) {
    const list = byProfile.get(e.p) ?? [];
    list.push(e);
    byProfile.set(e.p, list);
  }
  const K = def.steps.length;
  const counts = new Array<number>(K).fill(0);
  const times: number[][] = Array.from({ length: K }, () => []);
  for (const list of byProfile.values()) {
    list.sort((a, b) => a.t - b.t);
    let best: number[] = [];
    for (const s of list) {
      if (s.name !== def.steps[0]!.event) continue;
      const attempt = [s.t];
      for (let k = 1; k < K; k++) {
        const prev = attempt[k - 1]!;
        const next = list.find((e) => e.name === def.steps[k]!.event && e.t > prev);
        if (!next || next.t > s.t + def.windowMs) break;
        attempt.push(next.t);
      }
      if (attempt.length > best.length) best = attempt;
    }
    for (let k = 0; k < best.length; k++) {
      counts[k]!++;
      times[k]!.push(best[k]! - best[0]!);
    }
  }
  const med = (v: number[]) => {
    if (v.length === 0) return null;
    const s = [...v].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  return { counts, medians: times.map((t, k) => (k === 0 ? null : med(t))) };
}

describe('median by selection', () => {
  it('equals the middle of the sorted values, the mean of the two middle ones for an even count', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 200 }), (xs) => {
        const sorted = [...xs].sort((a, b) => a - b);
        const m = sorted.length >> 1;
        const expected = sorted.length % 2 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2;
        assert.equal(median(Float64Array.from(xs), xs.length), expected);
      }),
      { numRuns: 500 },
    );
    assert.equal(median(new Float64Array(0), 0), null);
  });
});

describe('funnel against the reference on random logs', () => {
  it('gives the same counts and medians', () => {
    const names = ['A', 'B', 'C', 'D'];
    const event = fc.record({
      p: fc.constantFrom('p1', 'p2', 'p3', 'p4', 'p5'),
      name: fc.constantFrom(...names),
      t: fc.integer({ min: 0, max: 50 }),
    });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), fc.integer({ min: 1, max: 30 }), (events, w) => {
        const body = {
          steps: [{ event: 'A' }, { event: 'B' }, { event: 'A' }, { event: 'C' }],
          window: `${w}ms`,
        };
        const checked = checkFunnel(body);
        assert.ok(checked.ok);
        const r = run(events, body);
        const ref = reference(events, checked.value);
        assert.deepEqual(
          r.steps.map((s) => s.count),
          ref.counts,
        );
        assert.deepEqual(
          r.steps.map((s) => s.medianTimeToConvertMs),
          ref.medians,
        );
      }),
      { numRuns: 300 },
    );
  });
});
