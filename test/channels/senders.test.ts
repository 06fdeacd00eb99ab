/**
 * One contract for every channel sender, each run against a real peer on loopback speaking the
 * provider's protocol: the message arrives once in the provider's shape with the provider's id
 * coming back; temporary failures (5xx, 429, a reset connection, silence past the timeout) are
 * retryable; permanent ones (a 4xx, a bad address) are not.
 */
import assert from 'node:assert/strict';
import { createECDH, createHmac, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import webpush from 'web-push';
import type { ChannelSettingsMap } from '../../src/channels/channel-settings.ts';
import { parseSettings } from '../../src/channels/channel-settings.ts';
import { EmailSender } from '../../src/channels/email-sender.ts';
import { FcmSender } from '../../src/channels/fcm-sender.ts';
import { FeedbackTokens } from '../../src/channels/feedback-tokens.ts';
import type { Channel } from '../../src/channels/outbound.ts';
import type { Recipient, RenderedMessage, Sender, SendResult } from '../../src/channels/sender.ts';
import { SmsSender } from '../../src/channels/sms-sender.ts';
import { DeadLetters, SIGNATURE_HEADER, WebhookSender } from '../../src/channels/webhook-sender.ts';
import { WebPushSender } from '../../src/channels/webpush-sender.ts';
import type { RenderedContent } from '../../src/templates/content.ts';
import { settingsOnlyStore } from './memory-settings.ts';
import {
  decodeQuotedPrintable,
  type HttpPeer,
  type PeerAnswer,
  type SmtpPeer,
  startHttpPeer,
  startSmtpPeer,
} from './peers.ts';

const require = createRequire(import.meta.url);
const ece = require('http_ece') as {
  decrypt(body: Buffer, o: { version: string; privateKey: unknown; authSecret: string }): Buffer;
};

let seq = 0;
function rendered(channel: Channel, to: Recipient, content: RenderedContent): RenderedMessage {
  return {
    id: `msg-${process.pid}-${seq++}`,
    workspaceId: 'default',
    profileId: 'p1',
    channel,
    template: 'order-shipped',
    category: 'transactional',
    topic: 'orders',
    locale: 'en',
    to,
    content,
  };
}

/** What each channel brings to the shared contract. */
interface Harness {
  readonly channel: Channel;
  readonly sender: Sender;
  readonly settings: object;
  readonly message: () => RenderedMessage;
  /** Requests (or mails) the peer has received. */
  received(): number;
  /** Checks the last arrival is the message in the provider's shape. */
  checkArrival(m: RenderedMessage, providerId: string): void;
  /** Makes the next attempt fail temporarily / permanently. */
  failTemporarily(): void;
  failPermanently(): void;
  /** HTTP peers: the next answer, whatever it is. */
  failWith?(answer: PeerAnswer): void;
  close(): Promise<void>;
}

const store = settingsOnlyStore();
const tokens = new FeedbackTokens(store);

async function emailHarness(): Promise<Harness> {
  const peer: SmtpPeer = await startSmtpPeer();
  const sender = new EmailSender(tokens);
  const settings = parseSettings(
    'email',
    {
      host: '127.0.0.1',
      port: peer.port,
      ignoreTLS: true,
      from: 'Shop <news@shop.example>',
      publicUrl: 'https://t.shop.example',
    },
    null,
  );
  return {
    channel: 'email',
    sender,
    settings,
    message: () =>
      rendered(
        'email',
        { email: 'ana@example.com' },
        {
          channel: 'email',
          subject: 'Your order',
          html: '<p>Hi <a href="https://shop.example/o/1">order</a></p>',
          text: 'Hi',
        },
      ),
    received: () => peer.mails.length,
    checkArrival(m) {
      const mail = peer.mails.at(-1)!;
      assert.deepEqual(mail.to, ['ana@example.com']);
      const h = mail.headers();
      assert.equal(h.get('subject'), 'Your order');
      assert.match(h.get('list-unsubscribe') ?? '', /^<https:\/\/t\.shop\.example\/t\/u\/[\w-]+\.[\w-]+>$/);
      assert.equal(h.get('list-unsubscribe-post'), 'List-Unsubscribe=One-Click');
      assert.equal(h.get('x-concierge-message'), m.id);
      assert.match(h.get('message-id') ?? '', /^<[0-9a-f]{40}@shop\.example>$/);
      const body = decodeQuotedPrintable(mail.raw);
      assert.match(
        body,
        /href="https:\/\/t\.shop\.example\/t\/c\/[\w-]+\.[\w-]+"/,
        'links go through the click redirect',
      );
      assert.match(
        body,
        /<img src="https:\/\/t\.shop\.example\/t\/o\/[\w-]+\.[\w-]+"/,
        'an open pixel is added',
      );
      assert.doesNotMatch(body, /href="https:\/\/shop\.example\/o\/1"/);
    },
    failTemporarily: () => {
      peer.rcptReply = { code: 451, message: 'try again later' };
    },
    failPermanently: () => {
      peer.rcptReply = { code: 550, message: 'no such user' };
    },
    async close() {
      await sender.close();
      await peer.close();
    },
  };
}

/** An HTTP peer whose next answer can be set; `ok` is its normal answer. */
async function httpHarnessPeer(ok: () => { status: number; body: string }): Promise<HttpPeer> {
  return startHttpPeer(() => ({ kind: 'reply', ...ok() }));
}

async function smsHarness(): Promise<Harness> {
  let n = 0;
  const peer = await httpHarnessPeer(() => ({
    status: 201,
    body: JSON.stringify({ sid: `SM${(n++).toString().padStart(32, '0')}`, status: 'queued' }),
  }));
  const settings = parseSettings(
    'sms',
    {
      accountSid: 'AC123',
      authToken: 'tok',
      from: '+15550001111',
      baseUrl: peer.url,
      publicUrl: 'https://t.shop.example',
      timeoutMs: 500,
    },
    null,
  );
  return {
    channel: 'sms',
    sender: new SmsSender(tokens),
    settings,
    message: () =>
      rendered('sms', { phone: '+1 555 000 2222' }, { channel: 'sms', text: 'Your order shipped' }),
    received: () => peer.received.length,
    checkArrival(_m, providerId) {
      const x = peer.received.at(-1)!;
      assert.equal(x.method, 'POST');
      assert.equal(x.url, '/2010-04-01/Accounts/AC123/Messages.json');
      assert.equal(x.headers.authorization, `Basic ${Buffer.from('AC123:tok').toString('base64')}`);
      assert.equal(x.headers['content-type'], 'application/x-www-form-urlencoded');
      const form = new URLSearchParams(x.body.toString());
      assert.equal(form.get('To'), '+15550002222');
      assert.equal(form.get('From'), '+15550001111');
      assert.equal(form.get('Body'), 'Your order shipped');
      assert.match(form.get('StatusCallback') ?? '', /^https:\/\/t\.shop\.example\/t\/sms\/status\?t=/);
      assert.match(providerId, /^SM\d{32}$/);
    },
    failTemporarily: () => peer.queue.push({ kind: 'reply', status: 503, body: '{"message":"busy"}' }),
    failPermanently: () =>
      peer.queue.push({ kind: 'reply', status: 400, body: '{"code":21211,"message":"invalid To number"}' }),
    failWith: (a) => peer.queue.push(a),
    close: () => peer.close(),
  };
}

async function fcmHarness(): Promise<Harness> {
  let n = 0;
  const peer = await httpHarnessPeer(() => ({
    status: 200,
    body: JSON.stringify({ name: `projects/shop-app/messages/${n++}` }),
  }));
  const settings = parseSettings(
    'push',
    { projectId: 'shop-app', accessToken: 'ya29.token', baseUrl: peer.url, timeoutMs: 500 },
    null,
  );
  return {
    channel: 'push',
    sender: new FcmSender(),
    settings,
    message: () =>
      rendered(
        'push',
        { pushTokens: ['device-token-1'] },
        { channel: 'push', title: 'Shipped', body: 'On its way', url: 'https://shop.example/o/1' },
      ),
    received: () => peer.received.length,
    checkArrival(m, providerId) {
      const x = peer.received.at(-1)!;
      assert.equal(x.url, '/v1/projects/shop-app/messages:send');
      assert.equal(x.headers.authorization, 'Bearer ya29.token');
      const body = JSON.parse(x.body.toString()) as { message: Record<string, unknown> };
      assert.deepEqual(body.message, {
        token: 'device-token-1',
        notification: { title: 'Shipped', body: 'On its way' },
        data: { message_id: m.id, url: 'https://shop.example/o/1' },
      });
      assert.match(providerId, /^projects\/shop-app\/messages\/\d+$/);
    },
    failTemporarily: () =>
      peer.queue.push({ kind: 'reply', status: 429, body: '{"error":{"status":"RESOURCE_EXHAUSTED"}}' }),
    failPermanently: () =>
      peer.queue.push({
        kind: 'reply',
        status: 404,
        body: '{"error":{"status":"NOT_FOUND","message":"UNREGISTERED"}}',
      }),
    failWith: (a) => peer.queue.push(a),
    close: () => peer.close(),
  };
}

async function webPushHarness(): Promise<Harness> {
  const peer = await httpHarnessPeer(() => ({ status: 201, body: '' }));
  const vapid = webpush.generateVAPIDKeys();
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = randomBytes(16).toString('base64url');
  const settings = parseSettings(
    'webpush',
    {
      vapidPublicKey: vapid.publicKey,
      vapidPrivateKey: vapid.privateKey,
      subject: 'mailto:ops@shop.example',
      timeoutMs: 500,
      allow: ['127.0.0.1/32'],
    },
    null,
  );
  const sub = { endpoint: `${peer.url}/push/sub-1`, keys: { p256dh: ecdh.getPublicKey('base64url'), auth } };
  return {
    channel: 'webpush',
    sender: new WebPushSender(),
    settings,
    message: () =>
      rendered(
        'webpush',
        { webPush: [sub] },
        { channel: 'webpush', title: 'Back in stock', body: 'Your size is back' },
      ),
    received: () => peer.received.length,
    checkArrival(m) {
      const x = peer.received.at(-1)!;
      assert.equal(x.url, '/push/sub-1');
      assert.equal(x.headers['content-encoding'], 'aes128gcm');
      assert.ok(Number(x.headers.ttl) > 0);
      assert.match(String(x.headers.topic), /^[\w-]{32}$/);
      const m2 = /^vapid t=([\w-]+\.[\w-]+\.[\w-]+), k=([\w-]+)$/.exec(String(x.headers.authorization));
      assert.ok(m2, `VAPID Authorization header: ${x.headers.authorization}`);
      assert.equal(m2[2], vapid.publicKey);
      const claims = JSON.parse(Buffer.from(m2[1]!.split('.')[1]!, 'base64url').toString()) as Record<
        string,
        unknown
      >;
      assert.equal(claims.aud, peer.url);
      assert.equal(claims.sub, 'mailto:ops@shop.example');
      const plain = JSON.parse(
        ece.decrypt(x.body, { version: 'aes128gcm', privateKey: ecdh, authSecret: auth }).toString(),
      );
      assert.deepEqual(plain, { title: 'Back in stock', body: 'Your size is back', messageId: m.id });
    },
    failTemporarily: () => peer.queue.push({ kind: 'reply', status: 503, body: 'overloaded' }),
    failPermanently: () => peer.queue.push({ kind: 'reply', status: 410, body: 'subscription gone' }),
    failWith: (a) => peer.queue.push(a),
    close: () => peer.close(),
  };
}

async function webhookHarness(): Promise<Harness> {
  const peer = await httpHarnessPeer(() => ({ status: 200, body: '{}' }));
  const settings = parseSettings(
    'webhook',
    {
      url: `${peer.url}/hooks/concierge`,
      secret: 's3cret',
      timeoutMs: 500,
      maxAttempts: 1,
      allow: ['127.0.0.0/8'],
    },
    null,
  );
  return {
    channel: 'webhook',
    sender: new WebhookSender({ deadLetters: new DeadLetters(store), now: Date.now }),
    settings,
    message: () =>
      rendered('webhook', {}, { channel: 'webhook', body: { event: 'order_shipped', order: { id: 'o-1' } } }),
    received: () => peer.received.length,
    checkArrival(m) {
      const x = peer.received.at(-1)!;
      assert.equal(x.url, '/hooks/concierge');
      assert.equal(x.headers['idempotency-key'], m.id);
      const sig = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(x.headers[SIGNATURE_HEADER]));
      assert.ok(sig, 'signature header');
      const expected = createHmac('sha256', 's3cret').update(`${sig[1]}.${x.body.toString()}`).digest('hex');
      assert.equal(sig[2], expected);
      assert.deepEqual(JSON.parse(x.body.toString()), { event: 'order_shipped', order: { id: 'o-1' } });
    },
    failTemporarily: () => peer.queue.push({ kind: 'reply', status: 502, body: 'bad gateway' }),
    failPermanently: () => peer.queue.push({ kind: 'reply', status: 422, body: 'unprocessable' }),
    failWith: (a) => peer.queue.push(a),
    close: () => peer.close(),
  };
}

