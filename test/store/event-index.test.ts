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
import { hash53 } from '../../src/core/hash53.ts';
import { asSourceId, asWorkspaceId } from '../../src/core/ids.ts';
import { normalizeMessage } from '../../src/ingest/normalize.ts';
import { DEFAULT_IDENTITY } from '../../src/store/port.ts';
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

async function append(store: SqliteStore, ids: readonly string[]) {
  const [outcome] = await store.appendEvents([ids.map((id, i) => track(id, `u-${i % 50}`))], identity);
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
  // Several parts, each under ~2 % when full.
  assert.ok(maybe < 10_000, `${maybe} false maybes in 100,000`);
});
