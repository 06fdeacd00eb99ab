/**
 * The guardrail rules through the admin API: defaults before anything is stored, JSON and YAML
 * bodies, path-precise errors, the admin token, and rules that survive a restart.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { ADMIN_TOKEN, admin, startApp, tempDir } from '../helpers/server.ts';

type View = {
  rules: unknown;
  effective: { frequencyCaps: { id: string; max: number; window: string }[]; quietHours: unknown[] };
  updatedAt: string | null;
};
type Invalid = { error: string; message: string; errors: { path: string; message: string }[] };

describe('GET/PUT /api/guardrails', () => {
  const dataDir = tempDir();
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test('serves the defaults, stores JSON and YAML rules, and names every bad path', async () => {
    const now = Date.parse('2026-06-10T08:00:00Z');
    let server = await startApp({ dataDir, keepData: true, now: () => now });
    try {
      const first = await admin<View>(server.url, 'GET', '/api/guardrails');
      assert.equal(first.status, 200);
      assert.equal(first.body.rules, null);
      assert.equal(first.body.updatedAt, null);
      assert.deepEqual(
        first.body.effective.frequencyCaps.map((c) => [c.max, c.window]),
        [
          [1, '1d'],
          [3, '7d'],
        ],
      );

      const rules = { frequencyCaps: [{ id: 'daily', max: 2, window: '1d' }], quietHours: [] };
      const put = await admin<View>(server.url, 'PUT', '/api/guardrails', rules);
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.deepEqual(put.body.rules, rules);
      assert.equal(put.body.updatedAt, '2026-06-10T08:00:00.000Z');
      assert.equal(put.body.effective.frequencyCaps[0]?.id, 'daily');
      assert.deepEqual(put.body.effective.quietHours, []);

      const bad = await admin<Invalid>(server.url, 'PUT', '/api/guardrails', {
        frequencyCaps: [{ max: 0, window: '1 day' }],
        quietHours: [{ start: '25:00', end: '08:00', channels: ['fax'] }],
        colour: 'blue',
      });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error, 'invalid_rules');
      assert.deepEqual(bad.body.errors.map((e) => e.path).sort(), [
        'colour',
        'frequencyCaps[0].max',
        'frequencyCaps[0].window',
        'quietHours[0].channels[0]',
        'quietHours[0].start',
      ]);
      // Nothing of a refused body is stored.
      assert.equal(
        (await admin<View>(server.url, 'GET', '/api/guardrails')).body.effective.frequencyCaps[0]?.id,
        'daily',
      );

      const yaml = await fetch(`${server.url}/api/guardrails`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/yaml' },
        body: 'frequencyCaps:\n  - id: weekly\n    max: 3\n    window: 7d\nsuppression:\n  - segments: [open_critical_ticket]\n',
      });
      assert.equal(yaml.status, 200, await yaml.clone().text());
      const badYaml = await fetch(`${server.url}/api/guardrails`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/yaml' },
        body: 'frequencyCaps: [\n',
      });
      assert.equal(badYaml.status, 400);

      const unauthorised = await fetch(`${server.url}/api/guardrails`);
      assert.equal(unauthorised.status, 401);
      const openapi = (await (await fetch(`${server.url}/openapi.json`)).json()) as {
        paths: Record<string, unknown>;
      };
      assert.ok(openapi.paths['/api/guardrails'], 'documented in OpenAPI');
    } finally {
      await server.close();
    }

    server = await startApp({ dataDir, keepData: true });
    try {
      const again = await admin<View>(server.url, 'GET', '/api/guardrails');
      assert.equal(again.body.effective.frequencyCaps[0]?.id, 'weekly');
      assert.deepEqual(again.body.effective.quietHours.length, 1, 'a section left out takes its default');
    } finally {
      await server.close();
    }
  });
});
