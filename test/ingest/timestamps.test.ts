/**
 * Timestamps: the digit-by-digit reading of `YYYY-MM-DDTHH:MM:SS.sssZ` agrees with the general
 * reading (regular expression, `Date.parse`, no rolled-over days) on every string of that shape,
 * valid or not, and other ISO 8601 forms still parse.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseTimestamp } from '../../src/ingest/validate.ts';

/** The general reading, as the tracking API has always done it. */
function reference(s: string): number | null {
  const ms = Date.parse(s);
  if (!Number.isFinite(ms)) return null;
  const [y, m, d] = [Number(s.slice(0, 4)), Number(s.slice(5, 7)), Number(s.slice(8, 10))];
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d ? ms : null;
}

const digits = (n: number, max: number) => fc.integer({ min: 0, max }).map((v) => String(v).padStart(n, '0'));

test('canonical timestamps read as Date.parse reads them, impossible days and times refused', () => {
  fc.assert(
    fc.property(
      fc.tuple(
        fc.oneof(digits(4, 9999), digits(4, 2100)),
        digits(2, 13),
        digits(2, 32),
        digits(2, 25),
        digits(2, 60),
        digits(2, 61),
        digits(3, 999),
      ),
      ([y, mo, d, h, mi, s, ms]) => {
        const text = `${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}Z`;
        assert.equal(parseTimestamp(text), reference(text), text);
      },
    ),
    { numRuns: 20_000 },
  );
  assert.equal(parseTimestamp('2024-02-29T12:00:00.000Z'), Date.UTC(2024, 1, 29, 12));
  assert.equal(parseTimestamp('2023-02-29T12:00:00.000Z'), null);
  assert.equal(parseTimestamp('2024-04-31T12:00:00.000Z'), null);
});

test('other ISO 8601 forms take the general path', () => {
  assert.equal(parseTimestamp('2026-03-01T12:00:00Z'), Date.UTC(2026, 2, 1, 12));
  assert.equal(parseTimestamp('2026-03-01T12:00:00.123456+02:00'), Date.UTC(2026, 2, 1, 10, 0, 0, 123));
  assert.equal(parseTimestamp('2026-03-01'), Date.UTC(2026, 2, 1));
  assert.equal(parseTimestamp('yesterday'), null);
});
