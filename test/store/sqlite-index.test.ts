/**
 * The SQLite log's index is filled in pieces when the unindexed tail is long: reads and
 * de-duplication stay exact whatever part of the log is indexed yet.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { asSourceId, asWorkspaceId } from '../../src/core/ids.ts';
import { normalizeMessage } from '../../src/ingest/normalize.ts';
import { DEFAULT_IDENTITY } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

test('a long tail is indexed in pieces; timelines and de-duplication stay exact meanwhile', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'concierge-index-'));
  const store = new SqliteStore({ path: join(dir, 'index.db'), indexBatch: 12_000 });
  try {
    const ws = asWorkspaceId('default');
    await store.ensureWorkspace(ws, 'Default');
    const ctx = {
      workspaceId: ws,
      sourceId: asSourceId('src_index'),
      receivedAt: Date.now(),
      newMessageId: randomUUID,
    };
    const ids: string[] = [];
    for (let c = 0; c < 26; c++) {
      const batch = Array.from({ length: 1000 }, (_, k) => {
        const messageId = `m-${c}-${k}`;
        ids.push(messageId);
        return normalizeMessage({ userId: `u-${k % 50}`, event: 'Viewed', messageId }, 'track', ctx);
      });
      const [outcome] = await store.appendEvents([batch], () => DEFAULT_IDENTITY);
      assert.deepEqual(outcome, { stored: 1000, duplicates: 0 });
    }
    // Let the queued pieces run, then retry messages from the indexed part and from the tail.
    await store.appendEvents([[]], () => DEFAULT_IDENTITY);
    const retries = [ids[5]!, ids[15_000]!, ids[25_999]!].map((messageId) =>
      normalizeMessage({ userId: 'u-1', event: 'Viewed', messageId }, 'track', ctx),
    );
    assert.deepEqual(await store.appendEvents([retries], () => DEFAULT_IDENTITY), [
      { stored: 0, duplicates: 3 },
    ]);
    const p = await store.findProfile(ws, 'user_id', 'u-7');
    assert.ok(p);
    const page = await store.listEvents(ws, p.id, 1000, null);
    assert.equal(page.events.length, 26_000 / 50);
    assert.equal(new Set(page.events.map((e) => e.messageId)).size, 520);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
