/**
 * The embedded store's event index: de-duplication stays exact whether a message is in the
 * unindexed tail, in the index tables, or in a store reopened while its message filter is still
 * being read; the filter never says "no" to a hash it was given.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { hash53, hash53Joined } from '../../src/core/hash53.ts';
import { asSourceId, asWorkspaceId } from '../../src/core/ids.ts';
import { normalizeMessage } from '../../src/ingest/normalize.ts';
import { DEFAULT_IDENTITY } from '../../src/store/port.ts';
import { orderBy } from '../../src/store/sqlite/index-file.ts';
import { MessageFilter } from '../../src/store/sqlite/message-filter.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'concierge-index-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ws = asWorkspaceId('ws_index');
const source = asSourceId('src_index');
const identity = () => DEFAULT_IDENTITY;
const track = (messageId: string, user: string) =>
  normalizeMessage({ userId: user, event: 'Clicked', messageId }, 'track', {
    workspaceId: ws,
    sourceId: source,
    receivedAt: Date.UTC(2026, 0, 1),
    newMessageId: randomUUID,
  });

/** Each message id belongs to one of 50 people, whatever commit carries it. */
const personOf = (messageId: string): string => `u-${hash53(messageId) % 50}`;

async function append(store: SqliteStore, ids: readonly string[]) {
  const [outcome] = await store.appendEvents([ids.map((id) => track(id, personOf(id)))], identity);
  return outcome!;
}

test('a message id is stored once, whether its first copy is in the tail, the index or a reopened store', async () => {
  const path = join(dir, 'dedup.db');
  const first = Array.from({ length: 3_000 }, (_, i) => `m-${i}`);
  let store = new SqliteStore({ path, indexBatch: Number.MAX_SAFE_INTEGER, filterStep: 500 });
  await store.ensureWorkspace(ws, 'index');
  assert.deepEqual(await append(store, first), { stored: 3_000, duplicates: 0 });
  // In the tail: every copy is a duplicate.
  assert.deepEqual(await append(store, first.slice(0, 100)), { stored: 0, duplicates: 100 });
  assert.equal(store.indexNow(), 3_000);
  // Indexed: still duplicates; new ids are stored.
  assert.deepEqual(await append(store, [...first.slice(100, 200), 'new-1', 'new-2']), {
    stored: 2,
    duplicates: 100,
  });
  await store.close();

  // Reopened with a filter read 500 hashes at a time: exact while it loads and after.
  store = new SqliteStore({ path, indexBatch: Number.MAX_SAFE_INTEGER, filterStep: 500 });
  assert.deepEqual(await append(store, [...first.slice(2_900), 'new-1', 'new-3']), {
    stored: 1,
    duplicates: 101,
  });
  // Wait until the filter has read every indexed hash.
  const index = (store as unknown as { index: { filterLoading: boolean } }).index;
  const started = Date.now();
  while (index.filterLoading) {
    assert.ok(Date.now() - started < 10_000, 'the filter did not finish loading');
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.deepEqual(await append(store, [...first, 'new-4']), { stored: 1, duplicates: 3_000 });
  const counts = await store.counts(ws);
  assert.equal(counts.events, 3_000 + 2 + 1 + 1);
  await store.close();
});

test('an index pass carried by the commits keeps every answer exact while it runs, and completes', async () => {
  const path = join(dir, 'stepped.db');
  // A pass begins at 1,000 unindexed events and is spread over the commits that follow.
  const store = new SqliteStore({ path, indexBatch: 1_000 });
  await store.ensureWorkspace(ws, 'index');
  const indexedSeq = () => (store as unknown as { index: { indexedSeq(): number } }).index.indexedSeq();
  const sent: string[] = [];
  let advanced = 0;
  let last = indexedSeq();
  for (let commit = 0; commit < 60; commit++) {
    const ids = Array.from({ length: 100 }, (_, i) => `s-${commit}-${i}`);
    // Every commit also retries ten earlier messages: whichever part of the index holds them.
    const retries = sent.filter((_, i) => i % 97 === commit % 97).slice(0, 10);
    assert.deepEqual(await append(store, [...retries, ...ids]), { stored: 100, duplicates: retries.length });
    sent.push(...ids);
    if (indexedSeq() > last) advanced++;
    last = indexedSeq();
    // The timeline of one person is complete and in order at every step.
    const person = personOf('s-0-0');
    const p = await store.findProfile(ws, 'user_id', person);
    assert.ok(p);
    const page = await store.listEvents(ws, p.id, 10_000, null);
    assert.deepEqual(
      page.events.map((e) => e.messageId).sort(),
      sent.filter((id) => personOf(id) === person).sort(),
    );
    const seqs = page.events.map((e) => e.seq);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => b - a),
    );
  }
  assert.ok(advanced >= 3, `the index advanced in ${advanced} commits`);
  assert.ok(indexedSeq() > 4_000, `indexed up to ${indexedSeq()}`);
  assert.equal((await store.counts(ws)).events, 6_000);
  await store.close();
});

test('after erasure, the erased messages may be sent again (the filter only says maybe)', async () => {
  const path = join(dir, 'erase.db');
  const store = new SqliteStore({ path, indexBatch: Number.MAX_SAFE_INTEGER });
  await store.ensureWorkspace(ws, 'index');
  const ids = ['e-1', 'e-2', 'e-3'];
  await store.appendEvents([ids.map((id) => track(id, 'erased'))], identity);
  store.indexNow();
  const profile = await store.findProfile(ws, 'user_id', 'erased');
  assert.ok(profile);
  assert.equal((await store.eraseProfile(ws, profile.id))?.events, 3);
  const [again] = await store.appendEvents([ids.map((id) => track(id, 'erased'))], identity);
  assert.deepEqual(again, { stored: 3, duplicates: 0 });
  await store.close();
});

test('the message filter has no false "no", across its growth, and few false "maybe"', () => {
  const filter = new MessageFilter(1_000);
  const added: number[] = [];
  for (let i = 0; i < 200_000; i++) {
    const h = hash53(`src ${i}`);
    filter.add(h);
    added.push(h);
  }
  for (const h of added) assert.ok(filter.mayHave(h));
  let maybe = 0;
  for (let i = 0; i < 100_000; i++) if (filter.mayHave(hash53(`other ${i}`))) maybe++;
  // Several parts, each under 0.1 % when full: under 1 % together.
  assert.ok(maybe < 1_000, `${maybe} false maybes in 100,000`);
});

test("an index pass orders every entry once, by its hash's top 32 bits, ties as they came", () => {
  for (const n of [0, 1, 2, 1000, 70_000]) {
    // Few distinct hashes among many entries, so ties are common; full 53-bit range otherwise.
    const hashes = Array.from({ length: n }, (_, i) =>
      i % 3 === 0 ? hash53(`same-${i % 7}`) : hash53(`entry-${i}`),
    );
    const order = orderBy(hashes, (h) => h);
    const top = (h: number) => Math.floor(h / 2 ** 21);
    const expected = [...hashes.keys()].sort((a, b) => top(hashes[a]!) - top(hashes[b]!) || a - b);
    assert.deepEqual([...order], expected, `n = ${n}`);
  }
});

test('message keys hashed in two parts equal the hash of the joined string, so stored keys stay valid', () => {
  const parts = ['', 'src_1', 'a b', randomUUID(), 'é€𝄞', 'x'.repeat(300)];
  for (const a of parts)
    for (const b of parts) assert.equal(hash53Joined(a, b), hash53(`${a} ${b}`), `${a} | ${b}`);
});
