/**
 * The experiment report over HTTP: assignments from Segment's `Experiment Viewed` events and
 * conversions from the log, in the contract's shape; bad requests are 400s with a reason.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { admin, type InProcessServer, postTracking, startApp } from '../helpers/server.ts';

type Report = {
  experiment: string;
  arms: {
    variation: string;
    n: number;
    conversions: number;
    conversionRate: number;
    conversionRateCi: [number, number];
    valuePerProfile: number;
    lift: { absolute: number; relative: number; ci: [number, number]; pValue: number } | null;
  }[];
};

describe('experiment report over HTTP', () => {
  let server: InProcessServer;
  before(async () => {
    server = await startApp();
    const t0 = Date.parse('2026-10-01T00:00:00Z');
    const batch: Record<string, unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      const variation = i % 2 === 0 ? 'control' : 'new-checkout';
      const userId = `exp-user-${i}`;
      batch.push({
        type: 'track',
        userId,
        event: 'Experiment Viewed',
        timestamp: new Date(t0).toISOString(),
        properties: {
          experiment_id: 'checkout-test',
          experiment_name: 'Checkout',
          variation_id: variation,
          variation_name: variation,
        },
      });
      // Control converts 10 %, the variant 30 %; one conversion comes before the assignment and one
      // after the window: neither counts.
      if ((variation === 'control' && i % 20 === 0) || (variation !== 'control' && i % 20 < 6)) {
        batch.push({
          type: 'track',
          userId,
          event: 'Order Completed',
          timestamp: new Date(t0 + 86_400_000).toISOString(),
          properties: { revenue: 50 },
        });
      }
    }
    batch.push({
      type: 'track',
      userId: 'exp-user-1',
      event: 'Order Completed',
      timestamp: new Date(t0 - 1000).toISOString(),
      properties: { revenue: 999 },
    });
    batch.push({
      type: 'track',
      userId: 'exp-user-3',
      event: 'Order Completed',
      timestamp: new Date(t0 + 30 * 86_400_000).toISOString(),
      properties: { revenue: 999 },
    });
    assert.equal((await postTracking(server.url, '/v1/batch', { batch })).status, 200);
  });
  after(async () => {
    await server?.close();
  });

  test('arms, rates, intervals and lift against the control', async () => {
    const r = await admin<Report>(
      server.url,
      'GET',
      '/api/experiments/checkout-test/report?conversion=Order%20Completed&control=control&value=revenue&windowDays=14',
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.experiment, 'checkout-test');
    const control = r.body.arms.find((a) => a.variation === 'control')!;
    const variant = r.body.arms.find((a) => a.variation === 'new-checkout')!;
    assert.equal(control.n, 100);
    assert.equal(variant.n, 100);
    assert.equal(control.conversions, 10);
    assert.equal(variant.conversions, 30);
    assert.equal(control.lift, null);
    assert.equal(variant.conversionRate, 0.3);
    assert.equal(variant.valuePerProfile, 15);
    assert.ok(variant.conversionRateCi[0] < 0.3 && variant.conversionRateCi[1] > 0.3);
    assert.ok(variant.lift !== null);
    assert.ok(Math.abs(variant.lift.absolute - 0.2) < 1e-9);
    assert.ok(variant.lift.ci[0] > 0, 'the difference is significant');
    assert.ok(variant.lift.pValue < 0.01);
  });

  test('bad requests name the problem', async () => {
    const missing = await admin<{ message: string }>(
      server.url,
      'GET',
      '/api/experiments/checkout-test/report',
    );
    assert.equal(missing.status, 400);
    assert.match(missing.body.message, /conversion is required/);
    const window = await admin(
      server.url,
      'GET',
      '/api/experiments/checkout-test/report?conversion=Order%20Completed&windowDays=-3',
    );
    assert.equal(window.status, 400);
    const unknown = await admin(
      server.url,
      'GET',
      '/api/experiments/no-such/report?conversion=Order%20Completed',
    );
    assert.equal(unknown.status, 404);
  });
});
