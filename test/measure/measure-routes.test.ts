/**
 * GET /api/experiments/{id}/report over HTTP: the contract's report from Experiment Viewed and
 * conversion events, the admin token, and a 400 or 404 with a clear message for each bad request.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { DEFAULT_WORKSPACE, type WorkspaceId } from '../../src/core/ids.ts';
import { ApiDocs } from '../../src/http/api-docs.ts';
import { installErrorHandler } from '../../src/http/errors.ts';
import { measureRoutes } from '../../src/http/measure-routes.ts';
import { hashSecret } from '../../src/ingest/sources.ts';
import type { EventLike, ExperimentReport } from '../../src/measure/experiment-report.ts';

const TOKEN = 'measure-test-admin-token';
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 2, 1);

const viewed = (profileId: string, variation: string, t = T0): EventLike => ({
  profileId,
  name: 'Experiment Viewed',
  timestamp: t,
  body: {
    type: 'track',
    event: 'Experiment Viewed',
    properties: { experiment_id: 'checkout', experiment_name: 'Checkout', variation_id: variation },
  },
});
const ordered = (profileId: string, revenue: number, t = T0 + DAY): EventLike => ({
  profileId,
  name: 'Order Completed',
  timestamp: t,
  body: { type: 'track', event: 'Order Completed', properties: { revenue } },
});

const EVENTS: EventLike[] = [
  ...Array.from({ length: 40 }, (_, i) => viewed(`c${i}`, 'control')),
  ...Array.from({ length: 40 }, (_, i) => viewed(`t${i}`, 'new-checkout')),
  ...Array.from({ length: 8 }, (_, i) => ordered(`c${i}`, 10)),
  ...Array.from({ length: 16 }, (_, i) => ordered(`t${i}`, 12)),
  ordered('t30', 100, T0 + 20 * DAY), // after the default 14-day window
  { profileId: 'p', name: 'Product Viewed', timestamp: T0, body: {} },
];

describe('GET /api/experiments/{id}/report', () => {
  let app: FastifyInstance;
  const scans: { ws: WorkspaceId; names: readonly string[] }[] = [];

  before(async () => {
    app = Fastify({ logger: false });
    installErrorHandler(app);
    await measureRoutes(app, {
      docs: new ApiDocs(),
      workspace: DEFAULT_WORKSPACE,
      adminTokenHash: hashSecret(TOKEN),
      async *loadEvents(ws, names) {
        scans.push({ ws, names });
        for (const e of EVENTS) if (e.name !== null && names.includes(e.name)) yield e;
      },
    });
    await app.ready();
  });
  after(() => app.close());

  const get = (url: string, token: string | null = TOKEN) =>
    app.inject({ method: 'GET', url, headers: token === null ? {} : { authorization: `Bearer ${token}` } });

  it('answers with the contract report', async () => {
    const res = await get('/api/experiments/checkout/report?conversion=Order%20Completed&value=revenue');
    assert.equal(res.statusCode, 200, res.body);
    const report = res.json() as ExperimentReport;
    assert.equal(report.experiment, 'checkout');
    assert.equal(report.windowDays, 14);
    const [control, variant] = report.arms;
    assert.deepEqual(
      [control?.variation, control?.n, control?.conversions, control?.valuePerProfile, control?.lift],
      ['control', 40, 8, 2, null],
    );
    assert.deepEqual(
      [variant?.variation, variant?.n, variant?.conversions, variant?.valuePerProfile],
      ['new-checkout', 40, 16, (16 * 12) / 40],
    );
    assert.equal(variant?.lift?.absolute, 0.2);
    assert.ok(variant?.lift?.ci && variant.lift.ci[0] < 0.2 && variant.lift.ci[1] > 0.2);
    assert.equal(typeof variant?.lift?.pValue, 'number');
    assert.deepEqual(scans.at(-1), {
      ws: DEFAULT_WORKSPACE,
      names: ['Experiment Viewed', 'Order Completed'],
    });
  });

  it('takes the control, the window and no value property', async () => {
    const res = await get(
      '/api/experiments/checkout/report?conversion=Order%20Completed&control=new-checkout&windowDays=30',
    );
    assert.equal(res.statusCode, 200, res.body);
    const report = res.json() as ExperimentReport;
    assert.equal(report.control, 'new-checkout');
    assert.equal(report.arms[0]?.conversions, 17, 'the late order counts in a 30-day window');
    assert.equal(report.arms[0]?.valuePerProfile, 0, 'no value property, no value');
  });

  it('needs the admin token', async () => {
    assert.equal(
      (await get('/api/experiments/checkout/report?conversion=Order%20Completed', null)).statusCode,
      401,
    );
    assert.equal(
      (await get('/api/experiments/checkout/report?conversion=Order%20Completed', 'wrong')).statusCode,
      401,
    );
  });

  const bad: [string, number, RegExp][] = [
    ['/api/experiments/checkout/report', 400, /conversion is required/],
    ['/api/experiments/checkout/report?conversion=', 400, /conversion is required/],
    ['/api/experiments/checkout/report?conversion=Signed%20Up', 400, /unknown conversion event 'Signed Up'/],
    [
      '/api/experiments/checkout/report?conversion=Order%20Completed&control=blue',
      400,
      /no variation 'blue'.*'control', 'new-checkout'/,
    ],
    ['/api/experiments/checkout/report?conversion=Order%20Completed&windowDays=0', 400, /windowDays must be/],
    [
      '/api/experiments/checkout/report?conversion=Order%20Completed&windowDays=2w',
      400,
      /windowDays must be/,
    ],
    ['/api/experiments/checkout/report?conversion=Order%20Completed&windowDays=9999', 400, /at most 3650/],
    [
      '/api/experiments/pricing/report?conversion=Order%20Completed',
      404,
      /no profile has been assigned to experiment 'pricing'/,
    ],
  ];
  for (const [url, status, message] of bad) {
    it(`answers ${status} with a clear message for ${url.split('?')[1] ?? 'no query'} on ${url.split('/')[3]}`, async () => {
      const res = await get(url);
      assert.equal(res.statusCode, status, res.body);
      const body = res.json() as { error: string; message: string };
      assert.match(body.message, message);
      assert.equal(body.error, status === 404 ? 'not_found' : 'bad_request');
    });
  }
});
