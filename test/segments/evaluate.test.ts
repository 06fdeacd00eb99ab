/**
 * The evaluator on hand-written cases: window edges to the millisecond, sequences, "did not",
 * value operators on missing and mixed-type values, and the computed aggregates.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  AGGREGATES,
  type ComputedTrait,
  type Condition,
  checkComputedTrait,
  checkSegment,
} from '../../src/segments/definition.ts';
import {
  computeValue,
  evaluate,
  evaluateTimed,
  type LoggedEvent,
  lastChangeAt,
  membershipFromScratch,
  nextChange,
} from '../../src/segments/evaluate.ts';
import { ProfileFacts } from '../../src/segments/facts.ts';
import { Registry } from '../../src/segments/registry.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T = Date.parse('2026-06-01T00:00:00.000Z');

function registry(segments: Record<string, unknown>, computed: Record<string, unknown> = {}): Registry {
  const s = new Map<string, Condition>();
  for (const [k, v] of Object.entries(segments)) {
    const c = checkSegment(v);
    assert.ok(c.ok, JSON.stringify(c));
    s.set(k, c.value);
  }
  const c = new Map<string, ComputedTrait>();
  for (const [k, v] of Object.entries(computed)) {
    const x = checkComputedTrait(v);
    assert.ok(x.ok, JSON.stringify(x));
    c.set(k, x.value);
  }
  const r = Registry.build(s, c);
  assert.ok(r instanceof Registry, JSON.stringify(r));
  return r;
}

let n = 0;
const ev = (name: string, ts: number, properties: Record<string, unknown> = {}): LoggedEvent => ({
  name,
  timestamp: ts,
  messageId: `m${n++}`,
  body: { type: 'track', event: name, properties, context: { campaign: { source: 'news' } } },
});

/** A profile's ratings, one a millisecond, and its `mode` and `kinds` (distinct count) of them. */
function ratings() {
  const reg = registry(
    {},
    {
      mode: { event: 'Rated', aggregate: 'most_frequent', property: 'v' },
      kinds: { event: 'Rated', aggregate: 'distinct_count', property: 'v' },
    },
  );
  const facts = new ProfileFacts();
  const view = { traits: {}, facts, isMember: () => false };
  return {
    add: (v: unknown) => facts.insert('Rated', T - DAY + facts.length, facts.length, [v]),
    value: (key: 'mode' | 'kinds') => computeValue(reg.computed.get(key)!, view, T),
  };
}

