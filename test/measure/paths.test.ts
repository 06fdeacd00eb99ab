/**
 * Paths from and to an event: the next (or previous) events per profile, repeats collapsed,
 * window and exclusions, the most common sequences, drop-offs, and Sankey nodes and links whose
 * counts add up.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventTableBuilder } from '../../src/measure/event-table.ts';
import { checkPaths, paths, pathsQueryPaths } from '../../src/measure/paths.ts';

const H = 3_600_000;
type Ev = [profile: string, name: string, t: number, props?: Record<string, unknown>];

function run(events: Ev[], body: unknown) {
  const c = checkPaths(body);
  if (!c.ok) throw new Error(JSON.stringify(c.errors));
  const b = new EventTableBuilder(pathsQueryPaths(c.value));
  for (const [p, name, t, props] of events) b.add(p, name, t, { properties: props ?? {} });
  return paths(b.build(), c.value);
}

const LOG: Ev[] = [
  ['a', 'Search', 0],
  ['a', 'View', 1],
  ['a', 'View', 2],
  ['a', 'Add', 3],
  ['a', 'Buy', 4],
  ['b', 'View', 0],
  ['b', 'Add', 1],
  ['b', 'Buy', 2],
  ['c', 'Search', 0],
  ['c', 'View', 1],
  ['c', 'Search', 2],
  ['d', 'View', 0],
  ['e', 'Add', 0],
];

describe('paths', () => {
  it('follows each profile from its first anchor event, collapsing repeats', () => {
    const r = run(LOG, { from: { event: 'View' }, steps: 3 });
    assert.equal(r.profiles, 4);
    assert.deepEqual(
      r.paths.map((p) => [p.events.join(' > '), p.count]),
      [
        ['View > Add > Buy', 2],
        ['View', 1],
        ['View > Search', 1],
      ],
    );
    assert.equal(r.paths[0]!.share, 0.5);
    assert.deepEqual(r.dropOffs, [
      { step: 1, reached: 3, dropped: 1 },
      { step: 2, reached: 2, dropped: 1 },
      { step: 3, reached: 0, dropped: 2 },
    ]);
  });

  it('shapes nodes and links for a Sankey chart, with counts that add up', () => {
    const r = run(LOG, { from: { event: 'View' }, steps: 3 });
    const node = (id: string) => r.nodes.find((n) => n.id === id)!;
    assert.equal(node('0:View').count, 4);
    assert.equal(node('0:View').dropOff, 1);
    assert.equal(node('1:Add').count, 2);
    assert.equal(node('2:Buy').dropOff, 2);
    assert.deepEqual(r.links[0], { source: '0:View', target: '1:Add', count: 2 });
    for (const n of r.nodes) {
      const out = r.links.filter((l) => l.source === n.id).reduce((s, l) => s + l.count, 0);
      assert.equal(out + n.dropOff, n.count, n.id);
    }
  });

  it('goes backwards from the first occurrence with "to", keeping time order in the output', () => {
    const r = run(LOG, { to: { event: 'Buy' }, steps: 2 });
    assert.equal(r.profiles, 2);
    assert.deepEqual(r.paths[0]!.events, ['View', 'Add', 'Buy']);
    assert.equal(r.paths[0]!.count, 2);
    assert.ok(r.links.some((l) => l.source === '-1:Add' && l.target === '0:Buy' && l.count === 2));
    assert.ok(r.links.some((l) => l.source === '-2:View' && l.target === '-1:Add'));
  });

  it('keeps repeats when asked, leaves out excluded events and stops at the window', () => {
    assert.deepEqual(
      run(LOG, { from: { event: 'Search' }, steps: 2, collapseRepeats: false }).paths[0]!.events,
      ['Search', 'View', 'Search'],
    );
    const ex = run(LOG, { from: { event: 'View' }, steps: 3, exclude: ['Add'] });
    assert.deepEqual(ex.paths[0]!.events, ['View', 'Buy']);
    const win = run(
      [
        ['a', 'View', 0],
        ['a', 'Add', H],
        ['a', 'Buy', 3 * H],
      ],
      { from: { event: 'View' }, window: '2h' },
    );
    assert.deepEqual(win.paths[0]!.events, ['View', 'Add']);
  });

  it('groups the less common events of a step into one "(other)" node', () => {
    const r = run(LOG, { from: { event: 'View' }, steps: 1, nodesPerStep: 1 });
    assert.ok(r.nodes.some((n) => n.id === '1:Add' && n.count === 2));
    assert.ok(r.nodes.some((n) => n.id === '1:(other)' && n.count === 1));
  });

  it('counts the same paths when there are too many nodes for numeric path keys', () => {
    const small = run(LOG, { from: { event: 'Search' }, steps: 3 });
    const large = run(LOG, { from: { event: 'Search' }, steps: 10, nodesPerStep: 100 });
    const list = (r: typeof small) => r.paths.map((p) => `${p.events.join(' > ')} × ${p.count}`).sort();
    assert.deepEqual(list(large), list(small));
    assert.equal(large.distinctPaths, small.distinctPaths);
  });

  it('filters the anchor with the segment where grammar', () => {
    const r = run(
      [
        ['a', 'View', 0, { category: 'Yoga' }],
        ['a', 'Add', 1],
        ['b', 'View', 0, { category: 'Home' }],
      ],
      { from: { event: 'View', where: [{ property: 'category', op: 'eq', value: 'Yoga' }] } },
    );
    assert.equal(r.profiles, 1);
  });

  it('returns an empty result, not NaN, when no profile has the anchor', () => {
    const r = run(LOG, { from: { event: 'Refund' } });
    assert.equal(r.profiles, 0);
    assert.deepEqual(r.paths, []);
    assert.deepEqual(r.nodes, []);
    assert.ok(!JSON.stringify(r).includes('NaN'));
  });

  it('names the problems of a bad request', () => {
    const cases: [unknown, RegExp][] = [
      [{}, /exactly one of "from"/],
      [{ from: { event: 'A' }, to: { event: 'B' } }, /exactly one/],
      [{ from: { event: 'A' }, steps: 0 }, /steps: must be a whole number from 1 to 10/],
      [{ from: { event: 'A' }, window: 'soon' }, /window: must be a duration/],
      [{ from: { nope: 1 } }, /from\.nope: is not an allowed key/],
    ];
    for (const [body, pattern] of cases) {
      const c = checkPaths(body);
      assert.equal(c.ok, false);
      if (!c.ok) assert.match(c.errors.map((e) => `${e.path}: ${e.message}`).join('\n'), pattern);
    }
  });
});
