import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hash53, hash53Tuple } from '../../src/core/hash53.ts';
import { asProfileId } from '../../src/core/ids.ts';
import { announcementId } from '../../src/segments/segment-service.ts';

const P = asProfileId('0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b');
const AT = 1_790_000_000_000;

test('the same change always gets the same announcement id, of 21 characters', () => {
  const id = announcementId('vip', P, AT, true);
  assert.equal(id, announcementId('vip', P, AT, true));
  assert.match(id, /^sg_[A-Za-z0-9_-]{18}$/);
});

test('segment, profile, time and direction each make another id', () => {
  const ids = new Set([
    announcementId('vip', P, AT, true),
    announcementId('vip', P, AT, false),
    announcementId('vip', P, AT + 1, true),
    announcementId('vip2', P, AT, true),
    announcementId('vip', asProfileId('0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c'), AT, true),
    // The parts are kept apart: a key ending in a profile's first characters is another change.
    announcementId('vip0190a1b2', asProfileId('c3d4'), AT, true),
    announcementId('vip0190a1b', asProfileId('2c3d4'), AT, true),
  ]);
  assert.equal(ids.size, 7);
});

test('100,000 changes of one profile get 100,000 ids', () => {
  const ids = new Set<string>();
  for (let k = 0; k < 1000; k++)
    for (let t = 0; t < 100; t++) ids.add(announcementId(`s${k}`, P, AT + t, k % 2 === 0));
  assert.equal(ids.size, 100_000);
});

test('a tuple hash keeps its parts apart, and another seed gives another hash', () => {
  assert.notEqual(hash53Tuple('ab', 'c', 1, 2, 0), hash53Tuple('a', 'bc', 1, 2, 0));
  assert.notEqual(hash53Tuple('a', 'b', 2 ** 32, 0, 0), hash53Tuple('a', 'b', 0, 1, 0));
  assert.notEqual(hash53Tuple('a', 'b', 1, 2, 0), hash53Tuple('a', 'b', 1, 2, 7));
  assert.equal(hash53Tuple('a', 'b', 1, 2, 7), hash53Tuple('a', 'b', 1, 2, 7));
  // Index keys are hashed as before.
  assert.equal(hash53('a'), 7929297801672961);
});
