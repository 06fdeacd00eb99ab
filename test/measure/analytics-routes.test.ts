/**
 * Funnels, paths, the sample-size calculator, report breakdowns and the global holdout over HTTP,
 * on the whole product with its embedded store: events go in through the tracking API, answers
 * come out of the admin API, and every bad request is a 400 that says what is wrong.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EXPOSED_VARIATION, HOLDOUT_VARIATION, inGlobalHoldout } from '../../src/measure/holdout.ts';
import { admin, type InProcessServer, postTracking, startApp } from '../helpers/server.ts';

const T0 = Date.parse('2026-09-01T00:00:00Z');
const H = 3_600_000;
const iso = (t: number) => new Date(t).toISOString();

type Step = {
  event: string;
  count: number;
  medianTimeToConvertMs: number | null;
  conversionRate: number | null;
};
type Funnel = {
  entered: number;
  converted: number;
  steps: Step[];
  breakdown: { property: string; groups: { value: unknown; steps: Step[] }[] } | null;
};
type Err = { error: string; message: string; errors?: { path: string; message: string }[] };

describe('analytics over HTTP', () => {
  let server: InProcessServer;
  const post = <T>(path: string, body: unknown) => admin<T>(server.url, 'POST', path, body);

  before(async () => {
    server = await startApp();
    const batch: Record<string, unknown>[] = [];
    const track = (userId: string, event: string, t: number, properties: Record<string, unknown> = {}) =>
      batch.push({ type: 'track', userId, event, timestamp: iso(t), properties });
    for (let i = 0; i < 40; i++) {
      const u = `shopper-${i}`;
      const category = i % 2 === 0 ? 'Yoga' : 'Running';
      track(u, 'Product Viewed', T0 + i * 1000, { category, price: 30 + i });
      if (i < 30) track(u, 'Product Added', T0 + i * 1000 + H, { category });
      if (i < 20) track(u, 'Order Completed', T0 + i * 1000 + 3 * H, { revenue: 50 + i, category });
      // An experiment on the message of a campaign, for the breakdown.
      track(u, 'Experiment Viewed', T0 - H, {
        experiment_id: 'welcome',
        variation_id: i % 4 < 2 ? 'control' : 'new-copy',
        message: i % 2 === 0 ? 'welcome-a' : 'welcome-b',
      });
    }
    const res = await postTracking(server.url, '/v1/batch', { batch });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });
  after(async () => {
    await server?.close();
  });

  it('documents every route in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    for (const [path, method] of [
      ['/api/analytics/funnel', 'post'],
      ['/api/analytics/paths', 'post'],
      ['/api/experiments/sample-size', 'get'],
      ['/api/experiments/sample-size', 'post'],
      ['/api/settings/holdout', 'get'],
      ['/api/settings/holdout', 'put'],
    ] as const)
      assert.ok(doc.paths[path]?.[method], `${method} ${path}`);
  });

  describe('POST /api/analytics/funnel', () => {
    it('counts each step with conversion, median time and a breakdown', async () => {
      const r = await post<Funnel>('/api/analytics/funnel', {
        steps: [
          { event: 'Product Viewed', where: [{ property: 'price', op: 'gte', value: 30 }] },
          { event: 'Product Added' },
          { event: 'Order Completed', where: [{ property: 'revenue', op: 'gt', value: 0 }] },
        ],
        window: '1d',
        breakdown: 'category',
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(
        r.body.steps.map((s) => s.count),
        [40, 30, 20],
      );
      assert.equal(r.body.steps[1]!.medianTimeToConvertMs, H);
      assert.equal(r.body.steps[2]!.medianTimeToConvertMs, 3 * H);
      assert.equal(r.body.steps[2]!.conversionRate, 0.5);
      assert.deepEqual(
        r.body.breakdown!.groups.map((g) => [g.value, g.steps.map((s) => s.count)]),
        [
          ['Running', [20, 15, 10]],
          ['Yoga', [20, 15, 10]],
        ],
      );
    });

    it('refuses empty steps, bad windows and filters, and unknown events with a 400', async () => {
      const cases: [unknown, RegExp][] = [
        [{ steps: [] }, /steps: must be an array of at least two steps/],
        [
          { steps: [{ event: 'Product Viewed' }, { event: 'Order Completed' }], window: '2 weeks' },
          /window: must be a duration/,
        ],
        [
          {
            steps: [
              { event: 'Product Viewed', where: [{ property: 'price', op: 'bigger', value: 1 }] },
              { event: 'Order Completed' },
            ],
          },
          /steps\[0\]\.where\[0\]\.op/,
        ],
        [
          { steps: [{ event: 'Product Viewed' }, { event: 'Order Complete' }] },
          /unknown event 'Order Complete'/,
        ],
      ];
      for (const [body, pattern] of cases) {
        const r = await post<Err>('/api/analytics/funnel', body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(r.body.error, 'bad_request');
        assert.match(r.body.message, pattern);
      }
    });

    it('needs the admin token', async () => {
      const res = await fetch(`${server.url}/api/analytics/funnel`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(res.status, 401);
    });
  });

  describe('POST /api/analytics/paths', () => {
    it('answers with paths, drop-offs and Sankey nodes and links', async () => {
      const r = await post<{
        profiles: number;
        paths: { events: string[]; count: number }[];
        nodes: { id: string; count: number }[];
        links: { source: string; target: string; count: number }[];
        dropOffs: { step: number; reached: number; dropped: number }[];
      }>('/api/analytics/paths', { from: { event: 'Product Viewed' }, steps: 2 });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.profiles, 40);
      assert.deepEqual(r.body.paths[0], {
        events: ['Product Viewed', 'Product Added', 'Order Completed'],
        count: 20,
        share: 0.5,
      });
      assert.ok(
        r.body.links.some(
          (l) => l.source === '0:Product Viewed' && l.target === '1:Product Added' && l.count === 30,
        ),
      );
      assert.deepEqual(r.body.dropOffs[0], { step: 1, reached: 30, dropped: 10 });
    });

    it('refuses a request without an anchor or with an unknown one', async () => {
      const none = await post<Err>('/api/analytics/paths', { steps: 3 });
      assert.equal(none.status, 400);
      assert.match(none.body.message, /exactly one of "from"/);
      const unknown = await post<Err>('/api/analytics/paths', { to: { event: 'Nope' } });
      assert.equal(unknown.status, 400);
      assert.match(unknown.body.message, /unknown event 'Nope'/);
      const steps = await post<Err>('/api/analytics/paths', { from: { event: 'Product Viewed' }, steps: 50 });
      assert.equal(steps.status, 400);
    });
  });

  describe('sample-size calculator', () => {
    it('gives the sample size for an effect, by GET and by POST', async () => {
      // R's power.prop.test documentation: power.prop.test(p1 = .50, p2 = .75, power = .90) → n = 76.7.
      const get = await admin<{ sampleSizePerArm: number; totalSampleSize: number }>(
        server.url,
        'GET',
        '/api/experiments/sample-size?baseline=0.5&mde=0.25&power=0.9',
      );
      assert.equal(get.status, 200, JSON.stringify(get.body));
      assert.equal(get.body.sampleSizePerArm, 77);
      assert.equal(get.body.totalSampleSize, 154);
      const body = await post<{ sampleSizePerArm: number }>('/api/experiments/sample-size', {
        baseline: 0.5,
        relativeMde: 0.5,
        power: 0.9,
        arms: 3,
      });
      assert.equal(body.body.sampleSizePerArm, 77);
    });

    it('gives the minimum detectable effect for a sample size', async () => {
      // R: power.prop.test(n = 50, p1 = .5, power = .90) → p2 = 0.8026.
      const r = await admin<{ minimumDetectableEffect: number; achievedPower: number }>(
        server.url,
        'GET',
        '/api/experiments/sample-size?baseline=0.5&sampleSizePerArm=50&power=0.9',
      );
      assert.equal(r.status, 200);
      assert.ok(
        Math.abs(r.body.minimumDetectableEffect - 0.3026) < 1e-4,
        `${r.body.minimumDetectableEffect}`,
      );
      assert.ok(Math.abs(r.body.achievedPower - 0.9) < 1e-6);
    });

    it('refuses a missing baseline, two effects or an impossible rate', async () => {
      for (const q of [
        'mde=0.01',
        'baseline=0.05&mde=0.01&sampleSizePerArm=100',
        'baseline=0.95&mde=0.1',
        'baseline=abc&mde=0.01',
        'baseline=0.05',
      ]) {
        const r = await admin<Err>(server.url, 'GET', `/api/experiments/sample-size?${q}`);
        assert.equal(r.status, 400, q);
        assert.ok(r.body.message.length > 0);
      }
    });
  });

  describe('experiment report breakdown', () => {
    it('reports each value of an assignment property with its own arms', async () => {
      const r = await admin<{
        arms: { variation: string; n: number }[];
        warnings: string[];
        breakdown: {
          property: string;
          groups: {
            value: string;
            arms: { variation: string; n: number; conversions: number; lift: unknown }[];
          }[];
        };
      }>(
        server.url,
        'GET',
        '/api/experiments/welcome/report?conversion=Order%20Completed&control=control&breakdown=message',
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body.warnings, []);
      const groups = r.body.breakdown.groups;
      assert.deepEqual(groups.map((g) => g.value).sort(), ['welcome-a', 'welcome-b']);
      for (const g of groups) {
        assert.deepEqual(
          g.arms.map((a) => [a.variation, a.n]),
          [
            ['control', 10],
            ['new-copy', 10],
          ],
        );
        assert.equal(g.arms[0]!.lift, null);
      }
      assert.equal(
        groups.reduce((s, g) => s + g.arms.reduce((t, a) => t + a.conversions, 0), 0),
        20,
      );
    });

    it('splits conversions by a property of the conversion event', async () => {
      const r = await admin<{
        breakdown: {
          source: string;
          groups: { value: string; arms: { n: number; conversions: number }[] }[];
        };
      }>(
        server.url,
        'GET',
        '/api/experiments/welcome/report?conversion=Order%20Completed&breakdown=conversion.category',
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.breakdown.source, 'conversion');
      for (const g of r.body.breakdown.groups) {
        assert.deepEqual(
          g.arms.map((a) => a.n),
          [20, 20],
        );
        assert.equal(
          g.arms.reduce((s, a) => s + a.conversions, 0),
          10,
        );
      }
    });
  });

  describe('global holdout', () => {
    it('stores the setting and reports holdout against exposed profiles', async () => {
      const empty = await admin<{ percent: number }>(server.url, 'GET', '/api/settings/holdout');
      assert.equal(empty.status, 200);
      assert.equal(empty.body.percent, 0);
      const bad = await admin<Err>(server.url, 'PUT', '/api/settings/holdout', { percent: 150 });
      assert.equal(bad.status, 400);
      assert.match(bad.body.message, /percent: must be a number from 0 to 100/);
      const put = await admin<{ percent: number; salt: string }>(server.url, 'PUT', '/api/settings/holdout', {
        percent: 30,
        salt: 'test-salt',
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.deepEqual(put.body, { percent: 30, salt: 'test-salt', experiment: 'global-holdout' });
      assert.deepEqual((await admin(server.url, 'GET', '/api/settings/holdout')).body, put.body);

      const r = await admin<{
        control: string;
        arms: { variation: string; n: number; conversions: number }[];
      }>(
        server.url,
        'GET',
        '/api/experiments/global-holdout/report?conversion=Order%20Completed&windowDays=30',
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.control, HOLDOUT_VARIATION);
      // The same membership as the pure function, for each profile's id.
      const profiles = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          admin<{ id: string }>(server.url, 'GET', `/api/profiles?userId=shopper-${i}`).then(
            (p) => p.body.id,
          ),
        ),
      );
      const held = profiles.filter((id) => inGlobalHoldout('test-salt', id, 30)).length;
      assert.deepEqual(
        r.body.arms.map((a) => [a.variation, a.n]),
        [
          [HOLDOUT_VARIATION, held],
          [EXPOSED_VARIATION, 40 - held],
        ],
      );
      assert.equal(
        r.body.arms.reduce((s, a) => s + a.conversions, 0),
        20,
      );
    });
  });
});
