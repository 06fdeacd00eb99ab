/**
 * A profile's memberships are bits, 32 to a word: with more than 32 segments a profile's bits
 * span words, and the top bit of a word (a negative number in JavaScript) must read back as set.
 * They sit in a record with the profile's timer, which the next profile reuses once the first is
 * forgotten: it must start in no segment and with no timer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { asProfileId, type ProfileId } from '../../src/core/ids.ts';
import { SegmentEngine } from '../../src/segments/engine.ts';
import { compileDefinitions, type DefinitionSet } from '../../src/segments/engine-host.ts';
import { Registry } from '../../src/segments/registry.ts';
import { compactCommitOf } from '../helpers/compact-commit.ts';

const SEGMENTS = 70;
const NOW = Date.parse('2026-05-01T00:00:00.000Z');

test('memberships in segments past the first 32, and in every bit of a word, read back exactly', () => {
  const defs: DefinitionSet = {
    segments: Array.from({ length: SEGMENTS }, (_, k) => [`s${k}`, { event: `E${k}` }] as const),
    computed: [],
  };
  const reg = compileDefinitions(defs);
  assert.ok(reg instanceof Registry);
  const engine = new SegmentEngine(reg);
  // One person does every event, so every bit of every word is set (a word's top bit included,
  // whatever order the registry puts the segments in); another does five of them.
  const everyone = Array.from({ length: SEGMENTS }, (_, k) => k);
  const some = [0, 31, 32, 63, 69];
  const people = [
    { id: asProfileId('01a20000-0000-7000-8000-000000000001'), did: everyone },
    { id: asProfileId('01a20000-0000-7000-8000-000000000002'), did: some },
  ];
  const facts = people.flatMap((person, at) => person.did.map((k) => ({ at, k })));
  const transitions = engine.applyCommit(
    {
      profiles: people.map((p) => p.id),
      userIds: ['u1', 'u2'],
      anonymousIds: [null, null],
      facts: {
        at: facts.map((f) => f.at),
        names: facts.map((f) => `E${f.k}`),
        name: facts.map((_, i) => i),
        ts: facts.map((_, i) => NOW - 100_000 + i),
        tie: facts.map((_, i) => i),
        width: facts.map(() => 0),
        values: [],
      },
      merges: [],
      traits: [],
    },
    NOW,
  );
  assert.equal(transitions.length, SEGMENTS + some.length);
  assert.ok(transitions.every((t) => t.entered));
  for (const person of people) {
    assert.deepEqual(engine.segmentsOf(person.id), person.did.map((k) => `s${k}`).sort());
  }
  for (let k = 0; k < SEGMENTS; k++) assert.equal(engine.size(`s${k}`), some.includes(k) ? 2 : 1, `s${k}`);
});

test('a forgotten profile leaves nothing to the profile that reuses its record', () => {
  const reg = compileDefinitions({
    segments: [
      ['recent', { event: 'A', within: '1d' }],
      ['never', { not: { event: 'A' } }],
    ],
    computed: [],
  });
  assert.ok(reg instanceof Registry);
  const engine = new SegmentEngine(reg);
  const [p1, p2, p3] = [1, 2, 3].map((n) => asProfileId(`01a20000-0000-7000-8000-00000000000${n}`));
  const commit = (
    events: [ProfileId, string][],
    merges: { at: number; from: ProfileId; into: ProfileId }[],
    at: number,
  ) =>
    engine.applyCommit(
      compactCommitOf(events, (i) => ({ ts: at, tie: at + i }), merges),
      at,
    );
  commit([[p1!, 'A']], [], NOW);
  assert.deepEqual(engine.segmentsOf(p1!), ['recent']);
  // p1 is merged into p2 (forgotten, its record let go of); p3 is new and has done nothing.
  commit([[p2!, 'B']], [{ at: 0, from: p1!, into: p2! }], NOW + 1000);
  commit([[p3!, 'B']], [], NOW + 2000);
  assert.deepEqual(engine.segmentsOf(p2!), ['recent']);
  assert.deepEqual(engine.segmentsOf(p3!), ['never']);
  assert.equal(engine.size('recent'), 1);
  // One timer is due, p2's, when its A leaves the window; firing it changes p2 alone.
  assert.equal(engine.nextDue(), NOW + 86_400_000);
  const out = engine.fireDue(NOW + 86_400_000);
  assert.deepEqual(
    out.map((t) => [t.profile, t.key, t.entered]),
    [[p2, 'recent', false]],
  );
  assert.equal(engine.nextDue(), null);
});

test('members page in id order, across profiles forgotten and records reused, UUIDs and other ids', () => {
  const reg = compileDefinitions({ segments: [['did-a', { event: 'A' }]], computed: [] });
  assert.ok(reg instanceof Registry);
  // UUIDs made in the same millisecond and far apart, upper-case ones, and plain names: the order
  // of members is the order of the id strings whatever the kind.
  const ids = Array.from({ length: 60 }, (_, k) => {
    const n = (k * 7919) % 60;
    const hex = n.toString(16).padStart(12, '0');
    if (k % 5 === 0) return asProfileId(`p-${n}`);
    if (k % 5 === 1) return asProfileId(`01A20000-0000-7000-8000-${hex.toUpperCase()}`);
    return asProfileId(`01a2${k % 3}000-0000-7000-8000-${hex}`);
  });
  fc.assert(
    fc.property(
      fc.array(fc.record({ who: fc.nat(ids.length - 1), op: fc.constantFrom('A', 'B', 'forget', 'page') }), {
        minLength: 20,
        maxLength: 300,
      }),
      fc.integer({ min: 1, max: 7 }),
      (ops, limit) => {
        const engine = new SegmentEngine(reg);
        const model = new Set<ProfileId>();
        let at = NOW;
        for (const { who, op } of ops) {
          const id = ids[who]!;
          if (op === 'forget') {
            engine.forget(id);
            model.delete(id);
          } else if (op === 'page') {
            const want = [...model].sort();
            const got: ProfileId[] = [];
            let cursor: string | null = null;
            do {
              const page = engine.members('did-a', limit, cursor);
              got.push(...page.members);
              cursor = page.cursor;
            } while (cursor !== null);
            assert.deepEqual(got, want);
          } else {
            at += 1000;
            engine.applyCommit(
              compactCommitOf([[id, op]], (i) => ({ ts: at, tie: i })),
              at,
            );
            if (op === 'A') model.add(id);
          }
        }
        assert.equal(engine.size('did-a'), model.size);
      },
    ),
    { numRuns: 200 },
  );
});
