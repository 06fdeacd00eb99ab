/**
 * A commit is one input for each profile it reaches: however its events interleave with other
 * profiles' and whatever trait changes it carries, a profile is evaluated once, after all of its
 * inputs, and a membership that would change back within the commit announces nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asProfileId, type ProfileId } from '../../src/core/ids.ts';
import type { CompactCommit } from '../../src/segments/compact.ts';
import { SegmentEngine } from '../../src/segments/engine.ts';
import { compileDefinitions } from '../../src/segments/engine-host.ts';
import { Registry } from '../../src/segments/registry.ts';
import { compactCommitOf } from '../helpers/compact-commit.ts';

const NOW = Date.parse('2026-05-01T00:00:00.000Z');
const P1 = asProfileId('01a20000-0000-7000-8000-000000000001');
const P2 = asProfileId('01a20000-0000-7000-8000-000000000002');
const P3 = asProfileId('01a20000-0000-7000-8000-000000000003');

function engine(): SegmentEngine {
  const reg = compileDefinitions({
    segments: [
      ['once', { event: 'A', count: { op: 'eq', value: 1 }, within: '1d' }],
      ['pro', { trait: 'plan', op: 'eq', value: 'pro' }],
      ['pro-once', { all: [{ segment: 'pro' }, { segment: 'once' }] }],
    ],
    computed: [],
  });
  assert.ok(reg instanceof Registry);
  const e = new SegmentEngine(reg);
  for (const p of [P1, P2, P3]) e.touch(p, { plan: 'free' });
  return e;
}

/** Each event made here has a time and tie-breaker of its own (the same fact twice is kept once). */
let made = 0;

/** A commit of these events (profile, name), in order, one millisecond apart. */
function commit(
  events: [ProfileId, string][],
  traits: [ProfileId, { plan: string }][] = [],
  merges: CompactCommit['merges'] = [],
): CompactCommit {
  return compactCommitOf(events, () => ({ ts: NOW - 1000 + made, tie: made++ }), merges, traits);
}

const changes = (ts: { profile: string; key: string; entered: boolean }[]) =>
  ts.map((t) => `${t.profile.slice(-1)} ${t.entered ? '+' : '-'}${t.key}`).sort();

test('two events of one profile, with another between them: evaluated once, after the second', () => {
  const e = engine();
  // P1 does A twice ("exactly once" is never true after the commit); P2 does it once between.
  const out = e.applyCommit(
    commit([
      [P1, 'A'],
      [P2, 'A'],
      [P1, 'A'],
    ]),
    NOW,
  );
  assert.deepEqual(changes(out), ['2 +once']);
  assert.deepEqual(e.segmentsOf(P1), []);
  assert.equal(e.size('once'), 1);
});

test('a trait change in the same commit as an event is evaluated with the event', () => {
  const e = engine();
  assert.deepEqual(changes(e.applyCommit(commit([], [[P1, { plan: 'pro' }]]), NOW)), ['1 +pro']);
  // P1's first A and its return to free, with P3's A between: "pro and once" is never true after
  // the commit, so it is not announced.
  const out = e.applyCommit(
    commit(
      [
        [P1, 'A'],
        [P3, 'A'],
      ],
      [[P1, { plan: 'free' }]],
    ),
    NOW,
  );
  assert.deepEqual(changes(out), ['1 +once', '1 -pro', '3 +once']);
  assert.equal(e.size('pro-once'), 0);
});

test('a commit that merges profiles evaluates the survivor once, with both histories', () => {
  const e = engine();
  e.applyCommit(commit([[P2, 'A']]), NOW);
  assert.deepEqual(e.segmentsOf(P2), ['once']);
  // P2 is merged into P1, whose own A in the same commit makes two.
  const out = e.applyCommit(commit([[P1, 'A']], [], [{ at: 0, from: P2, into: P1 }]), NOW + 1);
  assert.deepEqual(changes(out), []);
  assert.deepEqual(e.segmentsOf(P1), []);
  assert.equal(e.size('once'), 0);
});

test('an event older than every window that reads its name is not kept, and changes nothing', () => {
  const e = engine();
  const old = commit([[P1, 'A']]);
  const stale = { ...old, facts: { ...old.facts, ts: [NOW - 2 * 86_400_000] } };
  assert.deepEqual(e.applyCommit(stale, NOW), []);
  assert.equal(e.stats().facts, 0);
  assert.deepEqual(changes(e.applyCommit(commit([[P1, 'A']]), NOW)), ['1 +once']);
  assert.equal(e.stats().facts, 1);
});
