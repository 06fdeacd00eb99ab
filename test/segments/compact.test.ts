import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asProfileId, asSourceId, DEFAULT_WORKSPACE } from '../../src/core/ids.ts';
import { type NormalizeContext, systemTrack } from '../../src/ingest/normalize.ts';
import { compactCommit } from '../../src/segments/compact.ts';
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
