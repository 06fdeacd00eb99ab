/**
 * The Segment-compatible tracking API as a client sees it: what each call stores (read back
 * through the admin API), identity resolution, authentication, de-duplication, clock-skew
 * correction, body encodings, erasure, export, and the operational endpoints.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  ADMIN_TOKEN,
  admin,
  basicAuth,
  findProfile,
  type InProcessServer,
  type ProfileBody,
  postTracking,
  type StoredEventBody,
  startApp,
  status,
  timeline,
  uid,
  WRITE_KEY,
} from '../helpers/server.ts';

const HOUR = 3_600_000;

/** Asserts a 200 `{"success":true}` answer. */
function assertOk(r: { status: number; body: unknown }, what = 'request'): void {
  assert.equal(r.status, 200, `${what}: ${JSON.stringify(r.body)}`);
  assert.deepEqual(r.body, { success: true });
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

const byMessageId = (events: readonly StoredEventBody[], id: string): StoredEventBody => {
  const e = events.find((x) => x.messageId === id);
  assert.ok(e, `event ${id} not on the timeline (${events.map((x) => x.messageId).join(', ')})`);
  return e;
};

async function metricValue(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l === name);
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

describe('tracking API', () => {
  let server: InProcessServer;
  let url: string;
  before(async () => {
    server = await startApp();
    url = server.url;
  });
  after(async () => {
    await server?.close();
  });

  it('shows a page at / saying it runs, with the stored counts and links to the APIs', async () => {
    const before = await status(url);
    const r = await fetch(`${url}/`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /text\/html/);
    const html = await r.text();
    assert.match(html, /Concierge is running/);
    assert.match(html, new RegExp(`<dt>Events</dt><dd>${before.events.toLocaleString('en')}</dd>`));
    assert.match(html, /href="\/openapi.json"/);
  });

  it('lets browser SDKs on any origin call the tracking API (CORS preflight and responses)', async () => {
    const pre = await fetch(`${url}/v1/batch`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://shop.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,authorization',
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization/i);
    const r = await fetch(`${url}/v1/track`, {
      method: 'POST',
      headers: {
        origin: 'https://shop.example',
        authorization: basicAuth(WRITE_KEY),
        'content-type': 'text/plain',
      },
      body: JSON.stringify({ anonymousId: uid('cors'), event: 'Page Loaded' }),
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
  });

  describe('each call type stores an event with the documented shape', () => {
    const context = { ip: '203.0.113.9', locale: 'de-DE', library: { name: 'test-suite', version: '1.0.0' } };
    const integrations = { All: true, Mixpanel: false };
    const timestamp = '2026-03-04T05:06:07.123Z';
    const cases: {
      type: string;
      body: (ids: { userId: string; anonymousId: string }) => Record<string, unknown>;
      expect: Record<string, unknown>;
    }[] = [
      {
        type: 'identify',
        body: (ids) => ({ ...ids, traits: { plan: 'pro', seats: 3, address: { city: 'Berlin' } } }),
        expect: { traits: { plan: 'pro', seats: 3, address: { city: 'Berlin' } } },
      },
      {
        type: 'track',
        body: (ids) => ({
          ...ids,
          event: 'Order Completed',
          properties: { revenue: 42.5, currency: 'EUR', products: [{ sku: 'a' }] },
        }),
        expect: {
          event: 'Order Completed',
          properties: { revenue: 42.5, currency: 'EUR', products: [{ sku: 'a' }] },
        },
      },
      {
        type: 'page',
        body: (ids) => ({
          ...ids,
          name: 'Pricing',
          category: 'Docs',
          properties: { path: '/pricing', title: 'Pricing' },
        }),
        expect: { name: 'Pricing', category: 'Docs', properties: { path: '/pricing', title: 'Pricing' } },
      },
      {
        type: 'screen',
        body: (ids) => ({ ...ids, name: 'Home', properties: { variation: 'blue' } }),
        expect: { name: 'Home', properties: { variation: 'blue' } },
      },
      {
        type: 'group',
        body: (ids) => ({ ...ids, groupId: 'acme-inc', traits: { name: 'Acme', employees: 120 } }),
        expect: { groupId: 'acme-inc', traits: { name: 'Acme', employees: 120 } },
      },
    ];
    for (const c of cases) {
      it(`stores a ${c.type} call with its fields, context, integrations and times`, async () => {
        const ids = { userId: uid(`u-${c.type}`), anonymousId: uid(`a-${c.type}`) };
        const messageId = uid('m');
        const before = Date.now();
        const body = { ...c.body(ids), messageId, timestamp, context, integrations };
        assertOk(await postTracking(url, `/v1/${c.type}`, body), c.type);
        const after = Date.now();

        const profile = await profileOf(url, 'userId', ids.userId);
        assert.deepEqual(profile.userIds, [ids.userId]);
        assert.deepEqual(profile.anonymousIds, [ids.anonymousId]);
        const events = await timeline(url, profile.id);
        assert.equal(events.length, 1);
        const e = byMessageId(events, messageId);
        assert.equal(e.type, c.type);
        assert.equal(e.userId, ids.userId);
        assert.equal(e.anonymousId, ids.anonymousId);
        assert.deepEqual(e.context, context);
        assert.deepEqual(e.integrations, integrations);
        assert.equal(Date.parse(e.timestamp), Date.parse(timestamp), 'timestamp without sentAt is kept');
        assert.equal(e.originalTimestamp, timestamp);
        const receivedAt = Date.parse(String(e.receivedAt));
        assert.ok(receivedAt >= before - 1000 && receivedAt <= after + 1000, `receivedAt ${e.receivedAt}`);
        for (const [k, v] of Object.entries(c.expect)) assert.deepEqual(e[k], v, `field ${k}`);
        assert.equal('writeKey' in e, false);
        // Only identify sets the person's traits (group traits belong to the group).
        assert.deepEqual(profile.traits, c.type === 'identify' ? c.expect.traits : {});
        if (c.type === 'group') assert.deepEqual(profile.groups, ['acme-inc']);
      });
    }

    it('stores an alias call with previousId and userId on the known profile', async () => {
      const userId = uid('u-alias');
      const previousId = uid('a-alias');
      const messageId = uid('m');
      assertOk(await postTracking(url, '/v1/alias', { userId, previousId, messageId, timestamp, context }));
      const profile = await profileOf(url, 'userId', userId);
      const e = byMessageId(await timeline(url, profile.id), messageId);
      assert.equal(e.type, 'alias');
      assert.equal(e.userId, userId);
      assert.equal(e.previousId, previousId);
      assert.deepEqual(e.context, context);
      assert.equal(Date.parse(e.timestamp), Date.parse(timestamp));
    });

    it('gives a message without messageId or timestamp a fresh id and the receive time', async () => {
      const userId = uid('u');
      const before = Date.now();
      assertOk(await postTracking(url, '/v1/track', { userId, event: 'No Extras' }));
      const after = Date.now();
      const [e] = await timeline(url, (await profileOf(url, 'userId', userId)).id);
      assert.ok(e);
      assert.equal(typeof e.messageId, 'string');
      assert.ok(e.messageId.length > 0);
      const ts = Date.parse(e.timestamp);
      assert.ok(ts >= before - 1000 && ts <= after + 1000, `timestamp ${e.timestamp}`);
      assert.deepEqual(e.context, {});
    });

    it('accepts numeric ids and stores them as strings', async () => {
      const n = Math.floor(Math.random() * 1e9) + 1e9;
      assertOk(await postTracking(url, '/v1/identify', { userId: n, traits: { numeric: true } }));
      const profile = await profileOf(url, 'userId', String(n));
      assert.deepEqual(profile.userIds, [String(n)]);
      const [e] = await timeline(url, profile.id);
      assert.equal(e?.userId, String(n));
    });
  });

  it('identify links an anonymousId to a userId so earlier anonymous events show on the known profile', async () => {
    const anonymousId = uid('anon');
    const userId = uid('user');
    const m1 = uid('m');
    const m2 = uid('m');
    const m3 = uid('m');
    assertOk(await postTracking(url, '/v1/page', { anonymousId, name: 'Landing', messageId: m1 }));
    assertOk(await postTracking(url, '/v1/track', { anonymousId, event: 'Signup Started', messageId: m2 }));
    const anonymous = await profileOf(url, 'anonymousId', anonymousId);
    assert.deepEqual(anonymous.userIds, []);
    assert.equal(await findProfile(url, 'userId', userId), null);

    assertOk(
      await postTracking(url, '/v1/identify', {
        userId,
        anonymousId,
        traits: { name: 'Ada' },
        messageId: m3,
      }),
    );
    const known = await profileOf(url, 'userId', userId);
    assert.deepEqual(known.userIds, [userId]);
    assert.deepEqual(known.anonymousIds, [anonymousId]);
    assert.equal((await profileOf(url, 'anonymousId', anonymousId)).id, known.id);
    const ids = (await timeline(url, known.id)).map((e) => e.messageId).sort();
    assert.deepEqual(ids, [m1, m2, m3].sort());
    // Later anonymous-only events land on the known profile too.
    const m4 = uid('m');
    assertOk(await postTracking(url, '/v1/track', { anonymousId, event: 'Clicked', messageId: m4 }));
    assert.ok((await timeline(url, known.id)).some((e) => e.messageId === m4));
  });

  it('alias merges the anonymous profile into the known one: identifiers, traits and events', async () => {
    const userId = uid('user');
    const previousId = uid('anon');
    const known = [uid('m'), uid('m')];
    const anon = [uid('m'), uid('m')];
    assertOk(
      await postTracking(url, '/v1/identify', { userId, traits: { plan: 'pro' }, messageId: known[0] }),
    );
    assertOk(await postTracking(url, '/v1/track', { userId, event: 'Logged In', messageId: known[1] }));
    assertOk(
      await postTracking(url, '/v1/identify', {
        anonymousId: previousId,
        traits: { city: 'Berlin' },
        messageId: anon[0],
      }),
    );
    assertOk(
      await postTracking(url, '/v1/track', { anonymousId: previousId, event: 'Viewed', messageId: anon[1] }),
    );
    const before = await profileOf(url, 'anonymousId', previousId);
    assert.notEqual(before.id, (await profileOf(url, 'userId', userId)).id);
    const statusBefore = await status(url);

    const aliasId = uid('m');
    assertOk(await postTracking(url, '/v1/alias', { previousId, userId, messageId: aliasId }));
    const merged = await profileOf(url, 'userId', userId);
    assert.equal((await profileOf(url, 'anonymousId', previousId)).id, merged.id);
    assert.deepEqual(merged.userIds, [userId]);
    assert.ok(merged.anonymousIds.includes(previousId));
    assert.deepEqual(merged.traits, { plan: 'pro', city: 'Berlin' });
    const ids = (await timeline(url, merged.id)).map((e) => e.messageId).sort();
    assert.deepEqual(ids, [...known, ...anon, aliasId].sort());
    const statusAfter = await status(url);
    assert.equal(statusAfter.profiles, statusBefore.profiles - 1, 'two profiles became one');
    assert.equal(statusAfter.events, statusBefore.events + 1);
  });

  it('identify merges traits key by key, the newest value of each key winning', async () => {
    const userId = uid('user');
    const t0 = Date.now() - 10 * HOUR;
    const at = (h: number) => new Date(t0 + h * HOUR).toISOString();
    assertOk(
      await postTracking(url, '/v1/identify', {
        userId,
        timestamp: at(1),
        traits: { plan: 'free', city: 'Berlin', tags: ['a'] },
      }),
    );
    assertOk(
      await postTracking(url, '/v1/identify', {
        userId,
        timestamp: at(2),
        traits: { plan: 'pro', age: 30, tags: ['b'] },
      }),
    );
    assert.deepEqual((await profileOf(url, 'userId', userId)).traits, {
      plan: 'pro',
      city: 'Berlin',
      age: 30,
      tags: ['b'],
    });
    // An identify that happened earlier but arrives late does not overwrite newer values.
    assertOk(
      await postTracking(url, '/v1/identify', {
        userId,
        timestamp: at(0),
        traits: { plan: 'legacy', country: 'DE' },
      }),
    );
    assert.deepEqual((await profileOf(url, 'userId', userId)).traits, {
      plan: 'pro',
      city: 'Berlin',
      age: 30,
      tags: ['b'],
      country: 'DE',
    });
  });

  describe('authentication', () => {
    it('accepts the write key as `writeKey` in the body and does not store it', async () => {
      const userId = uid('user');
      const messageId = uid('m');
      assertOk(
        await postTracking(
          url,
          '/v1/track',
          { writeKey: WRITE_KEY, userId, event: 'Body Key', messageId },
          { writeKey: null },
        ),
      );
      const e = byMessageId(await timeline(url, (await profileOf(url, 'userId', userId)).id), messageId);
      assert.equal('writeKey' in e, false);
      assert.ok(!JSON.stringify(e).includes(WRITE_KEY));

      const batchUser = uid('user');
      assertOk(
        await postTracking(
          url,
          '/v1/batch',
          { writeKey: WRITE_KEY, batch: [{ type: 'track', userId: batchUser, event: 'B' }] },
          { writeKey: null },
        ),
      );
      assert.ok(await findProfile(url, 'userId', batchUser));
    });

    it('accepts HTTP Basic auth with the write key as user name and an empty password', async () => {
      const userId = uid('user');
      const res = await fetch(`${url}/v1/track`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`,
        },
        body: JSON.stringify({ userId, event: 'Basic' }),
      });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { success: true });
      assert.ok(await findProfile(url, 'userId', userId));
    });

    it('accepts the write key of a source created through the admin API', async () => {
      const created = await admin<{ id: string; writeKey: string }>(url, 'POST', '/api/sources', {
        name: 'Second source',
      });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      assert.equal(typeof created.body.writeKey, 'string');
      const userId = uid('user');
      assertOk(
        await postTracking(
          url,
          '/v1/track',
          { userId, event: 'From Second' },
          { writeKey: created.body.writeKey },
        ),
      );
      const [e] = await timeline(url, (await profileOf(url, 'userId', userId)).id);
      assert.equal(e?.sourceId, created.body.id);
    });

    const rejected: {
      name: string;
      writeKey: string | null;
      body: Record<string, unknown>;
      message: RegExp;
    }[] = [
      { name: 'no write key at all', writeKey: null, body: {}, message: /write key/i },
      {
        name: 'an unknown write key in Basic auth',
        writeKey: 'wk_not_a_real_key_123',
        body: {},
        message: /unknown write key/i,
      },
      {
        name: 'an unknown write key in the body',
        writeKey: null,
        body: { writeKey: 'wk_not_a_real_key_456' },
        message: /unknown write key/i,
      },
      {
        name: 'the admin token instead of a write key',
        writeKey: ADMIN_TOKEN,
        body: {},
        message: /unknown write key/i,
      },
      { name: 'an empty Basic user name and password', writeKey: '', body: {}, message: /write key/i },
    ];
    for (const c of rejected) {
      it(`answers 401 with the error shape and stores nothing for ${c.name}`, async () => {
        const userId = uid('user');
        for (const path of ['/v1/track', '/v1/batch']) {
          const payload =
            path === '/v1/batch'
              ? { ...c.body, batch: [{ type: 'track', userId, event: 'X' }] }
              : { ...c.body, userId, event: 'X' };
          const headers = c.writeKey === '' ? { authorization: basicAuth('') } : undefined;
          const r = await postTracking<{ success: boolean; errors: { path: string; message: string }[] }>(
            url,
            path,
            payload,
            {
              writeKey: c.writeKey === '' ? null : c.writeKey,
              ...(headers ? { headers } : {}),
            },
          );
          assert.equal(r.status, 401, `${path}: ${JSON.stringify(r.body)}`);
          assert.equal(r.body.success, false);
          assert.ok(Array.isArray(r.body.errors) && r.body.errors.length >= 1);
          assert.equal(typeof r.body.errors[0]?.path, 'string');
          assert.match(r.body.errors[0]?.message ?? '', c.message);
        }
        assert.equal(await findProfile(url, 'userId', userId), null);
      });
    }
  });

  describe('messageId de-duplication', () => {
    it('stores a messageId repeated within one batch once', async () => {
      const userId = uid('user');
      const messageId = uid('m');
      const before = await status(url);
      const item = { type: 'track', userId, event: 'Dup', messageId };
      assertOk(
        await postTracking(url, '/v1/batch', { batch: [item, item, { ...item, event: 'Dup Changed' }] }),
      );
      const events = await timeline(url, (await profileOf(url, 'userId', userId)).id);
      assert.deepEqual(
        events.map((e) => e.messageId),
        [messageId],
      );
      assert.equal((await status(url)).events, before.events + 1);
    });

    it('stores a messageId retried in later requests once, and answers the retry with 200', async () => {
      const userId = uid('user');
      const messageId = uid('m');
      const body = { userId, event: 'Retried', messageId, properties: { n: 1 } };
      assertOk(await postTracking(url, '/v1/track', body));
      const before = await status(url);
      assertOk(await postTracking(url, '/v1/track', body), 'retry');
      assertOk(
        await postTracking(url, '/v1/batch', { batch: [{ type: 'track', ...body }] }),
        'retry in a batch',
      );
      assertOk(
        await postTracking(url, '/v1/track', gzipSync(JSON.stringify(body)), {
          headers: { 'content-encoding': 'gzip' },
        }),
        'retry gzipped',
      );
      const events = await timeline(url, (await profileOf(url, 'userId', userId)).id);
      assert.equal(events.length, 1);
      assert.deepEqual(events[0]?.properties, { n: 1 });
      assert.equal((await status(url)).events, before.events);
    });

    it('de-duplicates per source: the same messageId from another source is its own event', async () => {
      const other = await admin<{ writeKey: string }>(url, 'POST', '/api/sources', { name: 'Dedupe other' });
      assert.equal(other.status, 200);
      const userId = uid('user');
      const messageId = uid('m');
      const before = await status(url);
      assertOk(await postTracking(url, '/v1/track', { userId, event: 'A', messageId }));
      assertOk(
        await postTracking(
          url,
          '/v1/track',
          { userId, event: 'A', messageId },
          { writeKey: other.body.writeKey },
        ),
      );
      assert.equal((await status(url)).events, before.events + 2);
      const events = await timeline(url, (await profileOf(url, 'userId', userId)).id);
      assert.equal(events.length, 2);
      assert.notEqual(events[0]?.sourceId, events[1]?.sourceId);
    });
  });

  it('corrects clock skew from sentAt and keeps the original timestamp', async () => {
    const userId = uid('user');
    const messageId = uid('m');
    // The client's clock is an hour behind: it believes the event happened and was sent an hour ago.
    const skewed = new Date(Date.now() - HOUR).toISOString();
    const before = Date.now();
    assertOk(
      await postTracking(url, '/v1/track', {
        userId,
        event: 'Skewed',
        messageId,
        timestamp: skewed,
        sentAt: skewed,
      }),
    );
    const after = Date.now();
    const e = byMessageId(await timeline(url, (await profileOf(url, 'userId', userId)).id), messageId);
    const ts = Date.parse(e.timestamp);
    assert.ok(ts >= before - 1000 && ts <= after + 1000, `timestamp ${e.timestamp} should be about now`);
    assert.equal(e.originalTimestamp, skewed);
    assert.equal(e.sentAt, skewed);
  });

  it('merges the batch-level context into every item, the item’s own keys winning', async () => {
    const userId = uid('user');
    const [m1, m2] = [uid('m'), uid('m')];
    const batchContext = {
      ip: '198.51.100.1',
      library: { name: 'batch-lib', version: '2' },
      timezone: 'Europe/Berlin',
    };
    assertOk(
      await postTracking(url, '/v1/batch', {
        context: batchContext,
        batch: [
          { type: 'track', userId, event: 'One', messageId: m1 },
          {
            type: 'track',
            userId,
            event: 'Two',
            messageId: m2,
            context: { locale: 'fr-FR', ip: '192.0.2.5' },
          },
        ],
      }),
    );
    const events = await timeline(url, (await profileOf(url, 'userId', userId)).id);
    assert.deepEqual(byMessageId(events, m1).context, batchContext);
    assert.deepEqual(byMessageId(events, m2).context, { ...batchContext, locale: 'fr-FR', ip: '192.0.2.5' });
  });

  it('accepts a gzip-encoded body', async () => {
    const userId = uid('user');
    const body = gzipSync(
      JSON.stringify({
        batch: [
          { type: 'identify', userId, traits: { zipped: true } },
          { type: 'track', userId, event: 'Zipped' },
        ],
      }),
    );
    assertOk(await postTracking(url, '/v1/batch', body, { headers: { 'content-encoding': 'gzip' } }));
    const profile = await profileOf(url, 'userId', userId);
    assert.deepEqual(profile.traits, { zipped: true });
    assert.equal((await timeline(url, profile.id)).length, 2);
  });

  it('accepts a JSON body sent as text/plain, as browser beacons send it', async () => {
    const userId = uid('user');
    const r = await postTracking(
      url,
      '/v1/track',
      JSON.stringify({ writeKey: WRITE_KEY, userId, event: 'Beacon' }),
      {
        writeKey: null,
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
      },
    );
    assertOk(r);
    const [e] = await timeline(url, (await profileOf(url, 'userId', userId)).id);
    assert.equal(e?.event, 'Beacon');
  });

  it('erasure removes the profile, its events and its identifiers', async () => {
    const userId = uid('user');
    const anonymousId = uid('anon');
    const email = `${uid('mail')}@example.com`;
    assertOk(
      await postTracking(url, '/v1/identify', {
        userId,
        anonymousId,
        traits: { email, plan: 'pro', secret: 'old' },
      }),
    );
    assertOk(await postTracking(url, '/v1/track', { userId, event: 'Bought' }));
    assertOk(await postTracking(url, '/v1/page', { anonymousId, name: 'Home' }));
    const bystander = uid('user');
    assertOk(await postTracking(url, '/v1/track', { userId: bystander, event: 'Unrelated' }));
    const profile = await profileOf(url, 'userId', userId);
    assert.equal((await profileOf(url, 'email', email)).id, profile.id);
    const before = await status(url);

    const erased = await admin(url, 'DELETE', `/api/profiles/${profile.id}`);
    assert.equal(erased.status, 200, JSON.stringify(erased.body));

    assert.equal((await admin(url, 'GET', `/api/profiles/${profile.id}`)).status, 404);
    const events = await admin<{ events?: unknown[] }>(url, 'GET', `/api/profiles/${profile.id}/events`);
    assert.ok(
      events.status === 404 || (events.status === 200 && events.body.events?.length === 0),
      `timeline: ${events.status}`,
    );
    assert.equal((await admin(url, 'GET', `/api/profiles/${profile.id}/export`)).status, 404);
    assert.equal(await findProfile(url, 'userId', userId), null);
    assert.equal(await findProfile(url, 'anonymousId', anonymousId), null);
    assert.equal(await findProfile(url, 'email', email), null);
    const after = await status(url);
    assert.equal(after.events, before.events - 3);
    assert.equal(after.profiles, before.profiles - 1);
    assert.ok(await findProfile(url, 'userId', bystander), 'other profiles are untouched');
    assert.equal((await admin(url, 'DELETE', `/api/profiles/${profile.id}`)).status, 404, 'erasing twice');

    // The same person coming back starts from nothing.
    assertOk(await postTracking(url, '/v1/identify', { userId, traits: { plan: 'free' } }));
    const fresh = await profileOf(url, 'userId', userId);
    assert.notEqual(fresh.id, profile.id);
    assert.deepEqual(fresh.traits, { plan: 'free' });
    assert.deepEqual(fresh.anonymousIds, []);
    assert.equal((await timeline(url, fresh.id)).length, 1);
    assert.equal(await findProfile(url, 'anonymousId', anonymousId), null);
  });

  it('export contains the profile and all of its events', async () => {
    const userId = uid('user');
    const anonymousId = uid('anon');
    const ids = [uid('m'), uid('m'), uid('m'), uid('m')];
    assertOk(await postTracking(url, '/v1/page', { anonymousId, name: 'Home', messageId: ids[0] }));
    assertOk(
      await postTracking(url, '/v1/identify', {
        userId,
        anonymousId,
        traits: { plan: 'pro' },
        messageId: ids[1],
      }),
    );
    assertOk(
      await postTracking(url, '/v1/track', {
        userId,
        event: 'Bought',
        properties: { revenue: 9 },
        messageId: ids[2],
      }),
    );
    assertOk(
      await postTracking(url, '/v1/group', {
        userId,
        groupId: 'g-export',
        traits: { name: 'Export Co' },
        messageId: ids[3],
      }),
    );
    const profile = await profileOf(url, 'userId', userId);
    const r = await admin<{ profile: ProfileBody; events: StoredEventBody[] }>(
      url,
      'GET',
      `/api/profiles/${profile.id}/export`,
    );
    assert.equal(r.status, 200);
    assert.equal(r.body.profile.id, profile.id);
    assert.deepEqual(r.body.profile.userIds, [userId]);
    assert.deepEqual(r.body.profile.anonymousIds, [anonymousId]);
    assert.deepEqual(r.body.profile.traits, { plan: 'pro' });
    assert.deepEqual(r.body.events.map((e) => e.messageId).sort(), [...ids].sort());
    const bought = byMessageId(r.body.events, ids[2] as string);
    assert.equal(bought.event, 'Bought');
    assert.deepEqual(bought.properties, { revenue: 9 });
    assert.ok(JSON.stringify(r.body).includes('Export Co'), 'group traits are part of the export');
    assert.match(r.headers.get('content-type') ?? '', /json/);
  });

  it('/openapi.json lists every tracking and admin route', async () => {
    const r = await fetch(`${url}/openapi.json`);
    assert.equal(r.status, 200);
    const doc = (await r.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    assert.match(doc.openapi, /^3\./);
    const expected: [string, string][] = [
      ...['identify', 'track', 'page', 'screen', 'group', 'alias', 'batch'].map((t): [string, string] => [
        'post',
        `/v1/${t}`,
      ]),
      ['get', '/api/profiles'],
      ['get', '/api/profiles/{id}'],
      ['delete', '/api/profiles/{id}'],
      ['get', '/api/profiles/{id}/events'],
      ['get', '/api/profiles/{id}/export'],
      ['post', '/api/sources'],
      ['get', '/api/status'],
      ['get', '/healthz'],
      ['get', '/metrics'],
    ];
    const missing = expected
      .filter(([m, p]) => doc.paths[p]?.[m] === undefined)
      .map(([m, p]) => `${m.toUpperCase()} ${p}`);
    assert.deepEqual(missing, []);
    // Every documented route really exists (none documented that the server does not serve).
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const m of Object.keys(ops)) {
        if (!['get', 'post', 'put', 'delete', 'patch'].includes(m)) continue;
        const route = { method: m.toUpperCase() as 'GET', url: p.replace(/\{([^}]+)\}/g, ':$1') };
        assert.ok(server.app.http.hasRoute(route), `${m} ${p} is documented but not served`);
      }
    }
  });

  it('/metrics counts stored events and not duplicates', async () => {
    const stored0 = await metricValue(url, 'concierge_events_stored_total');
    const dup0 = await metricValue(url, 'concierge_events_duplicate_total');
    const userId = uid('user');
    const batch = Array.from({ length: 5 }, (_, i) => ({
      type: 'track',
      userId,
      event: 'Metered',
      messageId: `${userId}-${i}`,
    }));
    assertOk(await postTracking(url, '/v1/batch', { batch }));
    assertOk(await postTracking(url, '/v1/batch', { batch: batch.slice(0, 2) }));
    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    assert.equal(await metricValue(url, 'concierge_events_stored_total'), stored0 + 5);
    assert.equal(await metricValue(url, 'concierge_events_duplicate_total'), dup0 + 2);
  });

  it('/metrics gives the memory the process holds itself, below its whole resident size', {
    skip: process.platform !== 'linux',
  }, async () => {
    const anonymous = await metricValue(url, 'concierge_process_anonymous_memory_bytes');
    const resident = await metricValue(url, 'concierge_process_resident_memory_bytes');
    assert.ok(anonymous > 1_000_000, `anonymous memory ${anonymous}`);
    assert.ok(anonymous <= resident, `anonymous ${anonymous} > resident ${resident}`);
  });

  it('/healthz answers {"ok":true}', async () => {
    const r = await fetch(`${url}/healthz`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { ok: true });
  });
});

describe('tracking API with a virtual clock', () => {
  const NOW = Date.parse('2026-06-15T12:00:00.000Z');
  let server: InProcessServer;
  before(async () => {
    server = await startApp({ now: () => NOW });
  });
  after(async () => {
    await server?.close();
  });

  it('moves the event time by exactly (received − sentAt), from the message or the batch', async () => {
    const url = server.url;
    const userId = uid('user');
    const iso = (ms: number) => new Date(ms).toISOString();
    const [own, batchLevel, overridden, none] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    assertOk(
      await postTracking(url, '/v1/batch', {
        sentAt: iso(NOW - 2 * HOUR),
        batch: [
          // Happened 5 s before the client sent it; the client clock is 1 h behind.
          {
            type: 'track',
            userId,
            event: 'Own',
            messageId: own,
            timestamp: iso(NOW - HOUR - 5000),
            sentAt: iso(NOW - HOUR),
          },
          // Uses the batch's sentAt: the client clock is 2 h behind.
          {
            type: 'track',
            userId,
            event: 'Batch',
            messageId: batchLevel,
            timestamp: iso(NOW - 2 * HOUR - 7000),
          },
          // The message's own sentAt wins over the batch's.
          {
            type: 'track',
            userId,
            event: 'Over',
            messageId: overridden,
            timestamp: iso(NOW + HOUR - 1000),
            sentAt: iso(NOW + HOUR),
          },
        ],
      }),
    );
    assertOk(
      await postTracking(url, '/v1/track', {
        userId,
        event: 'None',
        messageId: none,
        timestamp: iso(NOW - 3 * HOUR),
      }),
    );
    const events = await timeline(url, (await profileOf(url, 'userId', userId)).id);
    assert.equal(Date.parse(byMessageId(events, own).timestamp), NOW - 5000);
    assert.equal(byMessageId(events, own).originalTimestamp, iso(NOW - HOUR - 5000));
    assert.equal(Date.parse(byMessageId(events, batchLevel).timestamp), NOW - 7000);
    assert.equal(Date.parse(byMessageId(events, overridden).timestamp), NOW - 1000);
    assert.equal(Date.parse(byMessageId(events, none).timestamp), NOW - 3 * HOUR, 'no sentAt: no correction');
    for (const e of events) assert.equal(Date.parse(String(e.receivedAt)), NOW);
    // Newest first by corrected event time.
    assert.deepEqual(
      events.map((e) => e.messageId),
      [overridden, own, batchLevel, none],
    );
  });
});
