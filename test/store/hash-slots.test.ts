/**
 * The writer's table of message hashes: every position stored under a hash comes back, through
 * growth and shared hashes, and nothing else does — checked against a Map as the oracle.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { hash53 } from '../../src/core/hash53.ts';
import { HashSlots } from '../../src/store/sqlite/hash-slots.ts';

const positionsOf = (t: HashSlots, hash: number): number[] => {
  const found: number[] = [];
  for (let s = t.find(hash); s !== -1; s = t.find(hash, s)) found.push(t.positionAt(s));
  return found.sort((a, b) => a - b);
};

test('every position added under a hash is found, and only those, as the table grows', () => {
  fc.assert(
    fc.property(
      // Few distinct hashes, so that many positions share one; some collide in the low bits only.
      fc.array(
        fc.oneof(
          fc.integer({ min: 0, max: 40 }).map((k) => k * 2 ** 32 + 7),
          fc.string().map(hash53),
          fc.constantFrom(0, 1, 2 ** 53 - 1),
        ),
        { maxLength: 300 },
      ),
      fc.array(fc.string().map(hash53), { maxLength: 20 }),
      (hashes, absent) => {
        const t = new HashSlots(1);
        const oracle = new Map<number, number[]>();
        hashes.forEach((h, position) => {
          t.add(h, position);
          oracle.set(h, [...(oracle.get(h) ?? []), position]);
        });
        assert.equal(t.size, hashes.length);
        for (const [h, positions] of oracle) assert.deepEqual(positionsOf(t, h), positions);
        for (const h of absent) assert.deepEqual(positionsOf(t, h), oracle.get(h) ?? []);
      },
    ),
    { numRuns: 300 },
  );
});
