/**
 * The event index in a file of its own: written by a thread of its own with every answer exact
 * meanwhile; moved out of the log's file by the upgrade; rebuilt when lost; emptied when it
 * belongs to another log.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { hash53, hash53Joined } from '../../src/core/hash53.ts';
import { asSourceId, asWorkspaceId } from '../../src/core/ids.ts';
import { normalizeMessage } from '../../src/ingest/normalize.ts';
import { DEFAULT_IDENTITY } from '../../src/store/port.ts';
import { indexPathOf } from '../../src/store/sqlite/index-file.ts';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'concierge-index-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ws = asWorkspaceId('ws_index_file');
const source = asSourceId('src_index_file');
const identity = () => DEFAULT_IDENTITY;
const personOf = (messageId: string): string => `u-${hash53(messageId) % 20}`;
const track = (messageId: string) =>
  normalizeMessage({ userId: personOf(messageId), event: 'Clicked', messageId }, 'track', {
    workspaceId: ws,
    sourceId: source,
    receivedAt: Date.UTC(2026, 0, 1),
    newMessageId: randomUUID,
  });

async function append(store: SqliteStore, ids: readonly string[]) {
  const [outcome] = await store.appendEvents([ids.map(track)], identity);
  return outcome!;
}

/** The message ids on one person's timeline, sorted, after checking they are newest first. */
async function timelineOf(store: SqliteStore, person: string): Promise<string[]> {
  const p = await store.findProfile(ws, 'user_id', person);
  if (!p) return [];
  const page = await store.listEvents(ws, p.id, 100_000, null);
  const seqs = page.events.map((e) => e.seq);
  assert.deepEqual(
    seqs,
    [...seqs].sort((a, b) => b - a),
  );
  return page.events.map((e) => e.messageId).sort();
}

const internalsOf = (store: SqliteStore) =>
  store as unknown as { index: { indexedSeq(): number; pending: number } };

/** Entries in the index's runs: `profile` (24 bytes each) or `message` (16 bytes each). */
const entries = (path: string, kind: 'profile' | 'message'): unknown =>
  indexRead(
    path,
    `SELECT coalesce(sum(length(data)), 0) / ${kind === 'profile' ? 24 : 16} FROM ${kind}_chunks`,
  );

const indexRead = (path: string, sql: string): unknown => {
  const db = new Database(indexPathOf(path), { readonly: true });
  try {
    return db.prepare(sql).pluck().get();
  } finally {
    db.close();
  }
};

