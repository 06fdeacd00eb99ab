// Worker threads do not inherit a loader registered through the API, so register it here, then
// load the TypeScript module named in workerData.
import { writeFileSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

/**
 * Names this thread as `top -H`, `ps -L` and /proc show it (Linux: at most 15 bytes), so that an
 * operator can tell the writer from the segment engine. Without /proc the thread keeps its name.
 */
function nameThread(name) {
  try {
    writeFileSync('/proc/thread-self/comm', name.slice(0, 15));
  } catch {
    // No /proc here: nothing to name.
  }
}

const named = typeof workerData.threadName === 'string';
// A new thread takes its creator's name: this one may have been started by a named thread (the
// writer starts the index thread), and `register()` starts the loader's own thread, which is
// Node's, not ours. So `node` until then.
if (named) nameThread('node');
register();
if (named) nameThread(workerData.threadName);

await import(workerData.entry);
