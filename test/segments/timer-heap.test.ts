/**
 * The engine's timers in typed arrays leave in the order the generic heap gives the same entries,
 * ties included (timers due at the same moment fire in the same order as before).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BinaryHeap } from '../../src/core/binary-heap.ts';
import { TimerHeap } from '../../src/segments/timer-heap.ts';

const op = fc.oneof(
  fc.record({ kind: fc.constant('push' as const), at: fc.integer({ min: 1, max: 20 }), who: fc.nat(50) }),
  fc.record({ kind: fc.constant('pop' as const) }),
);

test('timers leave in the order of the generic heap, ties included, through growth', () => {
  fc.assert(
    fc.property(fc.array(op, { minLength: 100, maxLength: 3000, size: 'large' }), (ops) => {
      const heap = new TimerHeap();
      const model = new BinaryHeap<{ at: number; who: number }>((a, b) => a.at < b.at);
      for (const o of ops) {
        if (o.kind === 'push') {
          heap.push(o.at, o.who);
          model.push({ at: o.at, who: o.who });
        } else {
          const top = model.pop();
          if (top === undefined) assert.equal(heap.peekAt(), Number.POSITIVE_INFINITY);
          else assert.deepEqual({ at: heap.peekAt(), who: heap.peekWho() }, top);
          heap.pop();
        }
        assert.equal(heap.size, model.size);
      }
    }),
    { numRuns: 200 },
  );
});