const HARNESSES: [string, () => Promise<Harness>][] = [
  ['e-mail over SMTP', emailHarness],
  ['SMS in Twilio shape', smsHarness],
  ['mobile push in FCM v1 shape', fcmHarness],
  ['web push with VAPID', webPushHarness],
  ['webhook', webhookHarness],
];

for (const [name, start] of HARNESSES) {
  describe(`${name} sender`, () => {
    let h: Harness;
    before(async () => {
      h = await start();
    });
    after(async () => h?.close());
    const send = (m: RenderedMessage): Promise<SendResult> =>
      h.sender.send(m, m.id, h.settings as ChannelSettingsMap[Channel]);

    test('delivers the message once, in the provider’s shape, with the provider’s id', async () => {
      const before = h.received();
      const m = h.message();
      const r = await send(m);
      assert.equal(r.kind, 'delivered', JSON.stringify(r));
      assert.equal(h.received(), before + 1);
      h.checkArrival(m, (r as { providerId: string }).providerId);
    });

    test('a temporary provider failure is not final', async () => {
      h.failTemporarily();
      const r = await send(h.message());
      if (h.channel === 'webhook') {
        // Retries happen inside the webhook sender; after the last one it is dead-lettered.
        assert.equal(r.kind, 'permanent');
        assert.match((r as { reason: string }).reason, /dead-lettered: HTTP 502/);
      } else assert.equal(r.kind, 'retryable', JSON.stringify(r));
    });

    test('a permanent provider failure is final, with the provider’s reason', async () => {
      h.failPermanently();
      const r = await send(h.message());
      assert.equal(r.kind, 'permanent', JSON.stringify(r));
      assert.ok((r as { reason: string }).reason.length > 0);
    });
  });
}

