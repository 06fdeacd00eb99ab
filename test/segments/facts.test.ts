/**
 * Many profiles' facts share one arena, each list in a block of its own that moves when it grows
 * or shrinks and is handed to another list once let go of. Whatever the lists do, in whatever
 * order, each must read back exactly what was put into it: a block written by two lists at once,
 * or reused while still held, shows up here as another list's facts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FactArena, ProfileFacts } from '../../src/segments/facts.ts';

interface Fact {
  name: string;
  ts: number;
  tie: number;
  values: unknown[];
}

const NAMES = ['A', 'B', 'C', 'D'];

/**
 * Values as projections hold them: numbers of every kind (fractions, −0, NaN and infinities
 * included), which a list keeps as numbers; short strings, booleans and null, which the arena
 * shares; and what it does not share, which a list keeps aside: long strings and objects.
 */
const value = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 3 }),
  fc.boolean(),
  fc.constant(null),
  fc.string({ minLength: 65, maxLength: 70 }),
  fc.constantFrom({ plan: 'pro' }, ['a', 1]),
);

const op = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      list: fc.nat(5),
      name: fc.constantFrom(...NAMES),
      ts: fc.integer({ min: 0, max: 40 }),
      tie: fc.integer({ min: 0, max: 2 }),
      values: fc.option(fc.array(value, { maxLength: 3 })),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('retain' as const),
      list: fc.nat(5),
      drop: fc.subarray(NAMES),
      before: fc.integer({ min: 0, max: 40 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('clear' as const), list: fc.nat(5) }) },
);

const read = (list: ProfileFacts): Fact[] =>
  Array.from({ length: list.length }, (_, k) => ({
    name: list.nameOf(k),
    ts: list.ts(k),
    tie: list.tie(k),
    values: list.valuesOf(k),
  }));

test('lists sharing one arena each read back what they hold, through growth, pruning and reuse', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
      // Small pages, so that lists move between pages, a page's rest is handed out as free blocks,
      // and large blocks have pages of their own.
      const arena = new FactArena(8);
      const lists = Array.from({ length: 6 }, () => new ProfileFacts(arena));
      const models: Fact[][] = lists.map(() => []);
      for (const o of ops) {
        const list = lists[o.list]!;
        const model = models[o.list]!;
        if (o.kind === 'insert') {
          const known = model.some((f) => f.ts === o.ts && f.tie === o.tie && f.name === o.name);
          assert.equal(list.insert(o.name, o.ts, o.tie, o.values), !known);
          if (!known) {
            // Where the list puts it: before the first fact not earlier in (time, tie-breaker).
            let at = model.findIndex((f) => f.ts > o.ts || (f.ts === o.ts && f.tie >= o.tie));
            if (at < 0) at = model.length;
            model.splice(at, 0, { name: o.name, ts: o.ts, tie: o.tie, values: o.values ?? [] });
          }
        } else if (o.kind === 'retain') {
          const keep = (name: string, ts: number) => !(o.drop.includes(name) && ts < o.before);
          list.retain(keep);
          models[o.list] = model.filter((f) => keep(f.name, f.ts));
        } else {
          list.clear();
          models[o.list] = [];
        }
        // Every list as a whole, after every step, so a block another list overwrote shows.
        for (const [i, l] of lists.entries()) assert.deepEqual(read(l), models[i], `list ${i}`);
      }
      // Values no table shares are let go of with the facts that held them.
      for (const l of lists) l.clear();
      assert.equal(arena.looseHeld(), 0);
    }),
    { numRuns: 400 },
  );
});

test('a block let go of is handed to the next list that needs one of its size', () => {
  const arena = new FactArena(64);
  const a = new ProfileFacts(arena);
  for (let k = 0; k < 3; k++) a.insert('A', k, 0, null);
  const used = arena.stats().slots;
  a.clear();
  assert.deepEqual(arena.stats(), { slots: used, free: 4 });
  const b = new ProfileFacts(arena);
  for (let k = 0; k < 3; k++) b.insert('B', k, 0, [k]);
  assert.deepEqual(arena.stats(), { slots: used, free: 0 }, 'the same block, not a new one');
  assert.deepEqual(
    read(b).map((f) => f.values),
    [[0], [1], [2]],
  );
});

test('the arena grows by pages: the rest of a full page is handed out, a large block has its own', () => {
  const arena = new FactArena(8);
  const a = new ProfileFacts(arena);
  for (let k = 0; k < 5; k++) a.insert('A', k, 0, null);
  // A block of 4 at the start of the first page, then 8, which the page's rest cannot hold: the
  // rest is a free block, and so is the first.
  assert.deepEqual(arena.stats(), { slots: 16, free: 8 });
  const c = new ProfileFacts(arena);
  for (let k = 0; k < 9; k++) c.insert('C', k, 0, [k]);
  // 4 from a free block, 8 on a third page, then 16, more than a page holds: a page of its own.
  assert.deepEqual(arena.stats(), { slots: 40, free: 16 });
  assert.deepEqual(
    read(c).map((f) => [f.ts, f.values]),
    [0, 1, 2, 3, 4, 5, 6, 7, 8].map((k) => [k, [k]]),
  );
  assert.deepEqual(
    read(a).map((f) => f.ts),
    [0, 1, 2, 3, 4],
  );
});

test('values past the bound of the shared table are kept by the list itself, through pruning', () => {
  const arena = new FactArena(64);
  const list = new ProfileFacts(arena);
  const n = 70_000;
  for (let k = 0; k < n; k++) list.insert('A', k, 0, [`v${k}`, k + 0.5]);
  list.retain((_, ts) => ts % 2 === 1);
  assert.equal(list.length, n / 2);
  for (let k = 0; k < n / 2; k++) assert.deepEqual(list.valuesOf(k), [`v${2 * k + 1}`, 2 * k + 1.5]);
  assert.equal(list.value(n / 2 - 1, 0), `v${n - 1}`);
});
