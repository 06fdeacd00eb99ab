/**
 * The write-ahead log buffer (native/walbuf.c): the log's frames reach the file whole and in
 * order, other connections see every commit, a reopened file holds everything, and a connection
 * that does not sync its commits cannot turn the buffer on.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { openWalBuffered, walBufferStatus } from '../../src/store/sqlite/wal-buffer.ts';

const dir = mkdtempSync(join(tmpdir(), 'concierge-wal-buffer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the buffer is built and loads (npm ci builds it)', () => {
  assert.deepEqual(walBufferStatus(), { ok: true });
});

test('commits of every size reach the log whole: another connection and a reopened file read them all', () => {
  const path = join(dir, 'sizes.db');
  const { db, buffered } = openWalBuffered(path);
  assert.equal(buffered, true);
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  db.pragma('wal_autocheckpoint = 0');
  const reader = new Database(path, { readonly: true });
  const insert = db.prepare('INSERT INTO t (body) VALUES (?)');
  const count = reader.prepare('SELECT count(*) AS n, coalesce(sum(length(body)), 0) AS bytes FROM t');
  let rows = 0;
  let bytes = 0;
  // One row, then commits that fill the buffer partly, exactly, and many times over (5 MB).
  for (const [n, size] of [
    [1, 10],
    [20, 3_000],
    [31, 4_000],
    [200, 5_000],
    [1_000, 5_000],
  ] as const) {
    db.transaction(() => {
      for (let i = 0; i < n; i++) insert.run(String.fromCharCode(97 + (i % 26)).repeat(size));
    })();
    rows += n;
    bytes += n * size;
    // The reader's snapshot starts after the commit: it reads the new frames from the file.
    assert.deepEqual(count.get(), { n: rows, bytes });
  }
  assert.ok(statSync(`${path}-wal`).size > 5_000_000, 'the commits are still in the write-ahead log');
  reader.close();
  db.close();
  const reopened = new Database(path, { readonly: true });
  assert.deepEqual(reopened.prepare('SELECT count(*) AS n, sum(length(body)) AS bytes FROM t').get(), {
    n: rows,
    bytes,
  });
  assert.equal(reopened.pragma('integrity_check', { simple: true }), 'ok');
  reopened.close();
});

test('a rolled-back transaction that spilled pages to the log leaves nothing behind', () => {
  const path = join(dir, 'spill.db');
  const { db } = openWalBuffered(path);
  db.pragma('cache_size = 16');
  db.exec('CREATE TABLE t (body TEXT)');
  const insert = db.prepare('INSERT INTO t VALUES (?)');
  assert.throws(() =>
    db.transaction(() => {
      for (let i = 0; i < 2_000; i++) insert.run('x'.repeat(1_000));
      throw new Error('rolled back');
    })(),
  );
  db.transaction(() => {
    for (let i = 0; i < 10; i++) insert.run('kept');
  })();
  db.close();
  const reopened = new Database(path, { readonly: true });
  assert.equal(reopened.prepare('SELECT count(*) FROM t').pluck().get(), 10);
  assert.equal(reopened.pragma('integrity_check', { simple: true }), 'ok');
  reopened.close();
});

test('a connection that does not sync its commits cannot have the buffer', () => {
  walBufferStatus();
  const db = new Database(join(dir, 'normal.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  assert.equal(db.pragma('concierge_wal_buffer = on', { simple: true }), '0');
  db.pragma('synchronous = FULL');
  assert.equal(db.pragma('concierge_wal_buffer', { simple: true }), '1');
  db.pragma('synchronous = NORMAL');
  assert.equal(db.pragma('concierge_wal_buffer', { simple: true }), '0');
  db.close();
});

test('the store writes its log through the buffer, and CONCIERGE_WAL_BUFFER=off turns it off', async () => {
  const store = new SqliteStore({ path: join(dir, 'store.db') });
  assert.equal(store.walBuffered, true);
  await store.close();
  const child = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `import { SqliteStore } from ${JSON.stringify(new URL('../../src/store/sqlite/sqlite-store.ts', import.meta.url).href)};
       const s = new SqliteStore({ path: ${JSON.stringify(join(dir, 'off.db'))} });
       console.log(JSON.stringify(s.walBuffered)); await s.close();`,
    ],
    { env: { ...process.env, CONCIERGE_WAL_BUFFER: 'off' }, encoding: 'utf8' },
  );
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), 'false');
});