test('a thread of its own writes the index while the writer commits, and every answer stays exact', async () => {
  const path = join(dir, 'threaded.db');
  const store = new SqliteStore({ path, indexBatch: 500, indexThread: true });
  await store.ensureWorkspace(ws, 'index');
  const internals = store as unknown as { indexer: unknown; index: { indexedSeq(): number } };
  const sent: string[] = [];
  /** Waits (up to 30 s: a loaded machine starts threads slowly) until the thread has indexed `seq`. */
  const indexedUpTo = async (seq: number) => {
    const deadline = Date.now() + 30_000;
    while (internals.index.indexedSeq() < seq) {
      assert.ok(
        Date.now() < deadline,
        `the index thread reached ${internals.index.indexedSeq()}, not ${seq}`,
      );
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  for (let commit = 0; commit < 40; commit++) {
    const ids = Array.from({ length: 100 }, (_, i) => `t-${commit}-${i}`);
    // Each commit retries earlier messages: in the tail, with the thread, or in the index.
    const retries = sent.filter((_, i) => i % 89 === commit % 89).slice(0, 10);
    assert.deepEqual(await append(store, [...retries, ...ids]), { stored: 100, duplicates: retries.length });
    sent.push(...ids);
    const person = personOf('t-0-0');
    assert.deepEqual(await timelineOf(store, person), sent.filter((id) => personOf(id) === person).sort());
    // Halfway, let the thread catch up, so the later retries find indexed messages too.
    if (commit === 20) await indexedUpTo(2_000);
  }
  assert.ok(internals.indexer !== null, 'the indexer thread failed and the writer took over');
  // Written by the thread while the store is open, not by the close.
  await indexedUpTo(3_500);
  await store.close();
  // Closed: the index reaches the end of the log, in its own file, with one entry per event.
  assert.equal(indexRead(path, "SELECT value FROM meta WHERE key = 'indexed_seq'"), 4_000);
  assert.equal(entries(path, 'message'), 4_000);
  assert.equal(entries(path, 'profile'), 4_000);
});

test('erasure while the thread holds a pass leaves no index entry of the erased events', async () => {
  const path = join(dir, 'threaded-erase.db');
  const store = new SqliteStore({ path, indexBatch: 200, indexThread: true });
  await store.ensureWorkspace(ws, 'index');
  const ids = Array.from({ length: 1_000 }, (_, i) => `e-${i}`);
  for (let i = 0; i < ids.length; i += 100) await append(store, ids.slice(i, i + 100));
  const person = personOf('e-0');
  const profile = await store.findProfile(ws, 'user_id', person);
  assert.ok(profile);
  const theirs = ids.filter((id) => personOf(id) === person);
  assert.equal((await store.eraseProfile(ws, profile.id))?.events, theirs.length);
  // The erased ids are new again; everyone else's are still duplicates.
  assert.deepEqual(await append(store, [theirs[0]!, ids.find((id) => personOf(id) !== person)!]), {
    stored: 1,
    duplicates: 1,
  });
  await store.close();
  assert.equal(entries(path, 'profile'), 1_000 - theirs.length + 1);
  assert.equal(entries(path, 'message'), 1_000 - theirs.length + 1);
});

test('the upgrade moves the index out of the log file; a lost index is rebuilt; one ahead of the log or of another log is emptied', async () => {
  const path = join(dir, 'upgrade.db');
  const ids = Array.from({ length: 2_000 }, (_, i) => `u-${i}`);
  let store = new SqliteStore({ path });
  await store.ensureWorkspace(ws, 'index');
  await append(store, ids.slice(0, 1_500));
  await store.close();
  const expected = (person: string, upTo: number) =>
    ids
      .slice(0, upTo)
      .filter((id) => personOf(id) === person)
      .sort();

  // Put the database back in the layout before migration 2: index tables (B-trees, as they were
  // then) in the log's file.
  const db = new Database(path);
  db.exec(`
    CREATE TABLE profile_events (profile_hash INTEGER NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL,
      PRIMARY KEY (profile_hash, ts, seq)) WITHOUT ROWID;
    CREATE TABLE message_ids (message_hash INTEGER NOT NULL, seq INTEGER NOT NULL,
      PRIMARY KEY (message_hash, seq)) WITHOUT ROWID;`);
  const byProfile = db.prepare('INSERT INTO profile_events VALUES (?, ?, ?)');
  const byMessage = db.prepare('INSERT INTO message_ids VALUES (?, ?)');
  db.transaction(() => {
    const rows = db.prepare('SELECT seq, profile_id, source_id, message_id, ts FROM events').all() as {
      seq: number;
      profile_id: string;
      source_id: string;
      message_id: string;
      ts: number;
    }[];
    for (const r of rows) {
      byProfile.run(hash53(r.profile_id), r.ts, r.seq);
      byMessage.run(hash53Joined(r.source_id, r.message_id), r.seq);
    }
  })();
  db.exec(`
    INSERT INTO main.meta (key, value) VALUES ('indexed_seq', 1500);
    DELETE FROM main.meta WHERE key = 'log_id';
    DROP TABLE counts;
    DROP TRIGGER profile_counted;
    DROP TRIGGER profile_uncounted;
    DELETE FROM schema_migrations WHERE version > 1;`);
  db.close();
  assert.equal(SQLITE_MIGRATIONS[1]?.name, 'index in its own file');
  rmSync(indexPathOf(path));

  store = new SqliteStore({ path, indexBatch: Number.MAX_SAFE_INTEGER });
  // Copied, not rebuilt: the index file reaches the end of the log before any pass.
  assert.equal(internalsOf(store).index.indexedSeq(), 1_500);
  assert.equal(internalsOf(store).index.pending, 0);
  const tables = new Database(path, { readonly: true });
  assert.equal(
    tables
      .prepare("SELECT count(*) FROM sqlite_master WHERE name IN ('profile_events', 'message_ids')")
      .pluck()
      .get(),
    0,
  );
  tables.close();
  assert.deepEqual(await append(store, ids.slice(1_400, 1_800)), { stored: 300, duplicates: 100 });
  for (const person of ['u-1', 'u-7'])
    assert.deepEqual(await timelineOf(store, person), expected(person, 1_800));
  await store.close();

  // Lost: rebuilt from the log at the next start.
  rmSync(indexPathOf(path));
  store = new SqliteStore({ path, indexBatch: Number.MAX_SAFE_INTEGER, catchUpChunk: 300 });
  // Indexed 300 at a time before the store serves, leaving fewer than 300 in memory.
  assert.equal(internalsOf(store).index.indexedSeq(), 1_800 - (1_800 % 300));
  assert.equal(internalsOf(store).index.pending, 1_800 % 300);
  assert.deepEqual(await append(store, ids.slice(1_700, 2_000)), { stored: 200, duplicates: 100 });
  for (const person of ['u-1', 'u-7'])
    assert.deepEqual(await timelineOf(store, person), expected(person, 2_000));
  await store.close();
  assert.equal(entries(path, 'message'), 2_000);

  // Ahead: the log restored from an earlier copy, beside the index of a later moment.
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}.copy${suffix}`, { force: true });
  copyFileSync(path, `${path}.copy`);
  store = new SqliteStore({ path, indexBatch: Number.MAX_SAFE_INTEGER });
  assert.deepEqual(await append(store, ['late-1', 'late-2']), { stored: 2, duplicates: 0 });
  await store.close();
  assert.equal(indexRead(path, "SELECT value FROM meta WHERE key = 'indexed_seq'"), 2_002);
  copyFileSync(`${path}.copy`, path);
  store = new SqliteStore({ path, indexBatch: Number.MAX_SAFE_INTEGER });
  // The late events are not in this log: new again, and on the timeline once each.
  assert.deepEqual(await append(store, ['late-2', 'late-3']), { stored: 2, duplicates: 0 });
  const late = personOf('late-2');
  assert.deepEqual(
    await timelineOf(store, late),
    [...expected(late, 2_000), 'late-2', ...(personOf('late-3') === late ? ['late-3'] : [])].sort(),
  );
  await store.close();
  assert.equal(entries(path, 'message'), 2_002);

  // Foreign: a new log beside the old index file starts from an empty index.
  const stale = indexPathOf(path);
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
  assert.ok(existsSync(stale));
  store = new SqliteStore({ path, indexBatch: Number.MAX_SAFE_INTEGER });
  await store.ensureWorkspace(ws, 'index');
  assert.deepEqual(await append(store, ids.slice(0, 10)), { stored: 10, duplicates: 0 });
  assert.deepEqual(await timelineOf(store, personOf('u-0')), expected(personOf('u-0'), 10));
  await store.close();
  assert.equal(entries(path, 'message'), 10);
});

test('passes become runs that merge level by level; answers stay exact across merges, erasure and an index of the earlier layout', async () => {
  const path = join(dir, 'runs.db');
  // Passes of 100 events, one per commit (carried by the commits, so their number is certain).
  const store = new SqliteStore({ path, indexBatch: 100 });
  await store.ensureWorkspace(ws, 'index');
  const ids = Array.from({ length: 8_000 }, (_, i) => `r-${i}`);
  for (let i = 0; i < ids.length; i += 100) await append(store, ids.slice(i, i + 100));
  await store.close();
  const levels = new Database(indexPathOf(path), { readonly: true });
  const runs = levels
    .prepare('SELECT level, count(*) AS n FROM runs GROUP BY level ORDER BY level')
    .all() as {
    level: number;
    n: number;
  }[];
  levels.close();
  // 80 passes: 64 of them in one run of level 2, 16 in two of level 1, none left at level 0.
  assert.deepEqual(runs, [
    { level: 1, n: 2 },
    { level: 2, n: 1 },
  ]);
  assert.equal(entries(path, 'profile'), 8_000);
  assert.equal(entries(path, 'message'), 8_000);

  const reopened = new SqliteStore({ path, indexBatch: 100, indexThread: true });
  // Every message is found, wherever its run went; each person's timeline is whole.
  assert.deepEqual(
    await append(
      reopened,
      ids.filter((_, i) => i % 97 === 0),
    ),
    {
      stored: 0,
      duplicates: Math.ceil(8_000 / 97),
    },
  );
  for (const person of ['u-3', 'u-11'])
    assert.deepEqual(await timelineOf(reopened, person), ids.filter((id) => personOf(id) === person).sort());
  const gone = await reopened.findProfile(ws, 'user_id', 'u-5');
  assert.ok(gone);
  const theirs = ids.filter((id) => personOf(id) === 'u-5');
  assert.equal((await reopened.eraseProfile(ws, gone.id))?.events, theirs.length);
  await reopened.close();
  assert.equal(entries(path, 'profile'), 8_000 - theirs.length);
  assert.equal(entries(path, 'message'), 8_000 - theirs.length);

  // An index file of the earlier layout (B-trees of entries) is converted into one run, not rebuilt.
  const old = new Database(indexPathOf(path));
  old.exec(`
    DROP TABLE runs; DROP TABLE profile_chunks; DROP TABLE message_chunks;
    CREATE TABLE profile_events (profile_hash INTEGER NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL,
      PRIMARY KEY (profile_hash, ts, seq)) WITHOUT ROWID;
    CREATE TABLE message_ids (message_hash INTEGER NOT NULL, seq INTEGER NOT NULL,
      PRIMARY KEY (message_hash, seq)) WITHOUT ROWID;`);
  const log = new Database(path, { readonly: true });
  const rows = log.prepare('SELECT seq, profile_id, source_id, message_id, ts FROM events').all() as {
    seq: number;
    profile_id: string;
    source_id: string;
    message_id: string;
    ts: number;
  }[];
  log.close();
  const byProfile = old.prepare('INSERT INTO profile_events VALUES (?, ?, ?)');
  const byMessage = old.prepare('INSERT INTO message_ids VALUES (?, ?)');
  old.transaction(() => {
    for (const r of rows) {
      byProfile.run(hash53(r.profile_id), r.ts, r.seq);
      byMessage.run(hash53Joined(r.source_id, r.message_id), r.seq);
    }
  })();
  old.close();
  const converted = new SqliteStore({ path, indexBatch: Number.MAX_SAFE_INTEGER });
  assert.equal(internalsOf(converted).index.pending, 0);
  assert.deepEqual(await append(converted, [ids[1]!, ids[7_999]!, 'r-new']), { stored: 1, duplicates: 2 });
  assert.deepEqual(await timelineOf(converted, 'u-3'), ids.filter((id) => personOf(id) === 'u-3').sort());
  await converted.close();
  assert.equal(indexRead(path, "SELECT count(*) FROM sqlite_master WHERE name = 'profile_events'"), 0);
});
