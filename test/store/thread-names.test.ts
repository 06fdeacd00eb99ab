import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { WorkerEngineHost } from '../../src/segments/engine-host.ts';
import { ThreadedSqliteStore } from '../../src/store/sqlite/threaded-sqlite-store.ts';
import { eventually } from '../helpers/eventually.ts';

/** The names of this process's threads, as `top -H` and `ps -L` show them. */
function threadNames(): string[] {
  return readdirSync('/proc/self/task')
    .map((t) => readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim())
    .sort();
}

const NAMED = ['event-index', 'segment-engine', 'sqlite-writer', 'wal-checkpoint'];

test('the store and the segment engine name their threads', {
  skip: !existsSync('/proc/thread-self') && 'needs /proc/thread-self (Linux)',
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'concierge-thread-names-'));
  const store = await ThreadedSqliteStore.open({ path: join(dir, 'concierge.db') });
  const engine = new WorkerEngineHost();
  // The engine's thread does not keep a process alive by itself.
  const alive = setInterval(() => {}, 1000);
  try {
    await engine.stats();
    // The index thread starts on its own time, after the writer.
    const names = await eventually('four named threads', threadNames, (n) =>
      NAMED.every((x) => n.includes(x)),
    );
    // Each once; the main thread and Node's own helpers keep their name.
    for (const x of NAMED) assert.equal(names.filter((n) => n === x).length, 1, `${x} in ${names}`);
    assert.equal(readFileSync(`/proc/self/task/${process.pid}/comm`, 'utf8').trim(), 'node');
  } finally {
    clearInterval(alive);
    await engine.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
