/**
 * Quiet hours across daylight-saving changes in Europe/Berlin, America/New_York and
 * Australia/Sydney: the exact next allowed instant, wall times skipped by a gap or repeated by
 * an overlap, and a property check that the answer is the first instant outside the window.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  inDailyWindow,
  localTime,
  nextOutsideWindow,
  nextWallTime,
  utcOffset,
} from '../../src/core/wall-clock.ts';
import { at, HOUR, iso } from './helpers.ts';

const hm = (text: string) => Number(text.slice(0, 2)) * 60 + Number(text.slice(3));

describe('quiet hours across daylight-saving changes', () => {
  const cases: [zone: string, window: string, from: string, until: string, what: string][] = [
    [
      'Europe/Berlin',
      '21:00-08:00',
      '2026-03-28T21:00:00Z',
      '2026-03-29T06:00:00Z',
      'spring forward: the night is an hour shorter',
    ],
    [
      'Europe/Berlin',
      '21:00-08:00',
      '2026-10-24T20:00:00Z',
      '2026-10-25T07:00:00Z',
      'fall back: the night is an hour longer',
    ],
    ['America/New_York', '21:00-08:00', '2026-03-08T04:00:00Z', '2026-03-08T12:00:00Z', 'spring forward'],
    ['America/New_York', '21:00-08:00', '2026-11-01T03:00:00Z', '2026-11-01T13:00:00Z', 'fall back'],
    [
      'Australia/Sydney',
      '21:00-08:00',
      '2026-04-04T11:00:00Z',
      '2026-04-04T22:00:00Z',
      'daylight saving ends (April)',
    ],
    [
      'Australia/Sydney',
      '21:00-08:00',
      '2026-10-03T12:00:00Z',
      '2026-10-03T21:00:00Z',
      'daylight saving starts (October)',
    ],
    [
      'Europe/Berlin',
      '23:00-02:30',
      '2026-03-28T23:30:00Z',
      '2026-03-29T01:00:00Z',
      'an end skipped by the gap resolves to the jump (03:00)',
    ],
    [
      'America/New_York',
      '22:00-02:30',
      '2026-03-08T06:00:00Z',
      '2026-03-08T07:00:00Z',
      'an end skipped by the gap (New York)',
    ],
    [
      'Australia/Sydney',
      '22:00-02:30',
      '2026-10-03T15:00:00Z',
      '2026-10-03T16:00:00Z',
      'an end skipped by the gap (Sydney)',
    ],
    [
      'Europe/Berlin',
      '23:00-02:30',
      '2026-10-24T22:30:00Z',
      '2026-10-25T00:30:00Z',
      'an end that happens twice: its first occurrence',
    ],
    [
      'Europe/Berlin',
      '23:00-02:30',
      '2026-10-25T01:10:00Z',
      '2026-10-25T01:30:00Z',
      'back in the window after the clocks went back',
    ],
    [
      'Europe/Berlin',
      '02:30-06:00',
      '2026-03-29T01:00:00Z',
      '2026-03-29T04:00:00Z',
      'a start skipped by the gap: 03:00 is inside',
    ],
    [
      'Australia/Sydney',
      '21:00-08:00',
      '2026-04-04T16:30:00Z',
      '2026-04-04T22:00:00Z',
      'inside the repeated hour',
    ],
  ];
  for (const [zone, window, from, until, what] of cases) {
    test(`${zone} ${window} from ${from}: ${what}`, () => {
      const [start, end] = window.split('-').map(hm) as [number, number];
      assert.equal(iso(nextOutsideWindow(zone, at(from), start, end)), new Date(at(until)).toISOString());
    });
  }

  test('leaves an instant outside the window as it is', () => {
    const t = at('2026-03-29T00:59:00Z'); // 01:59 in Berlin, before the jump
    assert.equal(nextOutsideWindow('Europe/Berlin', t, hm('02:30'), hm('06:00')), t);
  });

  test('finds the next wall time across a gap and an overlap', () => {
    // 02:00 does not happen in Berlin on 29 March 2026: the clocks jump to 03:00 (01:00Z).
    assert.equal(
      iso(nextWallTime('Europe/Berlin', at('2026-03-28T12:00:00Z'), 120)),
      '2026-03-29T01:00:00.000Z',
    );
    // 02:30 happens twice on 25 October: the first, then the second once the first has passed.
    assert.equal(
      iso(nextWallTime('Europe/Berlin', at('2026-10-24T12:00:00Z'), 150)),
      '2026-10-25T00:30:00.000Z',
    );
    assert.equal(
      iso(nextWallTime('Europe/Berlin', at('2026-10-25T00:45:00Z'), 150)),
      '2026-10-25T01:30:00.000Z',
    );
    assert.equal(
      iso(nextWallTime('America/New_York', at('2026-11-01T12:00:00Z'), 19 * 60)),
      '2026-11-02T00:00:00.000Z',
    );
  });

  test('reads offsets exactly on both sides of a change', () => {
    const jump = at('2026-03-29T01:00:00Z');
    assert.equal(utcOffset('Europe/Berlin', jump - 1), HOUR);
    assert.equal(utcOffset('Europe/Berlin', jump), 2 * HOUR);
    assert.equal(localTime('Europe/Berlin', jump - 1000).hour, 1);
    assert.equal(localTime('Europe/Berlin', jump).hour, 3);
    assert.equal(utcOffset('Asia/Kathmandu', jump), 5.75 * HOUR);
  });

  test('answers the first instant outside the window, for any instant, zone and window', () => {
    const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'Asia/Kathmandu', 'UTC'];
    const start2026 = at('2026-01-01T00:00:00Z');
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.integer({ min: 0, max: 365 * 24 * 3600 }),
        fc.integer({ min: 0, max: 1439 }),
        fc.integer({ min: 0, max: 1439 }),
        (zone, seconds, start, end) => {
          fc.pre(start !== end);
          const t = start2026 + seconds * 1000;
          const r = nextOutsideWindow(zone, t, start, end);
          assert.ok(r >= t, 'never earlier than asked');
          assert.ok(r - t <= 24 * HOUR, `waits ${r - t} ms`);
          assert.ok(!inDailyWindow(localTime(zone, r).minuteOfDay, start, end), `${iso(r)} is still quiet`);
          if (r > t)
            assert.ok(
              inDailyWindow(localTime(zone, r - 1000).minuteOfDay, start, end),
              `${iso(r - 1000)} was already allowed`,
            );
        },
      ),
      { numRuns: 3000 },
    );
  });
});
