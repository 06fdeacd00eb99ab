import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hash53 } from '../../src/core/hash53.ts';
import { asProfileId } from '../../src/core/ids.ts';
import { announcementId } from '../../src/segments/segment-service.ts';

const P = asProfileId('0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b');
const AT = 1_790_000_000_000;

test('the same change always gets the same announcement id, of 25 characters', () => {
  const id = announcementId('vip', P, AT, true);
  assert.equal(id, announcementId('vip', P, AT, true));
  assert.match(id, /^sg_[0-9a-z]{22}$/);
});

test('segment, profile, time and direction each make another id', () => {
  const ids = new Set([
    announcementId('vip', P, AT, true),
    announcementId('vip', P, AT, false),
    announcementId('vip', P, AT + 1, true),
    announcementId('vip2', P, AT, true),
    announcementId('vip', asProfileId('0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c'), AT, true),
    // The parts are kept apart: a key ending in a profile's first characters is another change.
    announcementId('vip\n0190a1b2', asProfileId('c3d4'), AT, true),
  ]);
  assert.equal(ids.size, 6);
});

test('100,000 changes of one profile get 100,000 ids', () => {
  const ids = new Set<string>();
  for (let k = 0; k < 1000; k++)
    for (let t = 0; t < 100; t++) ids.add(announcementId(`s${k}`, P, AT + t, k % 2 === 0));
  assert.equal(ids.size, 100_000);
});

test('a seed of 0 is the hash stored in index keys; another seed another hash', () => {
  assert.equal(hash53('abc', 0), hash53('abc'));
  assert.notEqual(hash53('abc', 1), hash53('abc'));
  // The value index files hold for this string (cyrb53 with its usual seeds).
  assert.equal(hash53('a'), 7929297801672961);
});
