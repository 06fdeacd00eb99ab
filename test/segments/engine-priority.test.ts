import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ENGINE_NICE, WorkerEngineHost } from '../../src/segments/engine-host.ts';

/** The nice value of each thread of this process, from /proc (field 19 of a task's stat). */
function niceValues(): number[] {
  return readdirSync('/proc/self/task').map((t) => {
    const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

test('the segment engine thread runs at a lower priority; the other threads keep theirs', {
  skip: !existsSync('/proc/self/task') && 'needs /proc',
}, async () => {
  const before = niceValues();
  assert.ok(
    before.every((n) => n === 0),
    `threads already lowered: ${before}`,
  );
  const host = new WorkerEngineHost();
  // The engine's thread does not keep a process alive by itself.
  const alive = setInterval(() => {}, 1000);
  try {
    // An answered call: the thread has started and set its priority.
    assert.deepEqual(await host.stats(), { profiles: 0, facts: 0, timers: 0 });
    const during = niceValues();
    assert.equal(during.filter((n) => n === ENGINE_NICE).length, 1, `nice values: ${during}`);
    assert.equal(during.filter((n) => n !== 0 && n !== ENGINE_NICE).length, 0, `nice values: ${during}`);
  } finally {
    clearInterval(alive);
    await host.close();
  }
});