describe('HTTP senders and misbehaving peers', () => {
  for (const [name, start] of HARNESSES.slice(1)) {
    test(`${name}: a reset connection, a silent peer and a 5xx are retryable; a 4xx is final`, async () => {
      const h = await start();
      try {
        const send = (m: RenderedMessage) =>
          h.sender.send(m, m.id, h.settings as ChannelSettingsMap[Channel]);
        for (const [answer, expected] of [
          [{ kind: 'reset' }, /ECONNRESET|socket hang up/],
          [{ kind: 'hang' }, /no answer within 500 ms/],
          [{ kind: 'reply', status: 500, body: 'oops' }, /500/],
          [{ kind: 'reply', status: 401, body: '{"message":"bad credentials"}' }, /401/],
        ] as const) {
          h.failWith!(answer);
          const r = await send(h.message());
          const final = 'status' in answer && answer.status < 500;
          if (final) assert.equal(r.kind, 'permanent', JSON.stringify(r));
          else if (h.channel === 'webhook') assert.match(JSON.stringify(r), /dead-lettered/);
          else assert.equal(r.kind, 'retryable', JSON.stringify(r));
          assert.match((r as { reason: string }).reason, expected);
        }
        // And the peer still works afterwards.
        assert.equal((await send(h.message())).kind, 'delivered');
      } finally {
        await h.close();
      }
    });
  }

  test('SMS: a 2xx answer without a message sid is reported, never retried into a duplicate', async () => {
    const h = await smsHarness();
    try {
      h.failWith!({ kind: 'reply', status: 201, body: '<html>not json</html>' });
      const m = h.message();
      const r = await h.sender.send(m, m.id, h.settings as ChannelSettingsMap['sms']);
      assert.equal(r.kind, 'permanent');
      assert.match((r as { reason: string }).reason, /malformed body; the SMS may have been sent/);
    } finally {
      await h.close();
    }
  });
});