describe('segment evaluation', () => {
  test('a window counts an event while it is younger than the window, to the millisecond', () => {
    const reg = registry({ s: { event: 'Order Completed', within: '30d' } });
    const events = [ev('Order Completed', T)];
    assert.deepEqual(membershipFromScratch(reg, {}, events, T + 30 * DAY - 1), ['s']);
    assert.deepEqual(membershipFromScratch(reg, {}, events, T + 30 * DAY), []);
    const seg = reg.segmentByKey.get('s')!;
    const view = { traits: {}, facts: null, isMember: () => false };
    assert.equal(nextChange(reg, seg.condition, view, T), null, 'no events, nothing to wait for');
  });

  test('"did not" holds for people with no such event, and again once the window has passed', () => {
    const reg = registry({
      lapsed: { event: 'Order Completed', count: { op: 'eq', value: 0 }, within: '7d' },
    });
    assert.deepEqual(membershipFromScratch(reg, {}, [], T), ['lapsed']);
    const events = [ev('Order Completed', T)];
    assert.deepEqual(membershipFromScratch(reg, {}, events, T + DAY), []);
    assert.deepEqual(membershipFromScratch(reg, {}, events, T + 7 * DAY), ['lapsed']);
  });

  test('counts and property filters, including dotted paths into the message', () => {
    const reg = registry({
      twice: {
        event: 'Order Completed',
        where: [
          { property: 'revenue', op: 'gt', value: 50 },
          { property: 'context.campaign.source', op: 'eq', value: 'news' },
        ],
        count: { op: 'gte', value: 2 },
      },
    });
    const events = [
      ev('Order Completed', T, { revenue: 80 }),
      ev('Order Completed', T + 1, { revenue: '60' }),
    ];
    assert.deepEqual(
      membershipFromScratch(reg, {}, events, T + 2),
      ['twice'],
      'a numeric string compares as a number',
    );
    assert.deepEqual(membershipFromScratch(reg, {}, events.slice(0, 1), T + 2), []);
  });

  test('a sequence needs its steps in order, the whole of it inside the window', () => {
    const reg = registry({
      s: { sequence: [{ event: 'Product Viewed' }, { event: 'Order Completed' }], within: '7d' },
    });
    const inOrder = [ev('Product Viewed', T), ev('Order Completed', T + DAY)];
    const reversed = [ev('Order Completed', T), ev('Product Viewed', T + DAY)];
    assert.deepEqual(membershipFromScratch(reg, {}, inOrder, T + 2 * DAY), ['s']);
    assert.deepEqual(membershipFromScratch(reg, {}, reversed, T + 2 * DAY), []);
    assert.deepEqual(
      membershipFromScratch(reg, {}, inOrder, T + 7 * DAY),
      [],
      'the first step left the window',
    );
    // A later view restarts the sequence: it holds until 7 days after that view.
    const again = [...inOrder, ev('Product Viewed', T + 5 * DAY), ev('Order Completed', T + 6 * DAY)];
    assert.deepEqual(membershipFromScratch(reg, {}, again, T + 11 * DAY), ['s']);
    assert.deepEqual(membershipFromScratch(reg, {}, again, T + 12 * DAY), []);
  });

  test('value operators: missing values, lists, strings and dates', () => {
    const reg = registry({
      notPro: { trait: 'plan', op: 'neq', value: 'pro' },
      notIn: { trait: 'plan', op: 'not_in', value: ['pro', 'team'] },
      gmail: { trait: 'email', op: 'contains', value: '@gmail.' },
      tagged: { trait: 'tags', op: 'contains', value: 'runner' },
      signedUpBefore: { trait: 'signedUpAt', op: 'before', value: '2026-01-01' },
      activeRecently: { trait: 'lastSeen', op: 'within_last', value: '14d' },
      noPhone: { trait: 'phone', op: 'not_exists' },
    });
    assert.deepEqual(membershipFromScratch(reg, {}, [], T), ['noPhone', 'notIn', 'notPro']);
    const traits = {
      plan: 'pro',
      email: 'a@gmail.com',
      tags: ['runner', 'yoga'],
      signedUpAt: '2025-12-31T23:00:00Z',
      lastSeen: new Date(T - 13 * DAY).toISOString(),
      phone: null,
    };
    assert.deepEqual(membershipFromScratch(reg, traits, [], T), [
      'activeRecently',
      'gmail',
      'noPhone',
      'signedUpBefore',
      'tagged',
    ]);
    assert.ok(!membershipFromScratch(reg, traits, [], T + DAY).includes('activeRecently'));
  });

  test('computed traits: sums, extremes, mode, days since, purchase interval and next purchase', () => {
    const reg = registry(
      {
        due: { computed: 'next', op: 'before', value: '2026-06-20T00:00:00Z' },
        big: { computed: 'ltv', op: 'gte', value: 300 },
        quiet: { computed: 'since', op: 'gte', value: 3 },
      },
      {
        ltv: { event: 'Order Completed', aggregate: 'sum', property: 'revenue' },
        next: { event: 'Order Completed', aggregate: 'next_purchase' },
        since: { event: 'Order Completed', aggregate: 'days_since_last' },
      },
    );
    const orders = [
      ev('Order Completed', T - 40 * DAY, { revenue: 100 }),
      ev('Order Completed', T - 20 * DAY, { revenue: 150 }),
      ev('Order Completed', T - 2 * DAY, { revenue: 60 }),
    ];
    // Interval (38 days / 2) = 19 days; next = T − 2d + 19d = June 18.
    assert.deepEqual(membershipFromScratch(reg, {}, orders, T), ['big', 'due']);
    assert.deepEqual(membershipFromScratch(reg, {}, orders, T + DAY), ['big', 'due', 'quiet']);
  });

  test('mode and distinct count tell values apart as their JSON texts do; ties go to the first text', () => {
    const { add, value } = ratings();
    // Two each of the string "1", the number 1, an object and a list; JSON texts "1" < 1 < [1] < {…}.
    for (const v of [{ a: 1 }, 1, [1], '1', 1, [1], { a: 1 }, '1', null]) add(v);
    assert.equal(value('mode'), '1');
    assert.equal(value('kinds'), 4);
    add({ a: 1 });
    assert.deepEqual(value('mode'), { a: 1 });
    add(true);
    add('true');
    add(0);
    add(-0);
    assert.equal(value('kinds'), 7, '0 and −0 are one value, as in JSON');
  });

  test('mode and distinct count past 32 distinct values (the short list gives way to a map)', () => {
    const { add, value } = ratings();
    for (let i = 0; i < 40; i++) add(`v${i}`);
    assert.equal(value('kinds'), 40);
    assert.equal(value('mode'), 'v0', 'all once: the first JSON text');
    add('v35');
    add('v35');
    add('v3');
    add('v3');
    assert.equal(value('mode'), 'v3', 'two values seen three times: the first JSON text of the two');
    add('v35');
    assert.equal(value('mode'), 'v35');
    assert.equal(value('kinds'), 40);
  });

  test('evaluating a timed condition gives the result and its next change in one pass, as the two functions do', () => {
    const reg = registry(
      {
        recent: { event: 'A', within: '1d' },
        twice: { event: 'A', count: { op: 'gte', value: 2 }, within: '3d' },
        lapsed: {
          all: [
            { event: 'B', within: '10d' },
            { event: 'A', count: { op: 'eq', value: 0 }, within: '2d' },
          ],
        },
        either: { any: [{ event: 'B', within: '12h' }, { not: { event: 'A', within: '1d' } }] },
        funnel: { sequence: [{ event: 'A' }, { event: 'B' }], within: '2d' },
        fresh: {
          all: [
            { trait: 'seen', op: 'within_last', value: '5d' },
            { event: 'A', within: '1d' },
          ],
        },
        big: { computed: 'spend', op: 'gte', value: 10 },
        quiet: { computed: 'since', op: 'gte', value: 2 },
        cheap: { any: [{ computed: 'spend', op: 'lt', value: 5 }, { segment: 'recent' }] },
      },
      {
        spend: { event: 'B', aggregate: 'sum', property: 'x', within: '4d' },
        since: { event: 'A', aggregate: 'days_since_last' },
      },
    );
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            name: fc.constantFrom('A', 'B'),
            at: fc.integer({ min: -12 * 24, max: 12 }),
            x: fc.integer({ min: 0, max: 9 }),
          }),
          { maxLength: 12 },
        ),
        fc.integer({ min: -8, max: 8 }),
        fc.integer({ min: 0, max: 6 * 24 }),
        (events, seenDays, later) => {
          const facts = new ProfileFacts();
          for (const [i, e] of events.entries()) facts.insert(e.name, T + e.at * HOUR, i, [e.x]);
          const traits = { seen: new Date(T + seenDays * DAY).toISOString() };
          const now = T + later * HOUR;
          const view = { traits, facts, isMember: (k: string) => k === 'recent' };
          for (const seg of reg.segments) {
            const member = evaluate(reg, seg.condition, view, now);
            const next = nextChange(reg, seg.condition, view, now);
            assert.equal(evaluateTimed(reg, seg.condition, view, now), member, seg.key);
            assert.equal(lastChangeAt(), next, seg.key);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test("a profile's facts keep their values in time order, after out-of-order inserts and pruning", () => {
    const facts = new ProfileFacts();
    assert.ok(facts.insert('B', 20, 1, ['b', 2]));
    assert.ok(facts.insert('A', 10, 1, ['a']));
    assert.ok(facts.insert('C', 30, 1, null));
    assert.ok(facts.insert('D', 15, 1, []));
    assert.ok(!facts.insert('A', 10, 1, ['again']), 'the same fact twice is kept once');
    const names = () => Array.from({ length: facts.length }, (_, k) => facts.nameOf(k));
    assert.deepEqual(names(), ['A', 'D', 'B', 'C']);
    assert.deepEqual([facts.ts(1), facts.tie(1), facts.ts(3)], [15, 1, 30]);
    assert.deepEqual([facts.value(0, 0), facts.value(2, 0), facts.value(2, 1)], ['a', 'b', 2]);
    assert.equal(facts.value(0, 1), null, 'past the values a fact has');
    assert.equal(facts.value(1, 0), null);
    assert.equal(facts.value(3, 0), null);
    assert.deepEqual(facts.valuesOf(2), ['b', 2]);
    assert.deepEqual(facts.valuesOf(3), []);
    facts.retain((name) => name !== 'A');
    assert.deepEqual(names(), ['D', 'B', 'C']);
    assert.deepEqual(facts.valuesOf(1), ['b', 2]);
    assert.ok(facts.insert('E', 5, 1, ['e']));
    assert.deepEqual(
      Array.from({ length: facts.length }, (_, k) => facts.valuesOf(k)),
      [['e'], [], ['b', 2], []],
    );
    // Many facts in reverse order (each one shifts the rest), then most of them pruned.
    for (let k = 100; k > 0; k--) facts.insert('F', 1000 + k, 0, [k]);
    assert.equal(facts.length, 104);
    assert.deepEqual([facts.valuesOf(4), facts.valuesOf(103)], [[1], [100]]);
    facts.retain((name, ts) => name !== 'F' || ts > 1098);
    assert.deepEqual(names(), ['E', 'D', 'B', 'C', 'F', 'F']);
    assert.deepEqual([facts.valuesOf(0), facts.valuesOf(4), facts.valuesOf(5)], [['e'], [99], [100]]);
  });

  test('definitions: a reference to a missing segment and a cycle are refused', () => {
    const a = checkSegment({ segment: 'b' });
    const b = checkSegment({ segment: 'a' });
    assert.ok(a.ok && b.ok);
    const missing = Registry.build(new Map([['a', a.value]]), new Map());
    assert.ok(Array.isArray(missing));
    assert.match(missing[0]!.message, /segment "b", which does not exist/);
    assert.equal(missing[0]!.path, 'segments.a.segment');
    // The error names the reference itself, however deep it sits.
    const nested = checkSegment({
      all: [{ trait: 'plan', op: 'eq', value: 'pro' }, { not: { computed: 'ltv', op: 'gt', value: 1 } }],
    });
    assert.ok(nested.ok);
    const unknown = Registry.build(new Map([['n', nested.value]]), new Map());
    assert.ok(Array.isArray(unknown));
    assert.deepEqual(
      unknown.map((e) => e.path),
      ['segments.n.all[1].not.computed'],
    );
    const cycle = Registry.build(
      new Map([
        ['a', a.value],
        ['b', b.value],
      ]),
      new Map(),
    );
    assert.ok(Array.isArray(cycle));
    assert.match(cycle[0]!.message, /cycle: a → b → a/);
    assert.equal(cycle[0]!.path, 'segments.a.segment');
  });

  test('definitions: a key left out is said to be missing', () => {
    const r = checkComputedTrait({ event: 'Order Completed' });
    assert.ok(!r.ok);
    assert.deepEqual(
      r.errors.map((e) => [e.path, e.message]),
      [['aggregate', `is missing (it must be one of ${AGGREGATES.join(', ')})`]],
    );
    const op = checkSegment({ trait: 'plan', value: 'pro' });
    assert.ok(!op.ok);
    assert.match(op.errors[0]!.message, /^is missing \(it must be one of eq, /);
  });
});

test('windows read only their facts: the same answers as reading every fact of the profile', () => {
  // Events at a few shared moments (ties, the window's edge to the millisecond, ahead of now).
  const moment = fc.constantFrom(-5, -3, -2, -1, 0, 1, 2, 3).map((h) => T + h * HOUR);
  const event = fc.record({
    name: fc.constantFrom('A', 'B'),
    ts: fc.oneof(
      moment,
      moment.map((t) => t + 1),
    ),
  });
  fc.assert(
    fc.property(fc.array(event, { maxLength: 24 }), fc.integer({ min: 1, max: 6 }), (events, hours) => {
      const w = hours * HOUR;
      const reg = registry(
        {
          did: { event: 'A', within: `${hours}h`, count: { op: 'gte', value: 2 } },
          seq: { sequence: [{ event: 'A' }, { event: 'B' }], within: `${hours}h` },
        },
        { n: { event: 'B', aggregate: 'count', within: `${hours}h` } },
      );
      const facts = new ProfileFacts();
      events.forEach((e, i) => {
        facts.insert(e.name, e.ts, i, null);
      });
      const view = { traits: {}, facts, isMember: () => false };
      // The reference: every fact read, in order, with the window's rule applied to each.
      const inWindow = (k: number) => facts.ts(k) > T - w;
      let a = 0;
      let firstA: number | null = null;
      let b = 0;
      let seqStart = Number.NEGATIVE_INFINITY;
      let latestA = Number.NEGATIVE_INFINITY;
      for (let k = 0; k < facts.length; k++) {
        if (facts.nameOf(k) === 'A') {
          latestA = Math.max(latestA, facts.ts(k));
          if (inWindow(k)) {
            a++;
            firstA ??= facts.ts(k);
          }
        } else {
          if (inWindow(k)) b++;
          seqStart = Math.max(seqStart, latestA);
        }
      }
      const did = reg.segments.find((s) => s.key === 'did')!.condition;
      const seq = reg.segments.find((s) => s.key === 'seq')!.condition;
      assert.equal(evaluate(reg, did, view, T), a >= 2);
      assert.equal(evaluateTimed(reg, did, view, T), a >= 2);
      assert.equal(lastChangeAt(), firstA === null ? null : firstA + w);
      assert.equal(nextChange(reg, did, view, T), firstA === null ? null : firstA + w);
      const inSeq = seqStart > T - w;
      assert.equal(evaluate(reg, seq, view, T), inSeq);
      assert.equal(evaluateTimed(reg, seq, view, T), inSeq);
      assert.equal(lastChangeAt(), inSeq ? seqStart + w : null);
      assert.equal(computeValue(reg.computed.get('n')!, view, T), b);
    }),
    { numRuns: 500 },
  );
});
