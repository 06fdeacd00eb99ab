/**
 * The electric-car story end to end: a customer who said they want an electric car browses car
 * pages in a burst; three promotional journeys (e-mail, SMS, push) fire for every view, and one
 * transactional confirmation follows a test-drive booking. Everything goes through the real
 * delivery pipeline (templates, guardrails, senders) to real protocol peers on loopback: an SMTP
 * server, a Twilio-shaped and an FCM-shaped HTTP receiver. Only what the caps allow arrives; the
 * rest is recorded as skipped with its reason, on the timeline and in the journey statistics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { VirtualClock } from '../../src/core/clock.ts';
import { type HttpPeer, type SmtpPeer, startHttpPeer, startSmtpPeer } from '../channels/peers.ts';
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

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-05-12T11:00:00.000Z');

describe('electric car: guardrails across channels', () => {
  const clock = new VirtualClock(T0);
  let server: InProcessServer;
  let smtp: SmtpPeer;
  let sms: HttpPeer;
  let fcm: HttpPeer;
  let n = 0;
  const ok = async (p: Promise<{ status: number; body: unknown }>) => {
    const r = await p;
    assert.ok(r.status >= 200 && r.status < 300, JSON.stringify(r.body));
  };
  const track = (event: string, properties: Record<string, unknown> = {}) =>
    ok(
      postTracking(server.url, '/v1/track', {
        userId: 'ev-fan',
        event,
        properties,
        timestamp: new Date(clock.now()).toISOString(),
        messageId: `ev-${n++}`,
      }),
    );
  const delivered = () => smtp.mails.length + sms.received.length + fcm.received.length;
  const settle = async () => {
    await server.app.journeys.settled();
    await new Promise((r) => setTimeout(r, 50));
  };

  before(async () => {
    smtp = await startSmtpPeer();
    let sid = 0;
    sms = await startHttpPeer(() => ({
      kind: 'reply',
      status: 201,
      body: JSON.stringify({ sid: `SM${(sid++).toString().padStart(32, '0')}`, status: 'queued' }),
    }));
    let push = 0;
    fcm = await startHttpPeer(() => ({
      kind: 'reply',
      status: 200,
      body: JSON.stringify({ name: `projects/cars/messages/${push++}` }),
    }));
    server = await startApp({ clock });
    await server.app.journeys.ready;
    const url = server.url;
    await ok(
      admin(url, 'PUT', '/api/channels/email', {
        host: '127.0.0.1',
        port: smtp.port,
        secure: false,
        ignoreTLS: true,
        from: 'Cars <offers@cars.example>',
        publicUrl: 'https://t.cars.example',
      }),
    );
    await ok(
      admin(url, 'PUT', '/api/channels/sms', {
        accountSid: 'AC1',
        authToken: 'secret',
        from: '+15550001111',
        baseUrl: sms.url,
      }),
    );
    await ok(
      admin(url, 'PUT', '/api/channels/push', { projectId: 'cars', accessToken: 'tok', baseUrl: fcm.url }),
    );
    const content = {
      email: {
        subject: 'An electric car for {{ profile.traits.first_name }}',
        text: 'Test-drive the e-{{ event.properties.model }}',
      },
      sms: { text: 'Your e-{{ event.properties.model }} is waiting' },
      push: { title: 'Electric offer', body: 'The e-{{ event.properties.model }} for you' },
    };
    for (const [channel, c] of Object.entries(content)) {
      await ok(
        admin(url, 'PUT', `/api/templates/ev-offer-${channel}`, {
          channel,
          category: 'promotional',
          defaultLocale: 'en',
          locales: { en: c },
        }),
      );
      await ok(
        admin(url, 'PUT', `/api/journeys/ev-offer-${channel}?publish=true`, {
          trigger: { event: 'Car Page Viewed' },
          start: 'wants-ev',
          nodes: {
            // Zero-party data: only people who asked for an electric car get electric offers.
            'wants-ev': {
              type: 'branch',
              branches: [{ condition: { trait: 'wants', op: 'eq', value: 'electric' }, next: 'offer' }],
              otherwise: null,
            },
            offer: { type: 'send', channel, template: `ev-offer-${channel}` },
          },
          reentry: 'always',
          maxConcurrent: 50,
        }),
      );
    }
    await ok(
      admin(url, 'PUT', '/api/templates/test-drive-confirmed', {
        channel: 'email',
        category: 'transactional',
        defaultLocale: 'en',
        locales: { en: { subject: 'Your test drive', text: 'See you on {{ event.properties.day }}' } },
      }),
    );
    await ok(
      admin(url, 'PUT', '/api/journeys/test-drive?publish=true', {
        trigger: { event: 'Test Drive Booked' },
        start: 'confirm',
        nodes: {
          confirm: {
            type: 'send',
            channel: 'email',
            template: 'test-drive-confirmed',
            category: 'transactional',
          },
        },
        reentry: 'always',
      }),
    );
    await ok(
      postTracking(url, '/v1/identify', {
        userId: 'ev-fan',
        traits: {
          first_name: 'Ada',
          email: 'ada@example.com',
          phone: '+15550002222',
          push_tokens: ['fcm-token-1'],
          wants: 'electric',
          timezone: 'Europe/Berlin',
          consent: { sms: { promotional: true } },
        },
      }),
    );
  });

  after(async () => {
    await server?.close();
    await smtp?.close();
    await sms?.close();
    await fcm?.close();
  });

  test('a burst of ten views across three channels yields one promotional message; the rest are skipped with reasons', async () => {
    for (let i = 0; i < 10; i++) await track('Car Page Viewed', { model: 'Volt' });
    await settle();
    await eventually(
      'every message decided',
      async () =>
        (await timeline(server.url, (await findProfile(server.url, 'userId', 'ev-fan'))!.id)).filter(
          (e) => e.event === 'Message Sent' || e.event === 'Message Skipped',
        ).length,
      (k) => k === 30,
      15_000,
    );
    assert.equal(delivered(), 1, 'one promotional message a day, across channels');

    // Transactional messages are not capped.
    await track('Test Drive Booked', { day: 'Saturday' });
    await eventually(
      'the confirmation arrives',
      async () => smtp.mails.length + sms.received.length + fcm.received.length,
      (k) => k === 2,
      15_000,
    );
    const confirmation = smtp.mails.find((m) => m.raw.includes('Your test drive'));
    assert.ok(confirmation, 'the confirmation is an e-mail');

    const id = (await findProfile(server.url, 'userId', 'ev-fan'))!.id;
    const events: StoredEventBody[] = await timeline(server.url, id);
    const skipped = events.filter((e) => e.event === 'Message Skipped');
    assert.equal(skipped.length, 29);
    const reasons = new Set(skipped.map((e) => (e.properties as { reason: string }).reason));
    assert.ok(
      [...reasons].every((r) => r === 'frequency_cap' || r === 'duplicate' || r === 'already_sent'),
      [...reasons].join(),
    );
    assert.ok(reasons.has('frequency_cap'));
    for (const e of skipped) assert.match(String((e.properties as { detail: string }).detail), /\w+: /);

    // The journeys' statistics show the same decisions.
    let skippedInStats = 0;
    let deliveredInStats = 0;
    for (const channel of ['email', 'sms', 'push']) {
      const s = (
        await admin<{ nodes: Record<string, Record<string, number>> }>(
          server.url,
          'GET',
          `/api/journeys/ev-offer-${channel}/stats`,
        )
      ).body;
      const offer = s.nodes.offer!;
      assert.equal(offer.queued, 10);
      deliveredInStats += offer.delivered ?? 0;
      for (const [k, v] of Object.entries(offer)) if (k.startsWith('skipped:')) skippedInStats += v;
    }
    assert.equal(deliveredInStats, 1);
    assert.equal(skippedInStats, 29);
  });

  test('a customer who did not ask for an electric car gets no electric offer; the next day allows one more', async () => {
    await ok(
      postTracking(server.url, '/v1/identify', {
        userId: 'petrolhead',
        traits: { email: 'p@example.com', wants: 'petrol' },
      }),
    );
    await ok(
      postTracking(server.url, '/v1/track', {
        userId: 'petrolhead',
        event: 'Car Page Viewed',
        properties: { model: 'Volt' },
        timestamp: new Date(clock.now()).toISOString(),
      }),
    );
    await settle();
    const before = delivered();
    clock.advance(DAY + HOUR);
    await track('Car Page Viewed', { model: 'Ioniq' });
    await settle();
    await eventually(
      'one more offer the next day',
      async () => delivered(),
      (k) => k === before + 1,
      15_000,
    );
    assert.ok(!smtp.mails.some((m) => m.to.includes('p@example.com')));
  });

  test('the global holdout receives no promotional message, but still its transactional ones', async () => {
    await ok(admin(server.url, 'PUT', '/api/settings/holdout', { percent: 100 }));
    clock.advance(2 * DAY);
    const before = delivered();
    await track('Car Page Viewed', { model: 'Kona' });
    await track('Test Drive Booked', { day: 'Monday' });
    const id = (await findProfile(server.url, 'userId', 'ev-fan'))!.id;
    const held = await eventually(
      'promotional messages skipped for the holdout',
      async () =>
        (await timeline(server.url, id)).filter(
          (e) =>
            e.event === 'Message Skipped' && (e.properties as { reason: string }).reason === 'global_holdout',
        ).length,
      (k) => k === 3,
      15_000,
    );
    assert.equal(held, 3);
    await eventually(
      'only the confirmation arrives',
      async () => delivered(),
      (k) => k === before + 1,
      15_000,
    );
    await ok(admin(server.url, 'PUT', '/api/settings/holdout', { percent: 0 }));
  });
});
