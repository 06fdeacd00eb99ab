/**
 * "A 200 means durable": the real server process is killed with SIGKILL in the middle of a
 * concurrent load. Every acknowledged event must be on disk exactly once after a restart, each
 * request's events must be all there or all missing, and retrying every request afterwards must
 * leave each messageId stored exactly once.
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { postTracking, type ServerProcess, spawnServer, status, tempDir } from '../helpers/server.ts';

const CLIENTS = 12;
const EVENTS_PER_REQUEST = 25;
/** Kill the server once this many requests were acknowledged (while the clients keep sending). */
const KILL_AFTER_ACKS = 120;

interface Request {
  readonly id: string;
  readonly body: { batch: Record<string, unknown>[]; sentAt: string };
  readonly messageIds: readonly string[];
}

const run = Math.random().toString(36).slice(2, 8);

/** A batch of mixed Segment calls with unique messageIds over a small population of people. */
function makeRequest(client: number, n: number): Request {
  const id = `${run}-c${client}-r${n}`;
  const batch: Record<string, unknown>[] = [];
  for (let k = 0; k < EVENTS_PER_REQUEST; k++) {
    const person = (client * 7919 + n * 31 + k) % 150;
    const ids =
      person % 3 === 0
        ? { anonymousId: `anon-${person}` }
        : { userId: `user-${person}`, anonymousId: `anon-${person}` };
    const messageId = `${id}-e${k}`;
    const timestamp = new Date(Date.UTC(2026, 0, 1) + n * 1000 + k).toISOString();
    if (k % 10 === 0)
      batch.push({
        type: 'identify',
        messageId,
        timestamp,
        ...ids,
        traits: { plan: k % 20 ? 'pro' : 'free', n },
      });
    else if (k % 4 === 0)
      batch.push({
        type: 'page',
        messageId,
        timestamp,
        ...ids,
        name: 'Product',
        properties: { path: `/p/${k}` },
      });
    else
      batch.push({
        type: 'track',
        messageId,
        timestamp,
        ...ids,
        event: 'Product Viewed',
        properties: { sku: `sku-${k}`, client, n },
      });
  }
  return {
    id,
    body: { batch, sentAt: new Date().toISOString() },
    messageIds: batch.map((e) => e.messageId as string),
  };
}

function readStore(dataDir: string): {
  counts: Map<string, number>;
  duplicates: { message_id: string; n: number }[];
  total: number;
} {
  const file = join(dataDir, 'concierge.db');
  assert.ok(existsSync(file), `no store file at ${file}`);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    // One source only, so a messageId seen twice is a duplicate.
    const duplicates = db
      .prepare('SELECT message_id, count(*) AS n FROM events GROUP BY message_id HAVING count(*) > 1')
      .all() as { message_id: string; n: number }[];
    const counts = new Map<string, number>();
    for (const r of db.prepare('SELECT message_id, count(*) AS n FROM events GROUP BY message_id').all() as {
      message_id: string;
      n: number;
    }[]) {
      counts.set(r.message_id, r.n);
    }
    const total = (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
    return { counts, duplicates, total };
  } finally {
    db.close();
  }
}

describe('durability under SIGKILL', () => {
  const dataDir = tempDir('concierge-durability-');
  let server: ServerProcess | null = null;
  after(async () => {
    await server?.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps every acknowledged event exactly once across a SIGKILL, and retries store each messageId once', async (t) => {
    server = await spawnServer(dataDir);
    const first = server;
    const sent: Request[] = [];
    const acked = new Set<string>();
    let failed = 0;
    let killed: Promise<void> | null = null;
    let killedAtAcks = 0;

    const client = async (c: number): Promise<void> => {
      for (let n = 0; ; n++) {
        const req = makeRequest(c, n);
        sent.push(req);
        try {
          const r = await postTracking(first.url, '/v1/batch', req.body, {
            signal: AbortSignal.timeout(15_000),
          });
          if (r.status !== 200) throw new Error(`unexpected ${r.status}: ${JSON.stringify(r.body)}`);
          acked.add(req.id);
          if (acked.size >= KILL_AFTER_ACKS && killed === null) {
            killedAtAcks = acked.size;
            killed = first.kill('SIGKILL');
          }
        } catch (err) {
          if (killed === null) throw err;
          failed++;
          return;
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
    await killed;
    assert.equal(first.child.signalCode, 'SIGKILL');
    assert.ok(failed > 0, 'some requests were in flight when the server was killed');
    assert.ok(acked.size >= killedAtAcks);

    // The file itself, before anything else touches it.
    const onDisk = readStore(dataDir);
    assert.deepEqual(onDisk.duplicates, [], 'no messageId stored twice');
    const lost = [...acked].flatMap(
      (id) => sent.find((r) => r.id === id)?.messageIds.filter((m) => !onDisk.counts.has(m)) ?? [],
    );
    assert.deepEqual(lost.slice(0, 10), [], `${lost.length} acknowledged events are missing`);
    // A request is one transaction: all of its events or none.
    for (const req of sent) {
      const present = req.messageIds.filter((m) => onDisk.counts.has(m)).length;
      assert.ok(
        present === 0 || present === req.messageIds.length,
        `request ${req.id} is partly stored (${present}/${req.messageIds.length})`,
      );
    }

    t.diagnostic(
      `sent ${sent.length} requests, ${acked.size} acknowledged, ${failed} cut off by the kill; ` +
        `${onDisk.total} events on disk (${acked.size * EVENTS_PER_REQUEST} acknowledged)`,
    );

    // Restart on the same data directory.
    server = await spawnServer(dataDir);
    const second = server;
    const afterRestart = readStore(dataDir);
    assert.equal(afterRestart.total, onDisk.total);
    assert.equal((await status(second.url)).events, onDisk.total);

    // Retry every request, acknowledged or not, with the same concurrency.
    const queue = [...sent];
    const retry = async (): Promise<void> => {
      for (let req = queue.shift(); req !== undefined; req = queue.shift()) {
        const r = await postTracking(second.url, '/v1/batch', req.body, {
          signal: AbortSignal.timeout(15_000),
        });
        assert.equal(r.status, 200, `retry of ${req.id}: ${JSON.stringify(r.body)}`);
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, () => retry()));

    const final = readStore(dataDir);
    assert.deepEqual(final.duplicates, [], 'no messageId stored twice after the retries');
    const all = sent.flatMap((r) => r.messageIds);
    const missing = all.filter((m) => final.counts.get(m) !== 1);
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} messageIds are not stored exactly once`);
    assert.equal(final.total, all.length);
    assert.equal((await status(second.url)).events, all.length);
  });
});
