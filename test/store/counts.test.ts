/**
 * The SQLite store's counts of events and profiles are kept as it writes, not counted from the
 * log on each request; a database from before they were kept is counted once, at the upgrade.
 * (Merges are counted in the store contract suite.)
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { asSourceId, asWorkspaceId, type WorkspaceId } from '../../src/core/ids.ts';
import { normalizeMessage } from '../../src/ingest/normalize.ts';
import { DEFAULT_IDENTITY } from '../../src/store/port.ts';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'concierge-counts-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const source = asSourceId('src_counts');
const [a, b] = [asWorkspaceId('ws_counts_a'), asWorkspaceId('ws_counts_b')];

const track = (ws: WorkspaceId, userId: string, messageId = randomUUID()) =>
  normalizeMessage({ userId, event: 'Clicked', messageId }, 'track', {
    workspaceId: ws,
    sourceId: source,
    receivedAt: Date.UTC(2026, 0, 1),
    newMessageId: randomUUID,
  });

/** What counting the rows gives: the figure the kept counts must always equal. */
function counted(path: string, ws: WorkspaceId): { events: number; profiles: number } {
  const db = new Database(path, { readonly: true });
  try {
    const count = (table: string) =>
      db.prepare(`SELECT count(*) FROM ${table} WHERE workspace_id = ?`).pluck().get(ws) as number;
    return { events: count('events'), profiles: count('profiles') };
  } finally {
    db.close();
  }
}

test('counts follow appends, duplicates, failed commits and erasure, per workspace, and survive an upgrade', async () => {
  const path = join(dir, 'counts.db');
  let store = new SqliteStore({ path });
  for (const ws of [a, b]) await store.ensureWorkspace(ws, ws);
  assert.deepEqual(await store.counts(a), { events: 0, profiles: 0 });

  // One commit with both workspaces, more events than one multi-row INSERT takes.
  const first = Array.from({ length: 450 }, (_, i) => track(i % 3 === 0 ? b : a, `u-${i % 40}`));
  await store.appendEvents([first], () => DEFAULT_IDENTITY);
  // A retry is a duplicate, stored and counted once.
  await store.appendEvents([[first[0]!, first[1]!, track(a, 'u-new')]], () => DEFAULT_IDENTITY);
  for (const ws of [a, b]) assert.deepEqual(await store.counts(ws), counted(path, ws));
  assert.deepEqual(await store.counts(a), { events: 301, profiles: 41 });

  // A commit that fails after more than one multi-row INSERT changes no count, now or later.
  let calls = 0;
  const failing = Array.from({ length: 150 }, (_, i) => track(a, `u-rolled-back-${i}`));
  await assert.rejects(
    store.appendEvents([failing], () => {
      if (++calls > 140) throw new Error('identity settings unreadable');
      return DEFAULT_IDENTITY;
    }),
    /identity settings unreadable/,
  );
  assert.deepEqual(await store.counts(a), { events: 301, profiles: 41 });
  await store.appendEvents([[track(a, 'u-new')]], () => DEFAULT_IDENTITY);
  assert.deepEqual(await store.counts(a), { events: 302, profiles: 41 });
  assert.deepEqual(await store.counts(a), counted(path, a));

  // Erasure takes the person's events and profile off the counts.
  const gone = await store.findProfile(a, 'user_id', 'u-1');
  assert.ok(gone);
  const report = await store.eraseProfile(a, gone.id);
  assert.ok(report && report.events > 0);
  assert.deepEqual(await store.counts(a), { events: 302 - report.events, profiles: 40 });
  assert.deepEqual(await store.counts(a), counted(path, a));
  await store.close();

  // A database from before the counts were kept: the upgrade counts its rows once.
  const db = new Database(path);
  const version = SQLITE_MIGRATIONS.findIndex((m) => m.name === 'counts') + 1;
  db.exec(`DROP TABLE counts; DROP TRIGGER profile_counted; DROP TRIGGER profile_uncounted;
    DELETE FROM schema_migrations WHERE version = ${version};`);
  db.close();
  store = new SqliteStore({ path });
  for (const ws of [a, b]) assert.deepEqual(await store.counts(ws), counted(path, ws));
  await store.appendEvents([[track(b, 'u-later'), track(b, 'u-0')]], () => DEFAULT_IDENTITY);
  assert.deepEqual(await store.counts(b), counted(path, b));
  assert.deepEqual(await store.counts(asWorkspaceId('ws_counts_none')), { events: 0, profiles: 0 });
  await store.close();
});
