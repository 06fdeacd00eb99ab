import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asProfileId, asSourceId, DEFAULT_WORKSPACE } from '../../src/core/ids.ts';
import {
  heldBodyOf,
  type NormalizeContext,
  normalizeMessage,
  systemTrack,
} from '../../src/ingest/normalize.ts';
import { compactCommit, projectSubmitted } from '../../src/segments/compact.ts';
import { compileDefinitions } from '../../src/segments/engine-host.ts';
import { Registry } from '../../src/segments/registry.ts';
import type { CommitChanges } from '../../src/store/port.ts';

const ANNOUNCER = asSourceId('src_segments');
const CLIENT = asSourceId('src_web');
const ctx = (sourceId: typeof ANNOUNCER): NormalizeContext => ({
  workspaceId: DEFAULT_WORKSPACE,
  sourceId,
  receivedAt: 1_790_000_000_000,
  newMessageId: () => 'unused',
});
const track = (sourceId: typeof ANNOUNCER, event: string, userId: string, n: number) =>
  systemTrack(
    {
      event,
      userId,
      anonymousId: null,
      properties: { segment_key: 'k', revenue: 10 },
      at: 1_790_000_000_000 + n,
      messageId: `m${n}`,
      context: {},
    },
    ctx(sourceId),
  );

function registry(segments: Record<string, unknown>): Registry {
  const reg = compileDefinitions({ segments: Object.entries(segments), computed: [] });
  assert.ok(reg instanceof Registry, JSON.stringify(reg));
  return reg;
}

test("the engine's own announcements are left out of a commit unless a definition reads them", () => {
  const events = [
    track(CLIENT, 'Order Completed', 'ann', 1),
    track(ANNOUNCER, 'Segment Entered', 'ann', 2),
    track(CLIENT, 'Segment Entered', 'bob', 3),
    track(ANNOUNCER, 'Segment Exited', 'bob', 4),
  ];
  const changes: CommitChanges = {
    profiles: ['p-ann', 'p-ann', 'p-bob', null].map((p) => (p === null ? null : asProfileId(p))),
    merges: [],
    traits: [],
  };
  const before = [...changes.profiles];

  const plain = compactCommit(registry({ buyers: { event: 'Order Completed' } }), events, changes, ANNOUNCER);
  // The announcement is left out as a duplicate is; the same name from a client is kept; the
  // duplicate stays one.
  assert.deepEqual(plain.profiles, ['p-ann', null, 'p-bob', null]);
  assert.deepEqual(plain.userIds, ['ann', null, 'bob', 'bob']);
  assert.deepEqual(plain.facts.at, [0]);
  // The store's changes are not touched (other listeners read them).
  assert.deepEqual(changes.profiles, before);

  // A definition reads announcements: they are facts like any event.
  const reads = compactCommit(
    registry({ buyers: { event: 'Order Completed' }, joined: { event: 'Segment Entered' } }),
    events,
    changes,
    ANNOUNCER,
  );
  assert.deepEqual(reads.profiles, ['p-ann', 'p-ann', 'p-bob', null]);
  assert.deepEqual(reads.facts.at, [0, 1, 2]);

  // Without an announcer, nothing is left out.
  assert.deepEqual(
    compactCommit(registry({ buyers: { event: 'Order Completed' } }), events, changes).profiles,
    before,
  );
});

test('values worked out at submission are the values read from the message; another registry reads the message', () => {
  const client = (n: number, category: string, revenue: number, event = 'Order Completed') =>
    normalizeMessage(
      { event, userId: `u${n}`, messageId: `c${n}`, properties: { category, revenue, note: 'x'.repeat(50) } },
      'track',
      ctx(CLIENT),
    );
  const batch = () => [
    client(1, 'Running', 80),
    client(2, 'Yoga', 20, 'Product Viewed'),
    client(3, 'Home', 60),
  ];
  const changes: CommitChanges = {
    profiles: ['p1', 'p2', 'p3'].map(asProfileId),
    merges: [],
    traits: [],
  };
  const reg = registry({
    big: { event: 'Order Completed', where: [{ property: 'revenue', op: 'gt', value: 50 }] },
    yoga: { event: 'Product Viewed', where: [{ property: 'category', op: 'eq', value: 'Yoga' }] },
  });
  const expected = compactCommit(reg, batch(), changes);
  assert.deepEqual(expected.facts.at, [0, 1, 2]);

  const submitted = batch();
  projectSubmitted(reg, submitted);
  // The events no longer hold their parsed messages; what the engine reads is kept instead.
  assert.ok(submitted.every((e) => heldBodyOf(e) === undefined));
  assert.deepEqual(compactCommit(reg, submitted, changes), expected);

  // Definitions changed between submission and commit: the values come from the stored message.
  const other = registry({
    running: { event: 'Order Completed', where: [{ property: 'category', op: 'eq', value: 'Running' }] },
  });
  assert.deepEqual(compactCommit(other, submitted, changes), compactCommit(other, batch(), changes));
  assert.notDeepEqual(compactCommit(other, submitted, changes).facts.values, expected.facts.values);
});
