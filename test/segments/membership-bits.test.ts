/**
 * A profile's memberships are bits, 32 to a word: with more than 32 segments a profile's bits
 * span words, and the top bit of a word (a negative number in JavaScript) must read back as set.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asProfileId } from '../../src/core/ids.ts';
import { SegmentEngine } from '../../src/segments/engine.ts';
import { compileDefinitions, type DefinitionSet } from '../../src/segments/engine-host.ts';
import { Registry } from '../../src/segments/registry.ts';

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
        name: facts.map((f) => `E${f.k}`),
        ts: facts.map((_, i) => NOW - 100_000 + i),
        tie: facts.map((_, i) => i),
        values: facts.map(() => []),
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
