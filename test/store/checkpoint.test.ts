/**
 * Checkpoints under steady writes: the checkpoint thread copies the log beside the writer, follows
 * a long log with more checkpoints until one copies little, then asks the writer to copy the rest,
 * after which the writer's next transaction starts the log over.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import type { NormalizedEvent } from '../../src/core/event.ts';
import { asSourceId, asWorkspaceId } from '../../src/core/ids.ts';
import { normalizeMessage } from '../../src/ingest/normalize.ts';
import { DEFAULT_IDENTITY } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import {
  CHECKPOINT_FRAMES,
  startCheckpointer,
  stopCheckpointer,
} from '../../src/store/sqlite/threaded-sqlite-store.ts';
import { eventually } from '../helpers/eventually.ts';

const dir = mkdtempSync(join(tmpdir(), 'concierge-checkpoint-'));
after(() => rmSync(dir, { recursive: true, force: true }));

type Checkpoint = { busy: number; log: number; checkpointed: number };
const passive = (db: Database.Database) => (db.pragma('wal_checkpoint(PASSIVE)') as Checkpoint[])[0]!;

/** A database whose log holds `pages` pages or so, its writer kept open (the log stays). */
function withLog(name: string, pages: number): Database.Database {
  const db = new Database(join(dir, name));
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE t (b BLOB)');
  const insert = db.prepare('INSERT INTO t VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < pages; i++) insert.run(randomBytes(3000));
  })();
  return db;
}

test('the checkpoint thread copies a long log and asks the writer to finish; a short one it copies alone', async () => {
  const long = withLog('long.db', CHECKPOINT_FRAMES.long + 500);
  const short = withLog('short.db', 100);
  let longBehind = 0;
  let shortBehind = 0;
  const a = await startCheckpointer(join(dir, 'long.db'), () => longBehind++);
  const b = await startCheckpointer(join(dir, 'short.db'), () => shortBehind++);
  try {
    await eventually(
      'the writer asked to finish',
      () => longBehind,
      (n) => n > 0,
    );
    // Both logs were copied whole by the thread: a checkpoint now finds nothing left.
    for (const db of [long, short]) {
      const r = passive(db);
      assert.equal(r.checkpointed, r.log);
    }
    // Three ticks of the short log's thread went by without a word to the writer.
    await new Promise((r) => setTimeout(r, 1600));
    assert.equal(shortBehind, 0);
  } finally {
    await stopCheckpointer(a);
    await stopCheckpointer(b);
    long.close();
    short.close();
  }
});

const WS = asWorkspaceId('ws_ckpt');
const ctx = {
  workspaceId: WS,
  sourceId: asSourceId('src_ckpt'),
  receivedAt: Date.UTC(2026, 0, 1),
  newMessageId: () => 'unused',
};
let n = 0;
function events(count: number): NormalizedEvent[] {
  return Array.from({ length: count }, () => {
    const m = n++;
    return normalizeMessage(
      {
        event: 'Product Viewed',
        userId: `u${m % 50}`,
        messageId: `m${m}`,
        properties: { sku: `sku-${m}`, note: 'x'.repeat(400) },
        timestamp: '2026-01-01T00:00:00.000Z',
      },
      'track',
      ctx,
    );
  });
}

test("the writer's finishing checkpoint reaches the end of the log, and its next commit starts the log over", async () => {
  const path = join(dir, 'store.db');
  const store = new SqliteStore({ path });
  const other = new Database(path);
  try {
    for (let i = 0; i < 20; i++) await store.append([events(100)], () => DEFAULT_IDENTITY, false);
    // A checkpoint beside the writer, then commits it did not see.
    passive(other);
    for (let i = 0; i < 5; i++) await store.append([events(100)], () => DEFAULT_IDENTITY, false);
    const before = passive(other);
    assert.ok(before.log > 100, `the log holds ${before.log} frames`);
    for (let i = 0; i < 5; i++) await store.append([events(100)], () => DEFAULT_IDENTITY, false);

    await store.finishCheckpoint();
    // Read only after the writer's next commit: a checkpoint from here would copy what is left
    // itself, with the writer idle, and the log would start over without the writer's help.
    await store.append([events(1)], () => DEFAULT_IDENTITY, false);
    const restarted = passive(other);
    assert.ok(restarted.log < 20, `the log started over: ${restarted.log} frames, ${before.log} before`);
    assert.equal((await store.counts(WS)).events, 3001);
  } finally {
    other.close();
    await store.close();
  }
});
