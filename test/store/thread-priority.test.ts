import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BACKGROUND_NICE } from '../../src/store/sqlite/thread-priority.ts';
import { ThreadedSqliteStore } from '../../src/store/sqlite/threaded-sqlite-store.ts';
import { eventually } from '../helpers/eventually.ts';

/** The nice value of each thread of this process, from /proc (field 19 of a task's stat). */
function niceValues(): number[] {
  return readdirSync('/proc/self/task').map((t) => {
    const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

test('the checkpoint and index threads run at a lower priority; the others keep theirs', {
  skip: !existsSync('/proc/self/task') && 'needs /proc',
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'concierge-priority-'));
  const before = niceValues();
  assert.ok(
    before.every((n) => n === 0),
    `threads already lowered: ${before}`,
  );
  const store = await ThreadedSqliteStore.open({ path: join(dir, 'concierge.db') });
  try {
    // The checkpointer and the writer's indexer (which starts on its own time): two threads
    // lowered, the rest (this thread, the writer, Node's own) as they were.
    const during = await eventually(
      'two threads lowered',
      niceValues,
      (v) => v.filter((n) => n === BACKGROUND_NICE).length === 2,
    );
    assert.equal(during.filter((n) => n !== 0 && n !== BACKGROUND_NICE).length, 0, `nice values: ${during}`);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
