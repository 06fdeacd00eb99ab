/**
 * The stories of the mission, end to end through the public HTTP API with a virtual clock:
 * yoga mat (listen and wait for the delivery of this order), already bought it (goal exit),
 * critical support ticket (segment exit), running shoes (a date from a computed trait). Messages
 * are delivered to a real HTTP receiver on loopback.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { OutboundMessage } from '../../src/channels/outbound.ts';
import { VirtualClock } from '../../src/core/clock.ts';
import type { Deliverer } from '../../src/journeys/dispatcher.ts';
import { eventually } from '../helpers/eventually.ts';
import {
  admin,
  findProfile,
  type InProcessServer,
  postTracking,
  type StoredEventBody,
  startApp,
  timeline,
} from '../helpers/server.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const T0 = Date.parse('2026-03-02T10:00:00.000Z');
const iso = (t: number) => new Date(t).toISOString();

/** A loopback HTTP receiver the deliverer posts each message to, as a webhook would. */
class Receiver {
  readonly got: OutboundMessage[] = [];
  private server: Server | null = null;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => {
        body += d;
      });
      req.on('end', () => {
        this.got.push(JSON.parse(body) as OutboundMessage);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    const a = this.server.address();
    if (typeof a !== 'object' || a === null) throw new Error('no address');
    this.url = `http://127.0.0.1:${a.port}/`;
  }

  deliverer(): Deliverer {
    return {
      deliver: async (m) => {
        const res = await fetch(this.url, { method: 'POST', body: JSON.stringify(m) });
        return res.ok
          ? { status: 'sent', detail: `http ${res.status}` }
          : { status: 'failed', detail: `http ${res.status}`, permanent: false };
      },
    };
  }

  to(profileId: string): OutboundMessage[] {
    return this.got.filter((m) => m.profileId === profileId);
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.server?.close(() => r()));
  }
}

