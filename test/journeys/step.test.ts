/**
 * The pure core of the journey runtime: the step function and wall-clock time in time zones.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { nextTimeOfDay, zonedInstant } from '../../src/core/zoned-time.ts';
import { checkJourney, type Journey } from '../../src/journeys/definition.ts';
import {
  begin,
  dateTarget,
  inControlGroup,
  onEvent,
  onTimer,
  type ProfileNow,
  type RunState,
  snapshot,
  type Transition,
} from '../../src/journeys/step.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const T0 = Date.parse('2026-03-27T10:00:00Z'); // a Friday

function journey(raw: Record<string, unknown>, key = 'j'): Journey {
  const c = checkJourney({ trigger: { event: 'Go' }, ...raw }, key);
  if (!c.ok) assert.fail(JSON.stringify(c.errors));
  return c.value;
}

const profile = (
  traits: Record<string, unknown> = {},
  segments: string[] = [],
  computed = {},
): ProfileNow => ({
  traits,
  segments: new Set(segments),
  computed,
});
const ev = (name: string, props: Record<string, unknown> = {}, at = T0) =>
  snapshot(name, at, `m-${name}`, props);
const start = (j: Journey, p: ProfileNow | null = null, now = T0, trigger = ev('Go')) =>
  begin(j, 1, { id: 'run-1', profileId: 'p-1', trigger }, { now, profile: p });

describe('zoned time', () => {
  test('09:00 on a Saturday in Berlin, and on the Sunday the clocks go forward', () => {
    assert.equal(
      new Date(nextTimeOfDay('Europe/Berlin', T0, 9, 0, [6])).toISOString(),
      '2026-03-28T08:00:00.000Z',
    );
    assert.equal(
      new Date(nextTimeOfDay('Europe/Berlin', T0, 9, 0, [0])).toISOString(),
      '2026-03-29T07:00:00.000Z',
    );
  });
  test('a wall time skipped by the change maps past it; one that happens twice maps to the first', () => {
    assert.equal(
      new Date(zonedInstant('America/New_York', 2026, 3, 8, 2, 30)).toISOString(),
      '2026-03-08T07:30:00.000Z',
    );
    assert.equal(
      new Date(zonedInstant('America/New_York', 2026, 11, 1, 1, 30)).toISOString(),
      '2026-11-01T05:30:00.000Z',
    );
  });
  test('unknown zones are UTC', () => {
    assert.equal(
      new Date(nextTimeOfDay('Mars/Olympus', T0, 12, 0)).toISOString(),
      '2026-03-27T12:00:00.000Z',
    );
  });
});

describe('step function', () => {
  test('a wait until a time of day reads the profile time zone', () => {
    const j = journey({
      start: 'w',
      nodes: {
        w: { type: 'wait', until: { time: '09:00', weekdays: ['sat'] }, next: 's' },
        s: { type: 'send', channel: 'sms', template: 't' },
      },
    });
    const t = start(j, profile({ timezone: 'Australia/Sydney' }));
    assert.equal(t.state.node, 'w');
    // Saturday 09:00 in Sydney (daylight time, UTC+11) is Friday 22:00 UTC.
    assert.equal(new Date(t.state.wakeAt!).toISOString(), '2026-03-27T22:00:00.000Z');
    const fired = onTimer(j, t.state, { now: t.state.wakeAt!, profile: null })!;
    assert.equal(fired.state.status, 'completed');
    assert.deepEqual(
      fired.effects.map((e) => e.kind),
      ['send'],
    );
    assert.equal(
      onTimer(j, t.state, { now: t.state.wakeAt! - 1, profile: null }),
      null,
      'not before it is due',
    );
  });

  test('branches read traits, computed traits and segments; updates carry increments to apply when performed', () => {
    const j = journey({
      start: 'b',
      nodes: {
        b: {
          type: 'branch',
          branches: [
            { condition: { segment: 'vip' }, next: 'vip' },
            { condition: { computed: 'orders', op: 'gte', value: 3 }, next: 'loyal' },
          ],
          otherwise: 'count',
        },
        vip: { type: 'send', channel: 'email', template: 'vip' },
        loyal: { type: 'send', channel: 'email', template: 'loyal' },
        count: { type: 'update', increment: { nudges: 1 }, set: { nudged: true } },
      },
    });
    const template = (t: Transition) => t.effects.map((e) => (e.kind === 'send' ? e.template : e.kind));
    assert.deepEqual(template(start(j, profile({}, ['vip']))), ['vip']);
    assert.deepEqual(template(start(j, profile({}, [], { orders: 4 }))), ['loyal']);
    const u = start(j, profile({ nudges: 2 }));
    assert.deepEqual(u.effects, [
      { kind: 'update', id: 'run-1:2', node: 'count', traits: { nudged: true }, increment: { nudges: 1 } },
    ]);
  });

  test('wait_for hears only the correlated event; the goal converts within its window only', () => {
    const j = journey({
      start: 'w',
      nodes: {
        w: {
          type: 'wait_for',
          event: 'Order Delivered',
          correlate: ['order_id'],
          timeout: '7d',
          arrived: 's',
        },
        s: { type: 'send', channel: 'email', template: 'review' },
      },
      goal: { event: 'Review Written', within: '2d' },
    });
    const t = start(j, null, T0, ev('Go', { order_id: 'a' }));
    assert.equal(
      onEvent(j, t.state, ev('Order Delivered', { order_id: 'b' }), { now: T0, profile: null }),
      null,
    );
    const arrived = onEvent(j, t.state, ev('Order Delivered', { order_id: 'a' }), {
      now: T0 + HOUR,
      profile: null,
    })!;
    assert.equal(arrived.state.status, 'completed');
    assert.equal(arrived.effects.length, 1);
    const converted = onEvent(j, t.state, ev('Review Written', {}, T0 + DAY), {
      now: T0 + DAY,
      profile: null,
    })!;
    assert.equal(converted.state.status, 'converted');
    assert.deepEqual(converted.effects, [{ kind: 'cancel_pending' }]);
    assert.equal(
      onEvent(j, t.state, ev('Review Written', {}, T0 + 3 * DAY), { now: T0 + 3 * DAY, profile: null }),
      null,
      'after the goal window it is just an event',
    );
  });

  test('splits and control groups are deterministic per profile and near their shares', () => {
    const j = journey({
      start: 's',
      nodes: {
        s: {
          type: 'split',
          variants: [
            { name: 'a', percent: 20, next: 'x' },
            { name: 'b', percent: 80, next: 'x' },
          ],
        },
        x: { type: 'exit' },
      },
      control: { percent: 10 },
    });
    let a = 0;
    let control = 0;
    for (let i = 0; i < 10_000; i++) {
      const t = begin(j, 1, { id: `r${i}`, profileId: `p${i}`, trigger: null }, { now: T0, profile: null });
      const again = begin(
        j,
        1,
        { id: `q${i}`, profileId: `p${i}`, trigger: null },
        { now: T0, profile: null },
      );
      assert.equal(t.state.variants.s, again.state.variants.s);
      if (t.state.variants.s === 'a') a++;
      if (inControlGroup(j, `p${i}`)) control++;
    }
    assert.ok(a > 1800 && a < 2200, `20% split, got ${a}`);
    assert.ok(control > 900 && control < 1100, `10% control, got ${control}`);
  });

  test('date targets: offset days at a time of day, yearly anniversaries', () => {
    const p = profile({ timezone: 'Europe/Berlin', birthday: '1990-03-30' }, [], {
      next: '2026-04-10T15:00:00Z',
    });
    assert.equal(
      new Date(
        dateTarget(
          { from: 'computed', name: 'next', offsetMs: -3 * DAY, at: { hour: 9, minute: 0 }, yearly: false },
          p,
          T0,
        )!,
      ).toISOString(),
      '2026-04-07T07:00:00.000Z',
    );
    assert.equal(
      new Date(
        dateTarget(
          { from: 'trait', name: 'birthday', offsetMs: 0, at: { hour: 10, minute: 0 }, yearly: true },
          p,
          T0,
        )!,
      ).toISOString(),
      '2026-03-30T08:00:00.000Z',
    );
    assert.equal(
      new Date(
        dateTarget(
          { from: 'trait', name: 'birthday', offsetMs: 0, at: null, yearly: true },
          p,
          Date.parse('2026-04-01T00:00:00Z'),
        )!,
      ).toISOString(),
      '2027-03-29T22:00:00.000Z',
    );
    assert.equal(
      dateTarget({ from: 'trait', name: 'missing', offsetMs: 0, at: null, yearly: false }, p, T0),
      null,
    );
  });

  test('property: the waiting counters always equal the runs waiting at each node', () => {
    const j = journey({
      start: 'w1',
      nodes: {
        w1: { type: 'wait_for', event: 'A', timeout: '1d', arrived: 'w2', timed_out: 'b' },
        w2: { type: 'wait', duration: '2h', next: 's' },
        b: {
          type: 'branch',
          branches: [{ condition: { trait: 'x', op: 'eq', value: 1 }, next: 'w2' }],
          otherwise: null,
        },
        s: { type: 'send', channel: 'push', template: 'p', next: 'w3' },
        w3: { type: 'wait_for', event: 'B', timeout: '3h', arrived: null, timed_out: 'w1' },
      },
      goal: { event: 'G' },
      exit: [{ event: 'X' }],
    });
    const input = fc.oneof(
      fc.record({ kind: fc.constant('event' as const), name: fc.constantFrom('A', 'B', 'G', 'X', 'Other') }),
      fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: 1, max: 2 * DAY }) }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 4 }), input), { maxLength: 60 }),
        fc.boolean(),
        (steps, x) => {
          let now = T0;
          const runs: (RunState | null)[] = [null, null, null, null, null];
          const waiting = new Map<string, number>();
          const apply = (t: Transition) => {
            for (const s of t.stats)
              if (s.metric === 'waiting') waiting.set(s.node!, (waiting.get(s.node!) ?? 0) + s.n);
            return t.state;
          };
          const p = profile({ x: x ? 1 : 0 });
          for (const [i, inp] of steps) {
            const cur = runs[i];
            if (inp.kind === 'time') {
              now += inp.ms;
              for (let k = 0; k < runs.length; k++) {
                let r = runs[k];
                while (r && r.status === 'active' && r.wakeAt !== null && r.wakeAt <= now) {
                  const t = onTimer(j, r, { now, profile: p });
                  if (t === null) break;
                  r = apply(t);
                }
                runs[k] = r ?? null;
              }
            } else if (cur === null || cur === undefined || cur.status !== 'active') {
              runs[i] = apply(
                begin(j, 1, { id: `r${i}`, profileId: `p${i}`, trigger: null }, { now, profile: p }),
              );
            } else {
              const t = onEvent(j, cur, ev(inp.name, {}, now), { now, profile: p });
              if (t) runs[i] = apply(t);
            }
            const actual = new Map<string, number>();
            for (const r of runs)
              if (r && r.status === 'active' && r.node) actual.set(r.node, (actual.get(r.node) ?? 0) + 1);
            for (const node of j.nodes.keys())
              assert.equal(waiting.get(node) ?? 0, actual.get(node) ?? 0, node);
            for (const r of runs)
              if (r && r.status === 'active') assert.ok(r.wakeAt !== null && r.node !== null);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
