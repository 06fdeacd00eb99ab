import { createHash } from 'node:crypto';
import webpush from 'web-push';
import { AddressRefused, AllowList, resolveTarget } from './address-rules.ts';
import type { WebPushSettings } from './channel-settings.ts';
import { httpRequest, retryAfterMs, TransportError } from './outbound-http.ts';
import {
  classifyStatus,
  delivered,
  permanent,
  type RenderedMessage,
  retryable,
  type Sender,
  type SendResult,
  type WebPushSubscription,
} from './sender.ts';

/**
 * Web push with VAPID: `web-push` signs the VAPID JWT and encrypts the payload (aes128gcm); the
 * request itself goes through the outbound address rules, since push endpoints come from browsers.
 * The `Topic` header is derived from the idempotency key, so a push service replaces rather than
 * repeats an undelivered retry.
 */
export class WebPushSender implements Sender<'webpush'> {
  readonly channel = 'webpush' as const;

  constructor(private readonly now: () => number = Date.now) {}

  async send(
    rendered: RenderedMessage,
    idempotencyKey: string,
    settings: WebPushSettings,
  ): Promise<SendResult> {
    const subs = rendered.to.webPush ?? [];
    if (subs.length === 0) return permanent('no web push subscription on the profile');
    if (rendered.content.channel !== 'webpush') return permanent('content is not a web push message');
    const { title, body, url } = rendered.content;
    const payload = JSON.stringify({ title, body, ...(url ? { url } : {}), messageId: rendered.id });
    const topic = createHash('sha256').update(idempotencyKey).digest('base64url').slice(0, 32);
    const allow = new AllowList(settings.allow);
    const results = await Promise.all(subs.map((s) => this.one(s, payload, topic, settings, allow)));
    const ok = results.filter((r) => r.kind === 'delivered');
    if (ok.length > 0) return delivered(ok.map((r) => (r as { providerId: string }).providerId).join(' '));
    return results.find((r) => r.kind === 'retryable') ?? results[0]!;
  }

  private async one(
    sub: WebPushSubscription,
    payload: string,
    topic: string,
    settings: WebPushSettings,
    allow: AllowList,
  ): Promise<SendResult> {
    let details: ReturnType<typeof webpush.generateRequestDetails>;
    try {
      details = webpush.generateRequestDetails(sub, payload, {
        vapidDetails: {
          subject: settings.subject,
          publicKey: settings.vapidPublicKey,
          privateKey: settings.vapidPrivateKey,
        },
        TTL: settings.ttlSeconds,
        topic,
        contentEncoding: 'aes128gcm',
      });
    } catch (e) {
      return permanent(`cannot build the push request: ${(e as Error).message}`);
    }
    let target: Awaited<ReturnType<typeof resolveTarget>>;
    try {
      target = await resolveTarget(details.endpoint, allow);
    } catch (e) {
      if (e instanceof AddressRefused) return permanent(`address refused: ${e.message}`);
      throw e;
    }
    // web-push sets Content-Length, Content-Encoding, TTL, Topic, Urgency and the VAPID Authorization.
    const headers: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(details.headers)) headers[k.toLowerCase()] = v as string | number;
    try {
      const answer = await httpRequest(target.url, {
        method: details.method,
        headers,
        ...(details.body ? { body: details.body } : {}),
        timeoutMs: settings.timeoutMs,
        pinned: target,
      });
      const verdict = classifyStatus(answer.status);
      if (verdict === 'ok') {
        const loc = answer.headers.location;
        return delivered(typeof loc === 'string' ? loc : `push-${answer.status}`);
      }
      const why = `push service ${answer.status}: ${answer.body.slice(0, 200)}`;
      if (answer.status === 404 || answer.status === 410) return permanent(`subscription expired (${why})`);
      if (verdict === 'retry') return retryable(why, retryAfterMs(answer.headers, this.now()) ?? undefined);
      return permanent(why);
    } catch (e) {
      if (e instanceof TransportError) return retryable(e.message);
      throw e;
    }
  }
}