describe('journey stories over HTTP', () => {
  const clock = new VirtualClock(T0);
  const receiver = new Receiver();
  let server: InProcessServer;
  let n = 0;

  const track = async (userId: string, event: string, properties: Record<string, unknown> = {}) => {
    const r = await postTracking(server.url, '/v1/track', {
      userId,
      event,
      properties,
      timestamp: iso(clock.now()),
      messageId: `m-${n++}`,
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  const identify = async (userId: string, traits: Record<string, unknown>) => {
    const r = await postTracking(server.url, '/v1/identify', { userId, traits, timestamp: iso(clock.now()) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  const put = async (key: string, body: unknown) => {
    const r = await admin<{ savedVersion: number }>(
      server.url,
      'PUT',
      `/api/journeys/${key}?publish=true`,
      body,
    );
    assert.ok(r.status === 201 || r.status === 200, JSON.stringify(r.body));
    return r.body;
  };
  const profileId = async (userId: string) => (await findProfile(server.url, 'userId', userId))!.id;
  const runs = async (userId: string) =>
    (
      await admin<{
        runs: { journey: string; status: string; node: string | null; reason: string | null }[];
      }>(server.url, 'GET', `/api/profiles/${await profileId(userId)}/runs`)
    ).body.runs;
  const settled = async () => {
    await server.app.journeys.settled();
    await new Promise((r) => setTimeout(r, 30));
    await server.app.journeys.settled();
  };
  /** Moves the clock, then lets timers and the dispatcher finish. */
  const advance = async (ms: number) => {
    const steps = 4;
    for (let i = 0; i < steps; i++) {
      clock.advance(ms / steps);
      await settled();
    }
  };
  const stats = async (key: string) =>
    (await admin<Record<string, unknown>>(server.url, 'GET', `/api/journeys/${key}/stats`)).body as {
      entered: number;
      converted: number;
      heldOut: number;
      completed: number;
      waiting: number;
      exited: Record<string, number>;
      nodes: Record<string, Record<string, number>>;
    };

  before(async () => {
    await receiver.start();
    server = await startApp({ clock, deliverer: receiver.deliverer() });
    await server.app.journeys.ready;
    for (const key of ['review-request', 'discount', 'spring-sale', 'new-shoes', 'come-back']) {
      const r = await admin(server.url, 'PUT', `/api/templates/${key}`, {
        channel: 'email',
        defaultLocale: 'en',
        locales: {
          en: { subject: `About ${key}`, text: 'Hello {{ profile.traits.name | default: "there" }}' },
        },
      });
      assert.ok(r.status === 201 || r.status === 200, JSON.stringify(r.body));
    }
  });
  after(async () => {
    await server.close();
    await receiver.close();
  });

  test('yoga mat: waits for the delivery of this order, then asks for a review; cancelled orders exit', async () => {
    await put('yoga-review', {
      name: 'Review after delivery',
      trigger: { event: 'Order Completed', where: [{ property: 'category', op: 'eq', value: 'yoga' }] },
      start: 'delivered',
      nodes: {
        delivered: {
          type: 'wait_for',
          event: 'Order Delivered',
          correlate: ['order_id'],
          timeout: '14d',
          arrived: 'settle-in',
          timed_out: 'give-up',
        },
        'settle-in': { type: 'wait', duration: '3d', next: 'ask' },
        ask: {
          type: 'send',
          channel: 'email',
          template: 'review-request',
          category: 'transactional',
          next: null,
        },
        'give-up': { type: 'exit' },
      },
      exit: [
        { event: 'Order Cancelled', correlate: ['order_id'], reason: 'cancelled' },
        { event: 'Order Refunded', correlate: ['order_id'], reason: 'refunded' },
      ],
      reentry: 'always',
      maxConcurrent: 5,
    });
    await track('yogi', 'Order Completed', { order_id: 'o-1', category: 'yoga' });
    await track('canceller', 'Order Completed', { order_id: 'o-2', category: 'yoga' });
    await track('never-delivered', 'Order Completed', { order_id: 'o-3', category: 'yoga' });
    await track('shoes-only', 'Order Completed', { order_id: 'o-4', category: 'running' });
    await settled();
    assert.deepEqual(
      (await runs('yogi')).map((r) => [r.journey, r.status, r.node]),
      [['yoga-review', 'active', 'delivered']],
    );
    assert.deepEqual(await runs('shoes-only'), []);

    // Another order's delivery is not this one's.
    await advance(2 * DAY);
    await track('yogi', 'Order Delivered', { order_id: 'o-other' });
    await track('canceller', 'Order Cancelled', { order_id: 'o-2' });
    await settled();
    assert.equal((await runs('yogi'))[0]!.node, 'delivered');
    assert.deepEqual(
      (await runs('canceller')).map((r) => [r.status, r.reason]),
      [['exited', 'cancelled']],
    );

    await track('yogi', 'Order Delivered', { order_id: 'o-1' });
    await settled();
    assert.equal((await runs('yogi'))[0]!.node, 'settle-in');
    assert.equal(receiver.to(await profileId('yogi')).length, 0, 'no review request before three days');

    await advance(3 * DAY + HOUR);
    const yogi = await profileId('yogi');
    await eventually(
      'the review request',
      async () => receiver.to(yogi),
      (m) => m.length === 1,
    );
    const m = receiver.to(yogi)[0]!;
    assert.equal(m.template, 'review-request');
    assert.equal(m.channel, 'email');
    assert.equal((m.event as { properties: { order_id: string } }).properties.order_id, 'o-1');
    assert.equal(
      (m.context as { arrivals: Record<string, { properties: { order_id: string } }> }).arrivals.delivered!
        .properties.order_id,
      'o-1',
    );
    assert.equal(receiver.to(await profileId('canceller')).length, 0);

    // The order that never arrives times out after 14 days, without a message.
    await advance(10 * DAY);
    assert.deepEqual(
      (await runs('never-delivered')).map((r) => [r.status, r.reason]),
      [['completed', 'exit:give-up']],
    );
    assert.equal(receiver.to(await profileId('never-delivered')).length, 0);

    // The message is on the timeline, recorded by the runtime.
    const events: StoredEventBody[] = await eventually(
      'Message Sent on the timeline',
      () => timeline(server.url, yogi),
      (es) => es.some((e) => e.event === 'Message Sent'),
    );
    const sent = events.find((e) => e.event === 'Message Sent')!;
    assert.equal((sent.properties as Record<string, unknown>).journey, 'yoga-review');

    const s = await stats('yoga-review');
    assert.equal(s.entered, 3);
    assert.equal(s.exited.cancelled, 1);
    assert.equal(s.nodes.ask!.queued, 1);
    assert.equal(s.nodes.ask!.delivered, 1);
    assert.equal(s.nodes.delivered!.arrived, 1);
    assert.equal(s.nodes.delivered!.timedOut, 1);
    assert.equal(s.waiting, 0);
  });

  test('already bought it: buying exits the journey at once and nothing is offered', async () => {
    await put('browse-offer', {
      trigger: { event: 'Product Viewed' },
      start: 'pause',
      nodes: {
        pause: { type: 'wait', duration: '1d', next: 'offer' },
        offer: { type: 'send', channel: 'email', template: 'discount', next: null },
      },
      goal: { event: 'Order Completed', within: '7d' },
    });
    await track('buyer', 'Product Viewed', { sku: 'mat-1' });
    await track('browser', 'Product Viewed', { sku: 'mat-1' });
    await settled();
    await advance(2 * HOUR);
    await track('buyer', 'Order Completed', { order_id: 'b-1', sku: 'mat-1' });
    await settled();
    assert.deepEqual(
      (await runs('buyer')).filter((r) => r.journey === 'browse-offer').map((r) => [r.status, r.reason]),
      [['converted', 'goal']],
    );
    await advance(DAY);
    const browser = await profileId('browser');
    await eventually(
      'the browser gets the offer',
      async () => receiver.to(browser),
      (m) => m.length === 1,
    );
    assert.equal(receiver.to(await profileId('buyer')).filter((m) => m.template === 'discount').length, 0);
    const s = await stats('browse-offer');
    assert.equal(s.converted, 1);
    assert.equal(s.entered, 2);
    // Re-entry is once by default: viewing again starts nothing.
    await track('browser', 'Product Viewed', { sku: 'mat-2' });
    await settled();
    assert.equal((await stats('browse-offer')).entered, 2);
  });

  test('critical ticket: entering the segment exits promotional journeys', async () => {
    const seg = await admin(server.url, 'PUT', '/api/segments/open-critical-ticket', {
      trait: 'open_critical_tickets',
      op: 'gt',
      value: 0,
    });
    assert.ok(seg.status === 201 || seg.status === 200, JSON.stringify(seg.body));
    await put('spring-promo', {
      trigger: { event: 'Newsletter Opened' },
      start: 'later',
      nodes: {
        later: { type: 'wait', duration: '2d', next: 'promo' },
        promo: { type: 'send', channel: 'email', template: 'spring-sale', next: null },
      },
      exit: [{ segment: 'open-critical-ticket', reason: 'critical_ticket' }],
    });
    await track('unhappy', 'Newsletter Opened');
    await track('happy', 'Newsletter Opened');
    await settled();
    await advance(HOUR);
    await identify('unhappy', { open_critical_tickets: 1 });
    await eventually(
      'the unhappy customer leaves the promotion',
      async () => (await runs('unhappy')).filter((r) => r.journey === 'spring-promo').map((r) => r.reason),
      (x) => x[0] === 'critical_ticket',
    );
    await advance(2 * DAY);
    const happy = await profileId('happy');
    await eventually(
      'the happy customer gets the promotion',
      async () => receiver.to(happy),
      (m) => m.length === 1,
    );
    assert.equal(receiver.to(await profileId('unhappy')).length, 0);
    assert.equal((await stats('spring-promo')).exited.critical_ticket, 1);
  });

  test('running shoes: an offer three days before each customer’s own predicted repurchase', async () => {
    const ct = await admin(server.url, 'PUT', '/api/computed-traits/next_shoe_purchase', {
      event: 'Order Completed',
      where: [{ property: 'category', op: 'eq', value: 'running-shoes' }],
      aggregate: 'next_purchase',
    });
    assert.ok(ct.status === 201 || ct.status === 200, JSON.stringify(ct.body));
    // Two runners with different rhythms: every 30 days and every 50 days.
    const start = clock.now();
    const orders = async (userId: string, gapDays: number) => {
      for (let k = 0; k < 3; k++) {
        const r = await postTracking(server.url, '/v1/track', {
          userId,
          event: 'Order Completed',
          properties: { category: 'running-shoes', order_id: `${userId}-${k}` },
          timestamp: iso(start - (2 - k) * gapDays * DAY),
        });
        assert.equal(r.status, 200);
      }
    };
    await orders('runner-30', 30);
    await orders('runner-50', 50);
    await put('shoe-replenish', {
      trigger: { date: { computed: 'next_shoe_purchase', offset: '-3d', at: '09:00' } },
      start: 'offer',
      nodes: { offer: { type: 'send', channel: 'email', template: 'new-shoes', next: null } },
    });
    const r30 = await profileId('runner-30');
    const r50 = await profileId('runner-50');
    await eventually(
      'both runners scheduled',
      async () =>
        (await runs('runner-30')).concat(await runs('runner-50')).filter((r) => r.status === 'scheduled'),
      (x) => x.length === 2,
    );
    await advance(26 * DAY);
    assert.equal(receiver.to(r30).length, 0, 'not before the day');
    await advance(DAY + 12 * HOUR);
    await eventually(
      'runner-30 offered at day 27',
      async () => receiver.to(r30),
      (m) => m.length === 1,
    );
    assert.equal(receiver.to(r50).length, 0);
    await advance(20 * DAY);
    await eventually(
      'runner-50 offered at day 47',
      async () => receiver.to(r50),
      (m) => m.length === 1,
    );
  });

  test('uplift: a control group held out at entry, reported as experiment journey:{key}', async () => {
    await put('winback', {
      trigger: { event: 'Subscription Lapsed' },
      start: 'offer',
      nodes: { offer: { type: 'send', channel: 'email', template: 'come-back', next: null } },
      control: { percent: 30 },
    });
    const users = Array.from({ length: 200 }, (_, i) => `lapsed-${i}`);
    const batch = users.map((userId, i) => ({
      type: 'track',
      userId,
      event: 'Subscription Lapsed',
      timestamp: iso(clock.now()),
      messageId: `lapse-${i}`,
    }));
    assert.equal((await postTracking(server.url, '/v1/batch', { batch })).status, 200);
    await settled();
    const s = await stats('winback');
    assert.equal(s.entered + s.heldOut, 200);
    assert.ok(s.heldOut > 35 && s.heldOut < 85, `about 30% held out, got ${s.heldOut}`);
    // Every fourth customer comes back.
    await advance(HOUR);
    for (const [i, userId] of users.entries())
      if (i % 4 === 0) await track(userId, 'Subscription Renewed', { revenue: 10 });
    const report = await admin<{ arms: { variation: string; n: number; conversions: number }[] }>(
      server.url,
      'GET',
      `/api/experiments/${encodeURIComponent('journey:winback')}/report?conversion=Subscription%20Renewed&control=control&value=revenue`,
    );
    assert.equal(report.status, 200, JSON.stringify(report.body));
    const arms = Object.fromEntries(report.body.arms.map((a) => [a.variation, a]));
    assert.equal(arms.control!.n, s.heldOut);
    assert.equal(arms.treatment!.n, s.entered);
    assert.equal(arms.control!.conversions + arms.treatment!.conversions, 50);
    // The held-out customers got nothing; everyone else got the offer.
    await eventually(
      'offers to the treatment group only',
      async () =>
        new Set(receiver.got.filter((m) => m.template === 'come-back').map((m) => m.profileId)).size,
      (n) => n === s.entered,
    );
  });

  test('A/B variants of a split node are reported as experiment journey:{key}:{node}', async () => {
    await put('subject-test', {
      trigger: { event: 'Trial Started' },
      start: 'pick',
      nodes: {
        pick: {
          type: 'split',
          variants: [
            { name: 'short', percent: 50, next: 'a' },
            { name: 'long', percent: 50, next: 'b' },
          ],
        },
        a: { type: 'send', channel: 'email', template: 'discount' },
        b: { type: 'send', channel: 'email', template: 'come-back' },
      },
    });
    const batch = Array.from({ length: 120 }, (_, i) => ({
      type: 'track',
      userId: `trial-${i}`,
      event: 'Trial Started',
      timestamp: iso(clock.now()),
      messageId: `trial-${i}`,
    }));
    assert.equal((await postTracking(server.url, '/v1/batch', { batch })).status, 200);
    await settled();
    await advance(HOUR);
    for (let i = 0; i < 120; i += 3) await track(`trial-${i}`, 'Subscription Renewed', { revenue: 5 });
    const report = await admin<{ arms: { variation: string; n: number; conversions: number }[] }>(
      server.url,
      'GET',
      `/api/experiments/${encodeURIComponent('journey:subject-test:pick')}/report?conversion=Subscription%20Renewed&control=short`,
    );
    assert.equal(report.status, 200, JSON.stringify(report.body));
    const arms = Object.fromEntries(report.body.arms.map((a) => [a.variation, a]));
    assert.equal(arms.short!.n + arms.long!.n, 120);
    assert.ok(arms.short!.n > 35 && arms.long!.n > 35, JSON.stringify(report.body.arms));
    assert.equal(arms.short!.conversions + arms.long!.conversions, 40);
    const s = await stats('subject-test');
    assert.equal(s.nodes.pick!['variant:short'], arms.short!.n);
  });

  test('bad journeys are refused with the node named', async () => {
    const bad = async (body: unknown) => {
      const r = await admin<{ error: string; errors: { path: string; message: string }[] }>(
        server.url,
        'PUT',
        '/api/journeys/bad',
        body,
      );
      assert.equal(r.status, 400, JSON.stringify(r.body));
      return r.body.errors.map((e) => `${e.path}: ${e.message}`).join('\n');
    };
    const trigger = { event: 'Signed Up' };
    assert.match(
      await bad({ trigger, start: 'a', nodes: { a: { type: 'teleport' } } }),
      /nodes\.a\.type: must be one of/,
    );
    assert.match(
      await bad({ trigger, start: 'a', nodes: { a: { type: 'wait', duration: '1d', next: 'nowhere' } } }),
      /nodes\.a\.next: there is no node "nowhere"/,
    );
    assert.match(
      await bad({
        trigger,
        start: 'a',
        nodes: { a: { type: 'exit' }, orphan: { type: 'exit' } },
      }),
      /nodes\.orphan: is not reachable/,
    );
    assert.match(
      await bad({
        trigger,
        start: 'a',
        nodes: {
          a: { type: 'send', channel: 'email', template: 'discount', next: 'b' },
          b: { type: 'update', set: { x: 1 }, next: 'a' },
        },
      }),
      /is on a cycle with no wait in it/,
    );
    assert.match(
      await bad({ trigger, start: 'a', nodes: { a: { type: 'wait', duration: '3 days' } } }),
      /nodes\.a\.duration: must be a duration/,
    );
    assert.match(
      await bad({ trigger, start: 'a', nodes: { a: { type: 'send', channel: 'sms', template: 'nope' } } }),
      /nodes\.a\.template: there is no template "nope"/,
    );
    assert.match(
      await bad({ trigger: { segment: 'no-such' }, start: 'a', nodes: { a: { type: 'exit' } } }),
      /trigger\.segment: there is no segment "no-such"/,
    );
  });
});
