/**
 * The official Segment Node SDK, pointed at Concierge instead of Segment, sends its usual calls;
 * the resulting profiles are read back through the admin API.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Analytics } from '@segment/analytics-node';
import {
  findProfile,
  type InProcessServer,
  type ProfileBody,
  type StoredEventBody,
  startApp,
  status,
  timeline,
  uid,
  WRITE_KEY,
} from '../helpers/server.ts';

interface Delivery {
  readonly statuses: number[];
  readonly errors: unknown[];
}

/** An SDK client for the server that flushes after every `flushAt` events and records each answer. */
function sdk(url: string, flushAt: number): { analytics: Analytics; delivery: Delivery } {
  const analytics = new Analytics({
    writeKey: WRITE_KEY,
    host: url,
    path: '/v1/batch',
    flushAt,
    flushInterval: 200,
    maxRetries: 2,
    httpRequestTimeout: 10_000,
  });
  const delivery: Delivery = { statuses: [], errors: [] };
  analytics.on('http_response', (r) => delivery.statuses.push(r.status));
  analytics.on('error', (err) => delivery.errors.push(err));
  return { analytics, delivery };
}

async function profileOf(
  url: string,
  kind: 'userId' | 'anonymousId' | 'email',
  value: string,
): Promise<ProfileBody> {
  const p = await findProfile(url, kind, value);
  assert.ok(p, `no profile for ${kind}=${value}`);
  return p;
}

