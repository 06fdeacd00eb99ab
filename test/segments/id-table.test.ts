/**
 * The engine's table of profiles by id finds what a `Map` would, through additions, removals
 * (which move entries back in the table) and growth; gives each id back as it came; and orders
 * records as their id strings compare.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { IdTable } from '../../src/segments/id-table.ts';

/** UUIDs (some sharing their first words, as ids made in the same millisecond do) and other ids. */
function pool(n: number): string[] {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const u = randomUUID();
    if (i % 10 === 0) ids.push(`p${i}`);
    else if (i % 10 === 1) ids.push(u.toUpperCase());
    else if (i % 10 === 2) ids.push(u.replace(/-/g, ''));
    else if (i % 10 === 3 && ids.length > 0) ids.push(`${ids[ids.length - 1]!.slice(0, 19)}${u.slice(19)}`);
    else ids.push(u);
  }
  return ids;
}

test('finds what a map holds through adds, removes and growth, and gives each id back', () => {
  const ids = pool(3000);
  fc.assert(
    fc.property(
      fc.array(fc.record({ add: fc.nat(2).map((n) => n > 0), at: fc.noBias(fc.nat(ids.length - 1)) }), {
        minLength: 2000,
        maxLength: 6000,
      }),
      (ops) => {
        const table = new IdTable();
        const model = new Map<string, number>();
        const free: number[] = [];
        let top = 0;
        for (const { add, at } of ops) {
          const id = ids[at]!;
          const held = model.get(id);
          if (add && held === undefined) {
            const r = free.pop() ?? top++;
            table.add(id, r);
            model.set(id, r);
          } else if (!add && held !== undefined) {
            table.remove(held);
            model.delete(id);
            free.push(held);
          }
          assert.equal(table.size, model.size);
        }
        for (const id of ids) assert.equal(table.find(id), model.get(id) ?? -1, id);
        for (const [id, r] of model) assert.equal(table.idOf(r), id);
      },
    ),
    { numRuns: 30 },
  );
});

test('orders records as their id strings compare, against records and against strings', () => {
  const ids = pool(400);
  const table = new IdTable();
  for (const [r, id] of ids.entries()) table.add(id, r);
  const sign = (x: number) => Math.sign(x);
  fc.assert(
    fc.property(fc.nat(ids.length - 1), fc.nat(ids.length - 1), (a, b) => {
      const want = ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : 0;
      assert.equal(sign(table.compare(a, b)), want);
      assert.equal(sign(table.compareTo(a, ids[b]!)), want);
    }),
    { numRuns: 2000 },
  );
  assert.equal(table.compareTo(0, 'zzz'), -1);
});

test('a removed id is not found, and its record can carry another id', () => {
  const table = new IdTable();
  const a = randomUUID();
  const b = randomUUID();
  table.add(a, 0);
  table.remove(0);
  assert.equal(table.find(a), -1);
  table.add(b, 0);
  assert.equal(table.find(b), 0);
  assert.equal(table.idOf(0), b);
  table.remove(0);
  table.add('plain', 0);
  assert.equal(table.idOf(0), 'plain');
  assert.equal(table.find(b), -1);
});
