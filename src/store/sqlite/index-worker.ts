import { parentPort, workerData } from 'node:worker_threads';
import { indexWrites, openIndexFile, PassWriter, passColumns } from './index-file.ts';
import type { IndexerReply, IndexerRequest } from './index-thread.ts';

/**
 * The thread that writes the log's index file: the writer hands it each pass's entries once their
 * events are committed, and it inserts them in one transaction of its own, so the index's B-tree
 * work runs beside the writer's commits instead of inside them.
 */
const port = parentPort;
if (port === null) throw new Error('index-worker must run in a worker thread');
const { path, cacheKiB } = workerData as { path: string; cacheKiB: number };
const db = openIndexFile(path, { cacheKiB });
const writes = indexWrites(db);
const reply = (m: IndexerReply) => port.postMessage(m);

port.on('message', (m: IndexerRequest) => {
  if (m.op === 'stop') {
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.close();
      reply({ op: 'stopped' });
    }
    return;
  }
  try {
    const pass = new PassWriter(writes, passColumns(m.buffer), m.lastSeq);
    db.transaction(() => {
      pass.step(Number.POSITIVE_INFINITY);
      writes.setIndexedSeq.run(m.lastSeq);
      writes.compact();
    })();
    reply({ op: 'done', id: m.id });
  } catch (err) {
    reply({ op: 'failed', id: m.id, message: (err as Error).message ?? String(err) });
  }
});
reply({ op: 'ready' });
