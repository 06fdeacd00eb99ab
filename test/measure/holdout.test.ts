/**
 * The global holdout: membership is deterministic, close to the configured share, nested as the
 * share grows, depends on the workspace's salt, and the stored setting reads back safely.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkHoldoutSetting,
  holdoutAssignments,
  inGlobalHoldout,
  NO_HOLDOUT,
  parseHoldoutSetting,
} from '../../src/measure/holdout.ts';

const ids = Array.from({ length: 50_000 }, (_, i) => `profile-${i}`);

describe('global holdout', () => {
  it('holds out about the configured share, the same profiles every time', () => {
    const held = ids.filter((id) => inGlobalHoldout('ws-1', id, 5));
    assert.ok(Math.abs(held.length / ids.length - 0.05) < 0.005, `${held.length}`);
    assert.deepEqual(
      ids.filter((id) => inGlobalHoldout('ws-1', id, 5)),
      held,
    );
  });

  it('only adds profiles when the share grows', () => {
    for (const id of ids.slice(0, 10_000))
      if (inGlobalHoldout('ws-1', id, 5)) assert.ok(inGlobalHoldout('ws-1', id, 10), id);
  });

  it('holds out nobody at 0 % and everybody at 100 %', () => {
    assert.ok(ids.slice(0, 1000).every((id) => !inGlobalHoldout('ws', id, 0)));
    assert.ok(ids.slice(0, 1000).every((id) => inGlobalHoldout('ws', id, 100)));
    assert.ok(!inGlobalHoldout('ws', 'x', Number.NaN));
  });

  it('draws a different holdout for a different salt', () => {
    const a = ids.filter((id) => inGlobalHoldout('ws-1', id, 10));
    const b = new Set(ids.filter((id) => inGlobalHoldout('ws-2', id, 10)));
    const overlap = a.filter((id) => b.has(id)).length / a.length;
    assert.ok(overlap < 0.2, `overlap ${overlap}`);
  });

  it('assigns profiles at their first event, holdout or exposed', () => {
    const as = holdoutAssignments(
      ids.slice(0, 2000).map((id, i) => [id, i] as const),
      'ws-1',
      10,
    );
    assert.equal(as.length, 2000);
    for (const a of as)
      assert.equal(a.variation, inGlobalHoldout('ws-1', a.profileId, 10) ? 'holdout' : 'exposed');
  });

  it('reads and checks the stored setting', () => {
    assert.deepEqual(parseHoldoutSetting(null), NO_HOLDOUT);
    assert.deepEqual(parseHoldoutSetting('not json'), NO_HOLDOUT);
    assert.deepEqual(parseHoldoutSetting('{"percent":5}'), { percent: 5, salt: null });
    assert.deepEqual(checkHoldoutSetting({ percent: 7.5 }, { percent: 5, salt: 's' }), {
      ok: true,
      value: { percent: 7.5, salt: 's' },
    });
    const bad = checkHoldoutSetting({ percent: 101, extra: 1 }, NO_HOLDOUT);
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.deepEqual(bad.errors.map((e) => e.path).sort(), ['extra', 'percent']);
    assert.equal(checkHoldoutSetting({ percent: '5' }, NO_HOLDOUT).ok, false);
  });
});