describe('the official Segment Node SDK against Concierge', () => {
  let server: InProcessServer;
  before(async () => {
    server = await startApp();
  });
  after(async () => {
    await server?.close();
  });

  it('identify, track, page, screen, group and alias build one linked profile', async () => {
    const url = server.url;
    const userId = uid('sdk-user');
    const anonymousId = uid('sdk-anon');
    const email = `${uid('sdk')}@example.com`;
    const { analytics, delivery } = sdk(url, 2);
    const started = Date.now();

    // Browsing before signing up.
    analytics.page({ anonymousId, name: 'Landing', category: 'Marketing', properties: { path: '/' } });
    analytics.track({
      anonymousId,
      event: 'Product Viewed',
      properties: { product_id: 'sku-1', price: 19.99 },
    });
    // Signed up: the server knows the person by user id.
    analytics.identify({ userId, traits: { email, name: 'Ada Lovelace', plan: 'pro' } });
    analytics.track({
      userId,
      event: 'Order Completed',
      properties: { order_id: 'o-1', revenue: 42, currency: 'EUR' },
    });
    analytics.group({ userId, groupId: 'acme-sdk', traits: { name: 'Acme', industry: 'Retail' } });
    analytics.screen({ userId, name: 'Dashboard', properties: { tab: 'overview' } });
    // The anonymous visitor was this person.
    analytics.alias({ previousId: anonymousId, userId });
    await analytics.closeAndFlush({ timeout: 15_000 });

    assert.deepEqual(delivery.errors, []);
    assert.ok(delivery.statuses.length >= 4, `expected several batches, got ${delivery.statuses.length}`);
    assert.ok(
      delivery.statuses.every((s) => s === 200),
      `statuses ${delivery.statuses.join(',')}`,
    );

    const profile = await profileOf(url, 'userId', userId);
    assert.equal(
      (await profileOf(url, 'anonymousId', anonymousId)).id,
      profile.id,
      'alias linked the anonymous visitor',
    );
    assert.equal((await profileOf(url, 'email', email)).id, profile.id);
    assert.deepEqual(profile.userIds, [userId]);
    assert.ok(profile.anonymousIds.includes(anonymousId));
    assert.deepEqual(profile.traits, { email, name: 'Ada Lovelace', plan: 'pro' });
    assert.ok(
      (profile.groups as string[] | undefined)?.includes('acme-sdk'),
      `groups ${JSON.stringify(profile.groups)}`,
    );

    const events = await timeline(url, profile.id);
    assert.equal(events.length, 7);
    assert.deepEqual(events.map((e) => e.type).sort(), [
      'alias',
      'group',
      'identify',
      'page',
      'screen',
      'track',
      'track',
    ]);
    const named = (type: string, field: string, value: string): StoredEventBody => {
      const e = events.find((x) => x.type === type && x[field] === value);
      assert.ok(e, `no ${type} with ${field}=${value}`);
      return e;
    };
    assert.deepEqual(named('track', 'event', 'Product Viewed').properties, {
      product_id: 'sku-1',
      price: 19.99,
    });
    assert.equal(named('track', 'event', 'Product Viewed').anonymousId, anonymousId);
    assert.deepEqual(named('track', 'event', 'Order Completed').properties, {
      order_id: 'o-1',
      revenue: 42,
      currency: 'EUR',
    });
    assert.equal(named('page', 'name', 'Landing').category, 'Marketing');
    assert.deepEqual(named('screen', 'name', 'Dashboard').properties, { tab: 'overview' });
    assert.deepEqual(named('group', 'groupId', 'acme-sdk').traits, { name: 'Acme', industry: 'Retail' });
    assert.equal(named('alias', 'previousId', anonymousId).userId, userId);
    assert.deepEqual(named('identify', 'userId', userId).traits, {
      email,
      name: 'Ada Lovelace',
      plan: 'pro',
    });

    for (const e of events) {
      const library = e.context.library as { name?: string; version?: string } | undefined;
      // The SDK names itself "@segment/analytics-node".
      assert.match(library?.name ?? '', /(^|\/)analytics-node$/, `library of ${e.type}`);
      assert.equal(library?.name, '@segment/analytics-node');
      assert.match(library?.version ?? '', /^3\./);
      assert.equal(typeof e.messageId, 'string');
      // The SDK sends sentAt with each batch: event times stay on the server's clock.
      const ts = Date.parse(e.timestamp);
      assert.ok(ts >= started - 2000 && ts <= Date.now() + 2000, `timestamp ${e.timestamp}`);
      assert.equal(typeof e.sentAt, 'string');
    }
    assert.equal(new Set(events.map((e) => e.messageId)).size, events.length);
  });

  it('delivers many SDK batches, each event stored once', async () => {
    const url = server.url;
    const { analytics, delivery } = sdk(url, 7);
    const before = await status(url);
    const users = Array.from({ length: 5 }, () => uid('sdk-many'));
    for (let i = 0; i < 60; i++) {
      analytics.track({ userId: users[i % users.length] as string, event: 'Item Added', properties: { i } });
    }
    await analytics.closeAndFlush({ timeout: 15_000 });
    assert.deepEqual(delivery.errors, []);
    assert.ok(
      delivery.statuses.length >= 9 && delivery.statuses.every((s) => s === 200),
      `statuses ${delivery.statuses.join(',')}`,
    );
    const after = await status(url);
    assert.equal(after.events, before.events + 60);
    assert.equal(after.profiles, before.profiles + users.length);
    for (const u of users) {
      const events = await timeline(url, (await profileOf(url, 'userId', u)).id);
      assert.equal(events.length, 12);
      assert.deepEqual(
        events.map((e) => (e.properties as { i: number }).i).sort((a, b) => a - b),
        Array.from({ length: 12 }, (_, k) => k * users.length + users.indexOf(u)),
      );
    }
  });

  it('reports a wrong write key as a delivery error and stores nothing', async () => {
    const url = server.url;
    const before = await status(url);
    const analytics = new Analytics({
      writeKey: 'wk_definitely_wrong_123',
      host: url,
      flushAt: 1,
      maxRetries: 0,
    });
    const statuses: number[] = [];
    analytics.on('http_response', (r) => statuses.push(r.status));
    const failed = new Promise<unknown>((resolve) => {
      analytics.track({ userId: uid('sdk-wrong'), event: 'Nope' }, (err) => resolve(err));
    });
    assert.ok(await failed, 'the SDK callback gets an error');
    await analytics.closeAndFlush({ timeout: 10_000 });
    assert.deepEqual(statuses, [401]);
    assert.deepEqual(await status(url), before);
  });
});
