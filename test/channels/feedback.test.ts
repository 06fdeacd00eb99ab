/**
 * The delivery side in the running product: channel settings with masked secrets, an e-mail sent
 * to a real SMTP peer and its signed links coming back as events (open, click, one-click
 * unsubscribe that sets the consent trait at once), Twilio-signed inbound SMS with STOP, bounce
 * receipts that suppress the channel, and the in-app inbox a client reads with a write key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChannelSettingsStore } from '../../src/channels/channel-settings.ts';
import { Channels } from '../../src/channels/channels.ts';
import type { OutboundMessage } from '../../src/channels/outbound.ts';
import { twilioSignature } from '../../src/http/feedback-routes.ts';
import { eventually } from '../helpers/eventually.ts';
import {
  admin,
  basicAuth,
  findProfile,
  type InProcessServer,
  type ProfileBody,
  postTracking,
  startApp,
  timeline,
  uid,
  WRITE_KEY,
} from '../helpers/server.ts';
import { decodeQuotedPrintable, type SmtpPeer, startSmtpPeer } from './peers.ts';

describe('channel feedback in the running product', () => {
  let server: InProcessServer;
  let smtp: SmtpPeer;
  const opened: Channels[] = [];
  /** A delivery side of its own over the app's store, opened fresh so it reads what the API just wrote. */
  const deliver = async (m: OutboundMessage) => {
    const app = server.app;
    const c = await Channels.open({
      store: app.store,
      ingest: app.ingest,
      sources: app.sources,
      workspace: app.workspace,
      now: Date.now,
    });
    opened.push(c);
    return c.deliverMessage(m);
  };
  let profile: ProfileBody;
  const userId = uid('fb');
  let n = 0;
  const outbound = (
    channel: OutboundMessage['channel'],
    template: string,
    topic?: string,
  ): OutboundMessage => ({
    id: `${userId}-m${n++}`,
    workspaceId: 'default',
    profileId: profile.id,
    channel,
    template,
    category: 'promotional',
    ...(topic ? { topic } : {}),
    journey: { key: 'winback', version: 1, runId: 'r1', node: 'mail' },
    event: null,
    context: {},
    createdAt: Date.now(),
  });

  before(async () => {
    server = await startApp();
    smtp = await startSmtpPeer();
    assert.equal(
      (
        await postTracking(server.url, '/v1/identify', {
          userId,
          traits: { email: `${userId}@example.com`, first_name: 'Ana' },
        })
      ).status,
      200,
    );
    profile = (await findProfile(server.url, 'userId', userId))!;
  });
  after(async () => {
    for (const c of opened) await c.close();
    await smtp?.close();
    await server?.close();
  });

  test('channel settings are checked field by field and secrets never come back', async () => {
    const bad = await admin<{ errors: { path: string }[] }>(server.url, 'PUT', '/api/channels/email', {
      port: 'x',
    });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.errors.map((e) => e.path).sort(), ['from', 'host', 'port', 'publicUrl']);
    assert.equal((await admin(server.url, 'PUT', '/api/channels/fax', {})).status, 400);
    const twoSenders = await admin<{ errors: { path: string; message: string }[] }>(
      server.url,
      'PUT',
      '/api/channels/email',
      { host: '127.0.0.1', port: 25, from: 'a@shop.example, b@shop.example', publicUrl: server.url },
    );
    assert.equal(twoSenders.status, 400);
    assert.deepEqual(twoSenders.body.errors, [
      { path: 'from', message: 'must be one mailbox, e.g. "Shop <news@shop.example>"' },
    ]);
    const put = await admin<{ settings: Record<string, unknown> }>(server.url, 'PUT', '/api/channels/email', {
      host: '127.0.0.1',
      port: smtp.port,
      ignoreTLS: true,
      user: 'mailer',
      password: 'hunter2',
      from: 'Shop <news@shop.example>',
      publicUrl: server.url,
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.settings.password, '********');
    const got = await admin<{ settings: Record<string, unknown> }>(server.url, 'GET', '/api/channels/email');
    assert.equal(got.body.settings.password, '********');
    assert.doesNotMatch(JSON.stringify(await admin(server.url, 'GET', '/api/channels')), /hunter2/);
    // Sent back masked, the secret is kept.
    assert.equal(
      (await admin(server.url, 'PUT', '/api/channels/email', { ...got.body.settings })).status,
      200,
    );
    const stored = await new ChannelSettingsStore(server.app.store).get(server.app.workspace, 'email');
    assert.equal(stored?.password, 'hunter2');
  });

  test('an e-mail’s open pixel, click redirect and one-click unsubscribe come back as events and consent', async () => {
    await admin(server.url, 'PUT', '/api/channels/email', {
      host: '127.0.0.1',
      port: smtp.port,
      ignoreTLS: true,
      from: 'Shop <news@shop.example>',
      publicUrl: server.url,
    });
    const put = await admin(server.url, 'PUT', '/api/templates/winback', {
      channel: 'email',
      topic: 'newsletter',
      required: ['profile.traits.first_name'],
      locales: {
        en: {
          subject: 'We miss you, {{ profile.traits.first_name }}',
          html: '<p><a href="https://shop.example/sale?x=1&amp;y=2">Sale</a> <a href="{{ message.unsubscribe_url }}">unsubscribe</a></p>',
        },
      },
    });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    const before = smtp.mails.length;
    const r = await deliver(outbound('email', 'winback', 'newsletter'));
    assert.equal(r.kind, 'delivered', JSON.stringify(r));
    assert.equal(smtp.mails.length, before + 1);
    const mail = smtp.mails.at(-1)!;
    const unsubscribe = /^<(.+)>$/.exec(mail.headers().get('list-unsubscribe') ?? '')![1]!;
    const body = decodeQuotedPrintable(mail.raw);
    const click = /href="([^"]+\/t\/c\/[^"]+)"/.exec(body)![1]!;
    const pixel = /<img src="([^"]+\/t\/o\/[^"]+)"/.exec(body)![1]!;
    assert.ok(
      body.includes(`href="${unsubscribe}"`),
      'the body’s unsubscribe link is the signed one, not rewritten',
    );

    const open = await fetch(pixel);
    assert.equal(open.status, 200);
    assert.equal(open.headers.get('content-type'), 'image/gif');
    const clicked = await fetch(click, { redirect: 'manual' });
    assert.equal(clicked.status, 302);
    assert.equal(clicked.headers.get('location'), 'https://shop.example/sale?x=1&y=2');

    // Tampered tokens: another URL in the same token, a token of the wrong kind, garbage.
    const [head, mac] = click.split('/t/c/')[1]!.split('.');
    const forged = Buffer.from(
      JSON.stringify({
        ...JSON.parse(Buffer.from(head!, 'base64url').toString()),
        u: 'https://evil.example',
      }),
    ).toString('base64url');
    for (const url of [
      `${server.url}/t/c/${forged}.${mac}`,
      `${server.url}/t/c/${pixel.split('/t/o/')[1]}`,
      `${server.url}/t/c/not-a-token`,
    ]) {
      const res = await fetch(url, { redirect: 'manual' });
      assert.equal(res.status, 400, url);
      assert.equal(res.headers.get('location'), null);
    }

    // A GET only asks; the one-click POST unsubscribes.
    const page = await fetch(unsubscribe);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<form method="post">/);
    assert.equal((await findProfile(server.url, 'userId', userId))!.traits.consent, undefined);
    const one = await fetch(unsubscribe, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    assert.equal(one.status, 200);
    const after = (await findProfile(server.url, 'userId', userId))!;
    assert.deepEqual(after.traits.consent, { email: { topics: { newsletter: false } } });
    const events = await eventually(
      'feedback events',
      () => timeline(server.url, profile.id),
      (evs) => evs.some((e) => e.event === 'Unsubscribed'),
    );
    const byName = (name: string) =>
      events.find((e) => e.event === name) as { properties: Record<string, unknown> } | undefined;
    assert.equal(byName('Email Opened')?.properties.template, 'winback');
    assert.equal(byName('Email Link Clicked')?.properties.url, 'https://shop.example/sale?x=1&y=2');
    assert.deepEqual(
      {
        channel: byName('Unsubscribed')?.properties.channel,
        topic: byName('Unsubscribed')?.properties.topic,
      },
      { channel: 'email', topic: 'newsletter' },
    );
    assert.equal(byName('Unsubscribed')?.properties.journey, 'winback');
  });

  test('a hard bounce receipt suppresses e-mail; a bad receipt is refused by index', async () => {
    const before = smtp.mails.length;
    assert.equal((await deliver(outbound('email', 'winback'))).kind, 'delivered');
    const token = smtp.mails.at(-1)!.headers().get('x-concierge-feedback')!;
    assert.equal(smtp.mails.length, before + 1);
    const bad = await admin(server.url, 'POST', '/t/receipts', {
      receipts: [
        { token, type: 'bounced' },
        { token: 'x.y', type: 'bounced' },
      ],
    });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /receipts\[1\]\.token/);
    const ok = await admin(server.url, 'POST', '/t/receipts', {
      receipts: [{ token, type: 'bounced', bounceType: 'hard', reason: '550 5.1.1 user unknown' }],
    });
    assert.deepEqual(ok.body, { received: 1, recorded: 1 });
    const p = (await findProfile(server.url, 'userId', userId))!;
    assert.deepEqual(p.traits.consent, {
      email: { topics: { newsletter: false }, suppressed: true, reason: 'hard_bounce' },
    });
    assert.equal((await fetch(`${server.url}/t/receipts`, { method: 'POST' })).status, 401);
  });

  test('an inbound SMS must carry Twilio’s signature; STOP suppresses SMS for the sender', async () => {
    await admin(server.url, 'PUT', '/api/channels/sms', {
      accountSid: 'AC1',
      authToken: 'twilio-token',
      from: '+15550001111',
      publicUrl: server.url,
    });
    const params = {
      AccountSid: 'AC1',
      From: '+15557654321',
      To: '+15550001111',
      Body: 'stop',
      MessageSid: `SM${userId}`,
    };
    const post = (signature: string) =>
      fetch(`${server.url}/t/sms/inbound`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
        body: new URLSearchParams(params).toString(),
      });
    assert.equal((await post('bogus')).status, 403);
    const res = await post(twilioSignature('twilio-token', `${server.url}/t/sms/inbound`, params));
    assert.equal(res.status, 200);
    assert.match(await res.text(), /<Response><\/Response>/);
    const p = (await findProfile(server.url, 'anonymousId', 'sms:+15557654321'))!;
    assert.deepEqual(p.traits.consent, { sms: { suppressed: true, reason: 'STOP' } });
    const evs = await timeline(server.url, p.id);
    assert.deepEqual(
      evs
        .map((e) => e.event)
        .filter(Boolean)
        .sort(),
      ['SMS Received', 'Unsubscribed'],
    );
  });

  test('an in-app message lands in the inbox the client reads with a write key, and can be marked read', async () => {
    await admin(server.url, 'PUT', '/api/templates/inapp-offer', {
      channel: 'inapp',
      locales: {
        en: {
          title: 'Hi {{ profile.traits.first_name }}',
          body: '10% off today',
          url: 'https://shop.example/sale',
        },
      },
    });
    const m = outbound('inapp', 'inapp-offer');
    assert.equal((await deliver(m)).kind, 'delivered');
    assert.equal((await deliver(m)).kind, 'delivered', 'a retry is stored once');
    const inbox = (q: string) =>
      fetch(`${server.url}/v1/inbox?${q}`, { headers: { authorization: basicAuth(WRITE_KEY) } }).then(
        async (r) => ({
          status: r.status,
          body: (await r.json()) as {
            messages: { id: string; title: string; read: boolean }[];
            unread: number;
          },
        }),
      );
    const first = await inbox(`userId=${userId}`);
    assert.equal(first.status, 200);
    assert.deepEqual(
      first.body.messages.map((x) => [x.id, x.title, x.read]),
      [[m.id, 'Hi Ana', false]],
    );
    assert.equal(first.body.unread, 1);
    const read = await postTracking(server.url, '/v1/inbox/read', { userId, messageIds: [m.id] });
    assert.equal(read.status, 200);
    assert.equal((await inbox(`userId=${userId}`)).body.unread, 0);
    assert.equal((await inbox('')).status, 400);
    assert.equal((await fetch(`${server.url}/v1/inbox?userId=${userId}`)).status, 401);
    assert.deepEqual((await inbox('userId=nobody')).body, { messages: [], unread: 0 });
  });
});
