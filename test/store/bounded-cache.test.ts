/**
 * The writer's caches: a bounded cache keeps what was used lately and forgets the rest, and the
 * embedded store answers the same whether its caches hold everything, roll over every few
 * entries, or start cold after a reopen.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { NormalizedEvent } from '../../src/core/event.ts';
import { asSourceId, asWorkspaceId } from '../../src/core/ids.ts';
import { normalizeMessage } from '../../src/ingest/normalize.ts';
import { BoundedCache } from '../../src/store/bounded-cache.ts';
import { DEFAULT_IDENTITY } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'concierge-cache-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a bounded cache keeps recently used entries and holds at most two generations', () => {
  const c = new BoundedCache<string, number>(2);
  c.set('a', 1);
  c.set('b', 2);
  c.set('c', 3); // a and b age
  assert.equal(c.get('a'), 1); // used again: young once more
  c.set('d', 4); // c and a age; b is dropped
  assert.equal(c.get('b'), undefined);
  assert.equal(c.get('a'), 1);
  assert.equal(c.get('c'), 3);
  assert.ok(c.size <= 4);
  c.set('a', 10);
  c.set('e', 5);
  c.set('f', 6);
  c.set('g', 7);
  assert.equal(c.get('a'), undefined, 'a newer value ages out whole, never back to the older one');
  c.delete('g');
  assert.equal(c.get('g'), undefined);
  c.clear();
  assert.equal(c.size, 0);
});

const WS = asWorkspaceId('ws_cache');
const ctx = {
  workspaceId: WS,
  sourceId: asSourceId('src_cache'),
  receivedAt: Date.UTC(2026, 0, 1),
  newMessageId: () => 'unused',
};

/** Identifies with traits and consent, sent out of time order, by a dozen people who never merge. */
function history(): NormalizedEvent[][] {
  const commits: NormalizedEvent[][] = [];
  let n = 0;
  let seed = 7;
  const rand = (k: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return Math.floor((seed / 2147483648) * k);
  };
  for (let c = 0; c < 40; c++) {
    const events: NormalizedEvent[] = [];
    for (let i = 0; i < 10; i++) {
      const person = rand(PEOPLE);
      const m = n++;
      const ids =
        person % 3 === 0
          ? { anonymousId: `a${person}` }
          : { userId: `u${person}`, anonymousId: `a${person}` };
      const traits: Record<string, unknown> = { [`k${rand(6)}`]: m };
      if (rand(2) === 0) traits[`k${rand(6)}`] = `v${m}`;
      events.push(
        normalizeMessage(
          {
            type: 'identify',
            messageId: `m${String(m).padStart(4, '0')}`,
            ...ids,
            timestamp: new Date(Date.UTC(2026, 0, 1) + rand(50) * 1000).toISOString(),
            traits,
            context: rand(4) === 0 ? { consent: { categoryPreferences: { ads: rand(2) === 0 } } } : {},
          },
          'identify',
          ctx,
        ),
      );
    }
    commits.push(events);
  }
  return commits;
}

const PEOPLE = 12;

/** What each person's traits and consent must be: per key, the value of the newest call. */
function expected(commits: NormalizedEvent[][]): { traits: object; consent: object }[] {
  const newestFirst = commits
    .flat()
    .sort((a, b) => b.timestamp - a.timestamp || (a.messageId < b.messageId ? 1 : -1));
  return Array.from({ length: PEOPLE }, (_, p) => {
    const traits: Record<string, unknown> = {};
    const consent: Record<string, unknown> = {};
    for (const ev of newestFirst) {
      if (ev.anonymousId !== `a${p}`) continue;
      for (const [k, v] of Object.entries(ev.traits)) if (!(k in traits)) traits[k] = v;
      for (const [k, v] of Object.entries(ev.consent ?? {})) if (!(k in consent)) consent[k] = v;
    }
    return { traits: { email: undefined, ...traits }, consent };
  });
}

async function profiles(store: SqliteStore): Promise<{ traits: object; consent: object }[]> {
  const out = [];
  for (let p = 0; p < PEOPLE; p++) {
    const found = await store.findProfile(WS, 'anonymous_id', `a${p}`);
    assert.ok(found, `person ${p} has a profile`);
    out.push({ traits: { email: undefined, ...found.traits }, consent: found.consent });
  }
  return out;
}

test('traits and consent come out right with caches that roll over constantly, and after a cold reopen', async () => {
  const commits = history();
  const want = expected(commits);
  for (const cacheSize of [1_000_000, 2]) {
    const path = join(dir, `cache-${cacheSize}.db`);
    const store = new SqliteStore({ path, cacheSize });
    await store.ensureWorkspace(WS, 'cache');
    for (const events of commits) await store.append([events], () => DEFAULT_IDENTITY, true);
    assert.deepEqual(await profiles(store), want, `cache of ${cacheSize}`);
    await store.close();
    const reopened = new SqliteStore({ path, cacheSize });
    // One more call per person after the cold start must still keep every older key.
    const more = Array.from({ length: PEOPLE }, (_, p) =>
      normalizeMessage(
        {
          type: 'identify',
          messageId: `late-${p}`,
          anonymousId: `a${p}`,
          timestamp: '2026-02-01T00:00:00.000Z',
          traits: { late: p },
        },
        'identify',
        ctx,
      ),
    );
    await reopened.append([more], () => DEFAULT_IDENTITY, true);
    const after = want.map((w, p) => ({ ...w, traits: { ...w.traits, late: p } }));
    assert.deepEqual(await profiles(reopened), after, `cache of ${cacheSize}, reopened`);
    await reopened.close();
  }
});

test('a user id and anonymous id remembered together follow their profile when it is merged away', async () => {
  const store = new SqliteStore({ path: join(dir, 'pairs.db') });
  await store.ensureWorkspace(WS, 'cache');
  const identity = () => ({ ...DEFAULT_IDENTITY, maxUserIdsPerProfile: 2 });
  let n = 0;
  const track = (ids: Record<string, string>) =>
    normalizeMessage({ type: 'track', event: 'Seen', messageId: `p${n++}`, ...ids }, 'track', ctx);
  const identify = (ids: Record<string, string>) =>
    normalizeMessage({ type: 'identify', messageId: `p${n++}`, ...ids }, 'identify', ctx);
  // Twice each, so the second event of each pair is answered from memory.
  const first = [track({ userId: 'u1', anonymousId: 'a1' }), track({ userId: 'u1', anonymousId: 'a1' })];
  const second = [track({ userId: 'u2', anonymousId: 'a2' }), track({ userId: 'u2', anonymousId: 'a2' })];
  const [one, same, two] = (await store.append([first, second], identity, true)).changes.profiles;
  assert.equal(same, one);
  assert.notEqual(one, two);
  // u2 with a1 merges the two profiles into one; then the remembered pair (u1, a1) must lead there.
  const merged = await store.append([[identify({ userId: 'u2', anonymousId: 'a1' })]], identity, true);
  assert.equal(merged.changes.merges.length, 1);
  const survivor = merged.changes.profiles[0]!;
  const after = await store.append([[track({ userId: 'u1', anonymousId: 'a1' })]], identity, true);
  assert.equal(after.changes.profiles[0], survivor);
  const profile = await store.findProfile(WS, 'user_id', 'u1');
  assert.equal(profile?.id, survivor);
  assert.equal((await store.listEvents(WS, survivor, 10, null)).events.length, 6);
  await store.close();
});
