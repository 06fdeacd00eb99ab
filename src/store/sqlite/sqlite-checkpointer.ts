import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/**
 * Folds the write-ahead log back into the database file from a thread of its own, so that the
 * writer's commits never wait for a checkpoint (one can copy tens of megabytes and fsync the
 * whole file). PASSIVE checkpoints run beside the writer: they copy what no reader still needs and
 * never block a commit.
 */
const port = parentPort;
if (port === null) throw new Error('sqlite-checkpointer must run in a worker thread');
const { path, intervalMs } = workerData as { path: string; intervalMs: number };
const db = new Database(path, { fileMustExist: true });
db.pragma('busy_timeout = 0');
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy (another checkpoint or the writer's final one): the next tick tries again.
  }
}, intervalMs);
port.on('message', (m: string) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  db.close();
  port.postMessage('stopped');
});
port.postMessage('ready');
