import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/**
 * Folds the write-ahead log back into the database file from a thread of its own, so that the
 * writer's commits never wait for a checkpoint (one can copy tens of megabytes and fsync the
 * whole file). PASSIVE checkpoints run beside the writer: they copy what no reader still needs and
 * never block a commit.
 *
 * Under steady writes that is not enough to let the log start over, which SQLite does when the
 * writer begins a transaction with the whole log copied: the writer has nearly always committed
 * more while a checkpoint copied and synced. The log then grew past the writer's
 * `wal_autocheckpoint`, and the writer checkpointed itself, copying and syncing megabytes between
 * two commits (60–140 ms at 45,000 events/s here). So once the log is long, this thread follows a
 * checkpoint with more, each copying what was committed during the one before, until one copies
 * fewer than `finishFrames` frames; then it says 'behind', and the writer copies the little left
 * (SqliteStore.finishCheckpoint), after which its next transaction starts the log over.
 */
const port = parentPort;
if (port === null) throw new Error('sqlite-checkpointer must run in a worker thread');
const { path, intervalMs, longFrames, finishFrames } = workerData as {
  path: string;
  intervalMs: number;
  /** A log of this many frames is worth starting over. */
  longFrames: number;
  /** A checkpoint that copied fewer frames than this leaves little for the writer. */
  finishFrames: number;
};
/** Checkpoints in a row at most, before the next tick. */
const MAX_ROUNDS = 8;
const db = new Database(path, { fileMustExist: true });
db.pragma('busy_timeout = 0');

type Result = { busy: number; log: number; checkpointed: number };
const checkpoint = (): Result | undefined => (db.pragma('wal_checkpoint(PASSIVE)') as Result[])[0];

const timer = setInterval(() => {
  try {
    let r = checkpoint();
    if (r === undefined || r.busy !== 0 || r.log < longFrames) return;
    for (let round = 1; round < MAX_ROUNDS; round++) {
      const copied = r.checkpointed;
      const next = checkpoint();
      if (next === undefined || next.busy !== 0 || next.checkpointed < copied) return; // started over meanwhile
      r = next;
      if (r.checkpointed - copied < finishFrames) {
        port.postMessage('behind');
        return;
      }
    }
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
