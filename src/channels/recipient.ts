import type { JsonObject } from '../core/event.ts';
import type { Channel } from './outbound.ts';
import type { Recipient, WebPushSubscription } from './sender.ts';

/** Profile traits each channel reads its address from. */
export const ADDRESS_TRAITS = {
  email: 'email',
  sms: 'phone',
  /** An array of FCM registration tokens (a single string is accepted too). */
  push: 'push_tokens',
  /** An array of browser push subscriptions `{endpoint, keys:{p256dh, auth}}` (or one). */
  webpush: 'webpush_subscriptions',
} as const;

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);

function subscriptions(v: unknown): WebPushSubscription[] {
  return list(v).filter(
    (s): s is WebPushSubscription =>
      isObject(s) &&
      typeof s.endpoint === 'string' &&
      isObject(s.keys) &&
      typeof s.keys.p256dh === 'string' &&
      typeof s.keys.auth === 'string',
  );
}

/**
 * Where a message for this channel goes, from the profile; null with the reason when the profile
 * has no address for it (the message is then skipped, not failed).
 */
export function resolveRecipient(
  channel: Channel,
  profile: { traits: JsonObject; userIds?: readonly string[]; anonymousIds?: readonly string[] },
): { to: Recipient } | { missing: string } {
  const t = profile.traits;
  switch (channel) {
    case 'email':
      return typeof t.email === 'string' && t.email !== ''
        ? { to: { email: t.email } }
        : { missing: 'no email trait' };
    case 'sms':
      return typeof t.phone === 'string' && t.phone !== ''
        ? { to: { phone: t.phone } }
        : { missing: 'no phone trait' };
    case 'push': {
      const tokens = list(t.push_tokens).filter((x): x is string => typeof x === 'string' && x !== '');
      return tokens.length > 0 ? { to: { pushTokens: tokens } } : { missing: 'no push_tokens trait' };
    }
    case 'webpush': {
      const subs = subscriptions(t.webpush_subscriptions);
      return subs.length > 0 ? { to: { webPush: subs } } : { missing: 'no webpush_subscriptions trait' };
    }
    case 'webhook':
      return { to: {} };
    case 'inapp': {
      const userId = profile.userIds?.[0] ?? null;
      const anonymousId = profile.anonymousIds?.[0] ?? null;
      return userId === null && anonymousId === null
        ? { missing: 'the profile has no user or anonymous id' }
        : { to: { userId, anonymousId } };
    }
  }
}
